package iceberg

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	ice "github.com/apache/iceberg-go"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/marketrail/marketrail/pkg/lake"
)

// PartitionField is the name of every table's partition field: day(event_time).
const PartitionField = "event_time_day"

// Schema returns the Iceberg schema of a table of rows of Go type row, derived from the
// same definitions as the Hive files' Parquet schema: the columns of lake.IcebergSchema
// (field ids from the `iceberg` struct tags, timestamps in microseconds), with optional
// columns optional and the others required.
func Schema(row reflect.Type) (*ice.Schema, *parquet.Schema, error) {
	ps, err := lake.IcebergSchema(reflect.New(row).Elem().Interface())
	if err != nil {
		return nil, nil, err
	}
	fields, err := structFields(ps, ps.Name())
	if err != nil {
		return nil, nil, err
	}
	// The columns' descriptions (their `doc` tags), which Glue and Athena show.
	docs := map[string]string{}
	for i := range row.NumField() {
		sf := row.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("parquet"), ",")
		docs[name] = sf.Tag.Get("doc")
	}
	for i := range fields {
		fields[i].Doc = docs[fields[i].Name]
	}
	return ice.NewSchema(0, fields...), ps, nil
}

// structFields converts the fields of group n (at path, for messages).
func structFields(n parquet.Node, path string) ([]ice.NestedField, error) {
	var out []ice.NestedField
	for _, f := range n.Fields() {
		nf, err := field(f, path+"."+f.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, nf)
	}
	// A Parquet group lists its fields by name; the ids were given in the Go definitions'
	// order, depth first, the order the catalog numbers a new table's fields in (see
	// docs/design/iceberg.md): in that order the catalog keeps them.
	slices.SortFunc(out, func(a, b ice.NestedField) int { return a.ID - b.ID })
	return out, nil
}

// field converts one Parquet column (a Field of IcebergSchema's, which carries its id).
func field(f parquet.Field, path string) (ice.NestedField, error) {
	typ, err := fieldType(f, path)
	if err != nil {
		return ice.NestedField{}, err
	}
	return ice.NestedField{ID: f.ID(), Name: f.Name(), Type: typ, Required: f.Required()}, nil
}

func fieldType(n parquet.Node, path string) (ice.Type, error) {
	var logical format.LogicalTypeValue
	if lt := n.Type().LogicalType(); lt != nil {
		logical = lt.Value
	}
	switch lt := logical.(type) {
	case *format.ListType:
		elem := n.Fields()[0].Fields()[0] // the repeated group "list", then "element"
		et, err := fieldType(elem, path+".element")
		if err != nil {
			return nil, err
		}
		return &ice.ListType{ElementID: elem.ID(), Element: et, ElementRequired: elem.Required()}, nil
	case *format.TimestampType:
		if _, us := lt.Unit.Value.(*format.MicroSeconds); !us {
			return nil, fmt.Errorf("column %s: an Iceberg timestamp is in microseconds", path)
		}
		if lt.IsAdjustedToUTC {
			return ice.PrimitiveTypes.TimestampTz, nil
		}
		return ice.PrimitiveTypes.Timestamp, nil
	case *format.StringType:
		return ice.PrimitiveTypes.String, nil
	case *format.DateType:
		return ice.PrimitiveTypes.Date, nil
	case *format.IntType:
		if !lt.IsSigned {
			return nil, fmt.Errorf("column %s: Iceberg has no unsigned integers", path)
		}
		if lt.BitWidth == 64 {
			return ice.PrimitiveTypes.Int64, nil
		}
		return ice.PrimitiveTypes.Int32, nil
	}
	if !n.Leaf() {
		fs, err := structFields(n, path)
		if err != nil {
			return nil, err
		}
		return &ice.StructType{FieldList: fs}, nil
	}
	if logical != nil {
		return nil, fmt.Errorf("column %s: no Iceberg type for Parquet %s", path, n.Type())
	}
	switch n.Type().Kind() {
	case parquet.Boolean:
		return ice.PrimitiveTypes.Bool, nil
	case parquet.Int32:
		return ice.PrimitiveTypes.Int32, nil
	case parquet.Int64:
		return ice.PrimitiveTypes.Int64, nil
	case parquet.Float:
		return ice.PrimitiveTypes.Float32, nil
	case parquet.Double:
		return ice.PrimitiveTypes.Float64, nil
	case parquet.ByteArray:
		return ice.PrimitiveTypes.Binary, nil
	}
	return nil, fmt.Errorf("column %s: no Iceberg type for Parquet %s", path, n.Type())
}
