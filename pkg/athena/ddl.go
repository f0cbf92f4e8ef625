// Package athena writes the Athena DDL of marketrail's tables. The columns and their types
// are derived from the Parquet schema the lake writes (itself derived from the Go row types
// in package marketplace), so the DDL cannot drift from the files.
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

// Column is one column of a table as Athena sees it.
type Column struct {
	Name string // lowercase snake_case
	Type string // Athena (Hive DDL) type, e.g. string, timestamp, array<struct<arn:string>>
	Doc  string // the row type's `doc` tag
}

// Columns returns the columns of the table whose rows are Go values of type T, in order:
// names and types from T's Parquet schema, descriptions from T's `doc` tags.
func Columns(row any) ([]Column, error) {
	schema := parquet.SchemaOf(row)
	docs := docTags(reflect.TypeOf(row))
	var cols []Column
	for _, f := range schema.Fields() {
		t, err := hiveType(f)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", f.Name(), err)
		}
		cols = append(cols, Column{Name: f.Name(), Type: t, Doc: docs[f.Name()]})
	}
	return cols, nil
}

// docTags maps each parquet column name of a struct type to its `doc` tag.
func docTags(t reflect.Type) map[string]string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	docs := map[string]string{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("parquet"), ",")
		if name != "" && name != "-" {
			docs[name] = f.Tag.Get("doc")
		}
	}
	return docs
}

// hiveType maps a Parquet node onto the Hive DDL type Athena reads it as. It refuses the
// types marketrail's policy keeps out of its files (see CheckPolicy).
func hiveType(n parquet.Node) (string, error) {
	lt := n.Type().LogicalType()
	if !n.Leaf() {
		if lt != nil {
			if _, ok := lt.Value.(*format.ListType); ok {
				// LIST: a repeated group "list" holding one field "element".
				inner := n.Fields()[0]
				if !inner.Leaf() && len(inner.Fields()) == 1 {
					inner = inner.Fields()[0]
				}
				et, err := hiveType(inner)
				if err != nil {
					return "", err
				}
				return "array<" + et + ">", nil
			}
		}
		fields := n.Fields()
		if len(fields) == 0 {
			return "", fmt.Errorf("empty struct (Athena rejects struct<>)")
		}
		parts := make([]string, len(fields))
		for i, f := range fields {
			t, err := hiveType(f)
			if err != nil {
				return "", fmt.Errorf("%s: %w", f.Name(), err)
			}
			parts[i] = f.Name() + ":" + t
		}
		t := "struct<" + strings.Join(parts, ",") + ">"
		if n.Repeated() {
			return "", fmt.Errorf("repeated group without the LIST logical type")
		}
		return t, nil
	}
	if n.Repeated() {
		return "", fmt.Errorf("repeated leaf without the LIST logical type")
	}
	var base string
	switch n.Type().Kind() {
	case parquet.Boolean:
		base = "boolean"
	case parquet.Int32:
		base = "int"
	case parquet.Int64:
		base = "bigint"
	case parquet.Float:
		base = "float"
	case parquet.Double:
		base = "double"
	case parquet.ByteArray:
		base = "binary"
	default:
		return "", fmt.Errorf("unsupported physical type %s", n.Type().Kind())
	}
	if lt == nil || lt.Value == nil {
		return base, nil
	}
	switch v := lt.Value.(type) {
	case *format.StringType:
		return "string", nil
	case *format.TimestampType:
		if n.Type().Kind() != parquet.Int64 || !v.IsAdjustedToUTC || v.Unit.Value == nil || v.Unit.Value.Duration() != time.Millisecond {
			return "", fmt.Errorf("timestamp must be INT64 MILLIS UTC-adjusted, is %s", lt)
		}
		return "timestamp", nil
	case *format.IntType:
		if !v.IsSigned {
			return "", fmt.Errorf("unsigned integers are not allowed")
		}
		switch v.BitWidth {
		case 8:
			return "tinyint", nil
		case 16:
			return "smallint", nil
		case 32:
			return "int", nil
		}
		return "bigint", nil
	case *format.DateType:
		return "date", nil
	}
	return "", fmt.Errorf("logical type %s is not allowed", lt)
}

// CreateTable returns the CREATE EXTERNAL TABLE statement for table t of a lake at location
// (s3://BUCKET/PREFIX): Parquet, partitioned by event_date (a string, yyyy-MM-dd) with
// partition projection, so no crawler or MSCK REPAIR is ever needed.
func CreateTable(database, location string, t marketplace.Table) (string, error) {
	cols, err := Columns(t.Row)
	if err != nil {
		return "", err
	}
	loc := strings.TrimSuffix(location, "/") + "/" + t.Name + "/"
	var b strings.Builder
	name := "`" + t.Name + "`"
	if database != "" {
		name = "`" + database + "`." + name
	}
	fmt.Fprintf(&b, "CREATE EXTERNAL TABLE IF NOT EXISTS %s (\n", name)
	for i, c := range cols {
		sep := ","
		if i == len(cols)-1 {
			sep = ""
		}
		fmt.Fprintf(&b, "  `%s` %s COMMENT '%s'%s\n", c.Name, c.Type, quote(c.Doc), sep)
	}
	b.WriteString(")\n")
	if t.Comment != "" {
		fmt.Fprintf(&b, "COMMENT '%s'\n", quote(t.Comment))
	}
	fmt.Fprintf(&b, `PARTITIONED BY (event_date string)
STORED AS PARQUET
LOCATION '%s'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.event_date.type' = 'date',
  'projection.event_date.format' = 'yyyy-MM-dd',
  'projection.event_date.range' = '2013-11-01,NOW',
  'projection.event_date.interval' = '1',
  'projection.event_date.interval.unit' = 'DAYS',
  'storage.location.template' = '%sevent_date=${event_date}/',
  'parquet.compression' = 'ZSTD'
);
`, quote(loc), quote(loc))
	return b.String(), nil
}

// quote escapes s for a single-quoted string literal of Athena DDL, which Hive's grammar
// parses: a backslash escapes the next character (a doubled quote is not an escape there).
func quote(s string) string {
	return strings.NewReplacer(`\`, `\\`, "'", `\'`).Replace(s)
}

// DDL returns the statements that create every table of a lake at location in database
// ("" for Athena's current database), one per table.
func DDL(database, location string) ([]string, error) {
	var out []string
	for _, t := range marketplace.Tables() {
		s, err := CreateTable(database, location, t)
		if err != nil {
			return nil, fmt.Errorf("table %s: %w", t.Name, err)
		}
		out = append(out, s)
	}
	return out, nil
}
