package marketplace_test

import (
	"flag"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/marketrail/marketrail/pkg/lake"
	"github.com/marketrail/marketrail/pkg/marketplace"
)

var updateFieldIDs = flag.Bool("update-field-ids", false, "add the new columns' Iceberg field ids to testdata/iceberg-field-ids.txt")

const fieldIDsFile = "testdata/iceberg-field-ids.txt"

// TestFieldIDsForever: every column of the tables, nested columns and list elements
// included, has an Iceberg field id; the ids of testdata/iceberg-field-ids.txt never change
// (an Iceberg table knows its columns by them), and a new column takes an id above every id
// given before. A new column fails the test until -update-field-ids records it.
func TestFieldIDsForever(t *testing.T) {
	golden := map[string]int{} // "table path" → id
	maxID := map[string]int{}
	b, err := os.ReadFile(fieldIDsFile)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		id, err := strconv.Atoi(f[len(f)-1])
		if len(f) != 3 || err != nil {
			t.Fatalf("%s:%d: want TABLE PATH ID, got %q", fieldIDsFile, i+1, line)
		}
		golden[f[0]+" "+f[1]] = id
		maxID[f[0]] = max(maxID[f[0]], id)
	}
	var lines, added []string
	for _, tb := range marketplace.Tables() {
		ids, err := lake.FieldIDs(reflect.TypeOf(tb.Row))
		if err != nil {
			t.Fatalf("table %s: %v", tb.Name, err)
		}
		have := map[string]bool{}
		for _, f := range ids {
			have[f.Path] = true
			key := tb.Name + " " + f.Path
			lines = append(lines, fmt.Sprintf("%s %d", key, f.ID))
			old, known := golden[key]
			switch {
			case known && old != f.ID:
				t.Errorf("table %s: column %s has field id %d, but it was given %d: an id names its column forever", tb.Name, f.Path, f.ID, old)
			case !known && len(golden) > 0 && f.ID <= maxID[tb.Name]:
				t.Errorf("table %s: new column %s has field id %d, not above %d, the highest given before", tb.Name, f.Path, f.ID, maxID[tb.Name])
			case !known:
				added = append(added, key)
			}
		}
		for key := range golden {
			if table, path, _ := strings.Cut(key, " "); table == tb.Name && !have[path] {
				t.Errorf("table %s: column %s (field id %d) is gone: a column's id is never given to another, so keep its line", tb.Name, path, golden[key])
			}
		}
		// The ids name exactly the columns of the Parquet schema.
		cols := parquetColumns(parquet.SchemaOf(tb.Row), "")
		for _, path := range cols {
			if !have[path] {
				t.Errorf("table %s: Parquet column %s has no Iceberg field id", tb.Name, path)
			}
		}
		if len(cols) != len(ids) {
			t.Errorf("table %s: %d Parquet columns, %d field ids", tb.Name, len(cols), len(ids))
		}
	}
	if len(added) == 0 || t.Failed() {
		return
	}
	if !*updateFieldIDs {
		t.Fatalf("new columns without a recorded Iceberg field id: %s; run go test ./pkg/marketplace -run TestFieldIDsForever -update-field-ids", strings.Join(added, ", "))
	}
	out := "# Iceberg field ids of the tables' columns: TABLE PATH ID. Never change or remove a line;\n# a new column takes an id above all of its table's. See lake.FieldIDs.\n" + strings.Join(lines, "\n") + "\n"
	if err := os.WriteFile(fieldIDsFile, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
}

// parquetColumns returns the paths of every column of a Parquet schema, groups included, as
// lake.FieldID names them (a list's element as "element").
func parquetColumns(n parquet.Node, prefix string) []string {
	var out []string
	for _, f := range n.Fields() {
		path := prefix + f.Name()
		out = append(out, path)
		node := parquet.Node(f)
		if lt := node.Type().LogicalType(); lt != nil && isList(lt.Value) {
			path += ".element"
			out = append(out, path)
			node = node.Fields()[0].Fields()[0] // the repeated group "list", then "element"
		}
		if !node.Leaf() {
			out = append(out, parquetColumns(node, path+".")...)
		}
	}
	return slices.Compact(out)
}

// isList reports whether a Parquet logical type is LIST.
func isList(v any) bool {
	_, ok := v.(*format.ListType)
	return ok
}
