package lake_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/marketrail/marketrail/pkg/lake"
)

type idInner struct {
	A *string `parquet:"a,optional" iceberg:"3"`
	B *bool   `parquet:"b,optional" iceberg:"4"`
}

type idElem struct {
	K string `parquet:"k" iceberg:"7"`
}

type idRow struct {
	ID       string     `parquet:"id" iceberg:"1"`
	At       time.Time  `parquet:"at,timestamp(millisecond)" iceberg:"2"`
	Inner    *idInner   `parquet:"inner,optional" iceberg:"5"`
	Items    []idElem   `parquet:"items,optional,list" iceberg:"6,element=8"`
	Bytes    []byte     `parquet:"bytes,optional" iceberg:"9"`
	Skipped  int        `parquet:"-"`
	internal int        //nolint:unused // not a column
	Names    []string   `parquet:"names,list" iceberg:"10,element=11"`
	When     *time.Time `parquet:"when,optional" iceberg:"12"`
}

func TestFieldIDs(t *testing.T) {
	got, err := lake.FieldIDs(reflect.TypeOf(idRow{}))
	if err != nil {
		t.Fatal(err)
	}
	want := []lake.FieldID{{"id", 1}, {"at", 2}, {"inner", 5}, {"inner.a", 3}, {"inner.b", 4}, {"items", 6}, {"items.element", 8},
		{"items.element.k", 7}, {"bytes", 9}, {"names", 10}, {"names.element", 11}, {"when", 12}}
	if !slices.Equal(got, want) {
		t.Errorf("FieldIDs:\n %v\nwant\n %v", got, want)
	}
}

func TestFieldIDsRefused(t *testing.T) {
	type missing struct {
		A string `parquet:"a" iceberg:"1"`
		B string `parquet:"b"`
	}
	type dup struct {
		A string   `parquet:"a" iceberg:"1"`
		B *idInner `parquet:"b,optional" iceberg:"3"` // inner.a is 3 too
	}
	type noElement struct {
		L []idElem `parquet:"l,list" iceberg:"1"`
	}
	type elementOnScalar struct {
		A string `parquet:"a" iceberg:"1,element=2"`
	}
	type zero struct {
		A string `parquet:"a" iceberg:"0"`
	}
	tests := []struct {
		row  any
		want string
	}{
		{missing{}, "column b has no iceberg field id"},
		{dup{}, "iceberg field id 3 of b.a is b's already"},
		{noElement{}, "list column l: iceberg tag \"1\" gives no element id"},
		{elementOnScalar{}, "only a list has an element id"},
		{zero{}, "iceberg field id 0 of a is not positive"},
		{42, "is not a struct"},
	}
	for _, tt := range tests {
		_, err := lake.FieldIDs(reflect.TypeOf(tt.row))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("FieldIDs(%T) = %v, want an error saying %q", tt.row, err, tt.want)
		}
	}
}
