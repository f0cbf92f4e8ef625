package lake_test

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/marketrail/marketrail/internal/duckcheck"
	"github.com/marketrail/marketrail/pkg/lake"
	"github.com/marketrail/marketrail/pkg/marketplace"
)

func ptr[T any](v T) *T { return &v }

// TestIcebergSchema: the data files of an Iceberg table carry each column's field id (the
// Go definitions', lake.FieldIDs) and timestamps in microseconds; DuckDB, which knows nothing
// of marketrail, reads the ids and the rows back as written.
func TestIcebergSchema(t *testing.T) {
	at := time.Date(2026, 12, 5, 23, 59, 58, 123_000_000, time.UTC)
	events := []marketplace.Event{
		{EventID: ptr("e1"), EventTime: at, EventSource: "metering-marketplace.amazonaws.com", EventName: "BatchMeterUsage", SourceKey: "k1",
			UserIdentity: &marketplace.UserIdentity{Type: ptr("AssumedRole"), ARN: ptr("arn:aws:sts::111122223333:assumed-role/r/s"),
				SessionContext: &marketplace.SessionContext{Attributes: &marketplace.SessionAttributes{CreationDate: ptr(at.Add(-time.Hour)), MFAAuthenticated: ptr(true)}}},
			Resources: []marketplace.Resource{{ARN: ptr("arn:1"), Type: ptr("T")}, {ARN: ptr("arn:2")}}},
		{EventID: ptr("e2"), EventTime: at.Add(time.Millisecond), EventSource: "aws-marketplace.amazonaws.com", EventName: "StartChangeSet", SourceKey: "k2", Resources: []marketplace.Resource{}},
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "events.parquet")
	schema, err := lake.IcebergSchema(marketplace.Event{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewGenericWriter[marketplace.Event](f, schema)
	if _, err := w.Write(events); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()

	db := duckcheck.Open(t)
	// Every column's field id, as DuckDB reads the file's schema.
	var got []string
	for _, r := range duckcheck.Strings(t, db, `SELECT name, field_id FROM parquet_schema(?) WHERE field_id IS NOT NULL`, file) {
		got = append(got, r[0]+"="+r[1])
	}
	ids, err := lake.FieldIDs(reflect.TypeOf(marketplace.Event{}))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, f := range ids {
		want = append(want, fmt.Sprintf("%s=%d", f.Path[strings.LastIndex(f.Path, ".")+1:], f.ID)) // the column's own name
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("field ids in the file:\n %v\nwant\n %v", got, want)
	}
	// Timestamps in microseconds.
	for _, r := range duckcheck.Strings(t, db, `SELECT name, logical_type FROM parquet_schema(?) WHERE name IN ('event_time', 'creation_date')`, file) {
		if !strings.Contains(r[1], "MICROS=MicroSeconds()") {
			t.Errorf("%s's logical type is %s, want a timestamp in microseconds", r[0], r[1])
		}
	}
	rows := duckcheck.Strings(t, db, `SELECT event_id, epoch_us(event_time), user_identity.arn, epoch_us(user_identity.session_context.attributes.creation_date),
		len(resources), resources[1].arn FROM read_parquet(?) ORDER BY event_id`, file)
	wantRows := [][]string{
		{"e1", fmt.Sprint(at.UnixMicro()), "arn:aws:sts::111122223333:assumed-role/r/s", fmt.Sprint(at.Add(-time.Hour).UnixMicro()), "2", "arn:1"},
		{"e2", fmt.Sprint(at.Add(time.Millisecond).UnixMicro()), "NULL", "NULL", "0", "NULL"},
	}
	if fmt.Sprint(rows) != fmt.Sprint(wantRows) {
		t.Errorf("rows read back:\n %v\nwant\n %v", rows, wantRows)
	}
	// The metering table's schema builds too.
	if _, err := lake.IcebergSchema(marketplace.MeteringRecord{}); err != nil {
		t.Error(err)
	}
}
