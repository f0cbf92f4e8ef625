package lake

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// FieldID is the Iceberg field id of one column of a table's row type, nested columns and
// list elements included. The ids are part of the row types' definitions (the `iceberg`
// struct tag: "N", or "N,element=M" for a list, whose element gets M), so that the Parquet
// schema, the Iceberg schema and the docs come from the same Go definitions, and an id,
// once given, names the same column in every version.
type FieldID struct {
	Path string // the column's Parquet names from the row, '.'-separated; a list's element adds "element"
	ID   int
}

// FieldIDs returns the Iceberg field ids of row type t (a struct), in the order of its
// columns, depth first: each column, then (for a list) its element, then its nested
// columns. Every column the Parquet schema has (a `parquet` tag other than "-") must have
// one, and no two may share one.
func FieldIDs(t reflect.Type) ([]FieldID, error) {
	var out []FieldID
	seen := map[int]string{}
	add := func(path string, id int) error {
		if other, dup := seen[id]; dup {
			return fmt.Errorf("iceberg field id %d of %s is %s's already", id, path, other)
		}
		if id <= 0 {
			return fmt.Errorf("iceberg field id %d of %s is not positive", id, path)
		}
		seen[id] = path
		out = append(out, FieldID{path, id})
		return nil
	}
	var walk func(t reflect.Type, prefix string) error
	walk = func(t reflect.Type, prefix string) error {
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("parquet"), ",")
			if name == "-" || !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			path := prefix + name
			tag, ok := f.Tag.Lookup("iceberg")
			if !ok {
				return fmt.Errorf("column %s has no iceberg field id (struct tag iceberg)", path)
			}
			idText, rest, _ := strings.Cut(tag, ",")
			id, err := strconv.Atoi(idText)
			if err != nil {
				return fmt.Errorf("column %s: iceberg field id %q: %w", path, tag, err)
			}
			if err := add(path, id); err != nil {
				return err
			}
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Slice && ft.Elem().Kind() != reflect.Uint8 {
				elemText, ok := strings.CutPrefix(rest, "element=")
				elem, err := strconv.Atoi(elemText)
				if !ok || err != nil {
					return fmt.Errorf("list column %s: iceberg tag %q gives no element id (want \"N,element=M\")", path, tag)
				}
				if err := add(path+".element", elem); err != nil {
					return err
				}
				ft = ft.Elem()
				for ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				path += ".element"
			} else if rest != "" {
				return fmt.Errorf("column %s: iceberg tag %q: only a list has an element id", path, tag)
			}
			if ft.Kind() == reflect.Struct && ft.PkgPath() != "time" {
				if err := walk(ft, path+"."); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("row type %s is not a struct", t)
	}
	if err := walk(t, ""); err != nil {
		return nil, fmt.Errorf("row type %s: %w", t, err)
	}
	return out, nil
}
