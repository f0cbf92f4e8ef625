package athena

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/marketrail/marketrail/pkg/marketplace"
)

// Reference returns the column reference of every table as Markdown: one table per Athena
// table, one line per column and per nested field, with its Athena type and where it comes
// from. docs/athena.md embeds it; a test keeps the two equal.
func Reference() (string, error) {
	var b strings.Builder
	for _, t := range marketplace.Tables() {
		fmt.Fprintf(&b, "### `%s`\n\n%s. Partitioned by `event_date` (string, `yyyy-MM-dd`): the UTC date of `event_time`.\n\n", t.Name, t.Comment)
		b.WriteString("| column | type | from CloudTrail, meaning |\n|---|---|---|\n")
		schema := parquet.SchemaOf(t.Row)
		rt := reflect.TypeOf(t.Row)
		for _, f := range schema.Fields() {
			if err := reference(&b, f, field(rt, f.Name()), "", ""); err != nil {
				return "", fmt.Errorf("%s: %w", t.Name, err)
			}
		}
		b.WriteString("\n")
	}
	return b.String(), nil
}

// reference writes the line of node n (Go field sf) and, for a struct or a list of structs,
// the lines of its fields. prefix is the column path so far; path the JSON path so far.
func reference(b *strings.Builder, n parquet.Field, sf reflect.StructField, prefix, path string) error {
	name := prefix + n.Name()
	ht, err := hiveType(n)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	doc := sf.Tag.Get("doc")
	if path != "" {
		// A nested field's doc tag starts with its JSON key.
		doc = path + "." + doc
	}
	display := ht
	if strings.HasPrefix(ht, "struct<") {
		display = "struct"
	} else if strings.HasPrefix(ht, "array<struct<") {
		display = "array<struct>"
	}
	fmt.Fprintf(b, "| `%s` | %s | %s |\n", name, display, strings.ReplaceAll(doc, "|", `\|`))

	// Descend into structs and lists of structs.
	gt := sf.Type
	child, sep := n, "."
	for gt.Kind() == reflect.Pointer {
		gt = gt.Elem()
	}
	if gt.Kind() == reflect.Slice {
		gt = gt.Elem()
		if lt := n.Type().LogicalType(); lt != nil {
			if _, ok := lt.Value.(*format.ListType); ok {
				child = n.Fields()[0].Fields()[0] // list.element
			}
		}
		sep = "[]."
	}
	if gt.Kind() != reflect.Struct || gt == reflect.TypeOf(time.Time{}) || child.Leaf() {
		return nil
	}
	jsonPath := jsonKey(sf)
	if path != "" {
		jsonPath = path + "." + jsonPath
	}
	if sep == "[]." {
		jsonPath += "[]"
	}
	for _, f := range child.Fields() {
		if err := reference(b, f, field(gt, f.Name()), name+sep, jsonPath); err != nil {
			return err
		}
	}
	return nil
}

// field finds the struct field of t whose parquet tag names column.
func field(t reflect.Type, column string) reflect.StructField {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if n, _, _ := strings.Cut(f.Tag.Get("parquet"), ","); n == column {
			return f
		}
	}
	return reflect.StructField{}
}

// jsonKey is the CloudTrail key of a struct-valued field: the first word of its doc tag for
// nested fields, else the leading word before ':' of a top-level doc ("userIdentity: …").
func jsonKey(sf reflect.StructField) string {
	doc := sf.Tag.Get("doc")
	key, _, _ := strings.Cut(doc, ":")
	key, _, _ = strings.Cut(key, ",")
	key, _, _ = strings.Cut(key, " ")
	return key
}
