package lake

import (
	"fmt"
	"reflect"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// IcebergSchema returns the Parquet schema of the data files of an Iceberg table of row
// type row: the Hive files' schema (parquet.SchemaOf(row), the same columns, encodings and
// repetition) with each column's Iceberg field id (FieldIDs) and its timestamps in
// microseconds. The Iceberg spec stores timestamps as microseconds, and iceberg-go infers a
// data file's day(event_time) partition and its bounds from the file's statistics as such:
// a file of millisecond timestamps would be filed under the wrong day.
func IcebergSchema(row any) (*parquet.Schema, error) {
	ids, err := FieldIDs(reflect.TypeOf(row))
	if err != nil {
		return nil, err
	}
	byPath := make(map[string]int, len(ids))
	for _, f := range ids {
		byPath[f.Path] = f.ID
	}
	hive := parquet.SchemaOf(row)
	root, err := icebergGroup(hive, "", byPath)
	if err != nil {
		return nil, fmt.Errorf("iceberg schema of %s: %w", hive.Name(), err)
	}
	return parquet.NewSchema(hive.Name(), root), nil
}

// icebergGroup rebuilds group n's fields for an Iceberg data file (see IcebergSchema);
// prefix is the group's path.
func icebergGroup(n parquet.Node, prefix string, ids map[string]int) (parquet.Group, error) {
	g := parquet.Group{}
	for _, f := range n.Fields() {
		node, err := icebergNode(f, prefix+f.Name(), ids)
		if err != nil {
			return nil, err
		}
		g[f.Name()] = node
	}
	return g, nil
}

// icebergNode rebuilds one column (n, at path) for an Iceberg data file.
func icebergNode(n parquet.Node, path string, ids map[string]int) (parquet.Node, error) {
	id, ok := ids[path]
	if !ok {
		return nil, fmt.Errorf("column %s has no Iceberg field id", path)
	}
	var out parquet.Node
	lt := n.Type().LogicalType()
	switch {
	case lt != nil && isList(lt):
		elemPath := path + ".element"
		elem := n.Fields()[0].Fields()[0] // the repeated group "list", then "element"
		e, err := icebergNode(elem, elemPath, ids)
		if err != nil {
			return nil, err
		}
		out = parquet.List(e)
	case !n.Leaf():
		g, err := icebergGroup(n, path+".", ids)
		if err != nil {
			return nil, err
		}
		out = g
	case lt != nil && lt.Value != nil && isTimestamp(lt):
		ts := lt.Value.(*format.TimestampType)
		out = parquet.TimestampAdjusted(parquet.Microsecond, ts.IsAdjustedToUTC)
	default:
		out = n // a leaf as the Hive files have it: type, encoding, compression
	}
	if n.Leaf() && out != n {
		if enc := n.Encoding(); enc != nil {
			out = parquet.Encoded(out, enc)
		}
	}
	switch {
	case out == n: // already optional, required or repeated as it should be
	case n.Optional():
		out = parquet.Optional(out)
	case n.Repeated():
		out = parquet.Repeated(out)
	default:
		out = parquet.Required(out)
	}
	return parquet.FieldID(out, id), nil
}

func isList(lt *format.LogicalType) bool {
	_, ok := lt.Value.(*format.ListType)
	return ok
}

func isTimestamp(lt *format.LogicalType) bool {
	_, ok := lt.Value.(*format.TimestampType)
	return ok
}
