package iceberg_test

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	ice "github.com/apache/iceberg-go"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/marketrail/marketrail/internal/icebergread"
	"github.com/marketrail/marketrail/internal/s3test"
	"github.com/marketrail/marketrail/pkg/iceberg"
	"github.com/marketrail/marketrail/pkg/lake"
	"github.com/marketrail/marketrail/pkg/marketplace"
	"github.com/marketrail/marketrail/pkg/storage"
	"github.com/marketrail/marketrail/pkg/trail"
)

// TestSchemaFromGoDefinitions: the Iceberg schema has exactly the field ids of the Go
// definitions' `iceberg` tags, at the same paths, in depth-first order (the order a catalog
// numbers a new table's fields in, so that it keeps them), with µs timestamps.
func TestSchemaFromGoDefinitions(t *testing.T) {
	for _, tb := range marketplace.Tables() {
		t.Run(tb.Name, func(t *testing.T) {
			s, _, err := iceberg.Schema(reflect.TypeOf(tb.Row))
			if err != nil {
				t.Fatal(err)
			}
			want, err := lake.FieldIDs(reflect.TypeOf(tb.Row))
			if err != nil {
				t.Fatal(err)
			}
			var got []lake.FieldID
			var walk func(prefix string, fs []icebergField)
			walk = func(prefix string, fs []icebergField) {
				for _, f := range fs {
					got = append(got, lake.FieldID{Path: prefix + f.name, ID: f.id})
					walk(prefix+f.name+".", f.children)
				}
			}
			walk("", fields(s.AsStruct().FieldList))
			ids := func(fs []lake.FieldID) []int {
				out := []int{}
				for _, f := range fs {
					out = append(out, f.ID)
				}
				return out
			}
			if !slices.IsSorted(ids(got)) {
				t.Errorf("the schema's ids are not in depth-first order: %v", ids(got))
			}
			slices.SortFunc(got, func(a, b lake.FieldID) int { return a.ID - b.ID })
			slices.SortFunc(want, func(a, b lake.FieldID) int { return a.ID - b.ID })
			if !slices.Equal(got, want) {
				t.Errorf("schema ids\n got %v\nwant %v", got, want)
			}
			et, ok := s.FindFieldByName("event_time")
			if !ok || et.Type.String() != "timestamptz" || !et.Required {
				t.Errorf("event_time is %+v, want a required timestamptz", et)
			}
		})
	}
}

// TestPublishAndExpire publishes delivery days through a lake.Writer with the Iceberg
// format, in a local folder and on the S3 server: each publication of a day replaces its
// files (read back with internal/icebergread, not iceberg-go), and Expire then removes the
// old snapshots, the files only they referenced and an orphan file, and nothing live.
func TestPublishAndExpire(t *testing.T) {
	for _, kind := range []string{"local", "s3"} {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			var dest storage.Storage
			var root string
			var read icebergread.ReadFunc
			var exists func(uri string) bool
			switch kind {
			case "local":
				dir := t.TempDir()
				l, err := storage.OpenLocal(dir, false)
				if err != nil {
					t.Fatal(err)
				}
				dest, root, read = l, "file://"+dir, icebergread.LocalRead
				exists = func(uri string) bool {
					_, err := os.Stat(strings.TrimPrefix(uri, "file://"))
					return err == nil
				}
			case "s3":
				c, _ := s3test.Client(t)
				bucket := s3test.Bucket(t, c)
				dest, root = storage.NewS3(c, bucket, "lake"), "s3://"+bucket+"/lake"
				key := func(uri string) *string { return aws.String(strings.TrimPrefix(uri, "s3://"+bucket+"/")) }
				read = func(ctx context.Context, uri string) ([]byte, error) {
					return storage.ReadAll(ctx, dest, strings.TrimPrefix(uri, root+"/"))
				}
				exists = func(uri string) bool {
					_, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: key(uri)})
					return err == nil
				}
			}
			db := filepath.Join(t.TempDir(), "catalog.db")
			f, err := iceberg.New(iceberg.Config{CatalogSpec: "sqlite:" + db, Dest: dest, Root: root})
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := f.Prepare(ctx); err != nil {
				t.Fatal(err)
			}
			w := &lake.Writer{Dest: dest, Version: "test", Format: f}
			day := trail.DayOf(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
			publish := func(n int) {
				t.Helper()
				rows := events(n, day)
				tbl := lake.NewTable(marketplace.TableEvents, rows, func(e *marketplace.Event) trail.Day { return trail.DayOf(e.EventTime) },
					func(a, b *marketplace.Event) int { return cmp.Compare(*a.EventID, *b.EventID) }, "event_time")
				if _, err := w.PublishDay(ctx, day, &lake.Sources{Inputs: []lake.Input{{Key: fmt.Sprint(n)}}}, true, tbl); err != nil {
					t.Fatal(err)
				}
			}
			state := func() *icebergread.Table {
				t.Helper()
				loc, err := icebergread.SQLiteMetadataLocation(db, iceberg.DefaultNamespace, marketplace.TableEvents)
				if err != nil {
					t.Fatal(err)
				}
				st, err := icebergread.Load(ctx, read, loc)
				if err != nil {
					t.Fatal(err)
				}
				return st
			}
			var replaced []string
			for n := 1; n <= 12; n++ {
				publish(n)
				st := state()
				var total int64
				for _, df := range st.Files {
					total += df.Records
				}
				if total != int64(n) || len(st.Snapshots) != n {
					t.Fatalf("publication %d: %d rows in %d snapshots, want %d in %d", n, total, len(st.Snapshots), n, n)
				}
				for _, df := range st.Files {
					if !slices.Contains(replaced, df.Path) {
						replaced = append(replaced, df.Path)
					}
				}
			}
			live := state().Files
			// An orphan: a data file a killed publication uploaded and never committed.
			orphanKey := "events/data/event_date=2026-12-01/2026-12-01.00000000deadbeef.parquet"
			if err := dest.Put(ctx, orphanKey, strings.NewReader("PAR1"), 4); err != nil {
				t.Fatal(err)
			}
			time.Sleep(10 * time.Millisecond)
			res, err := f.Expire(ctx, time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			st := state()
			if len(st.Snapshots) != iceberg.MinRetainSnapshots {
				t.Errorf("%d snapshots after expiry, want the last %d", len(st.Snapshots), iceberg.MinRetainSnapshots)
			}
			if !slices.EqualFunc(st.Files, live, func(a, b icebergread.DataFile) bool { return a.Path == b.Path }) {
				t.Errorf("expiry changed the live files")
			}
			for _, df := range st.Files {
				if !exists(df.Path) {
					t.Errorf("live file %s was deleted", df.Path)
				}
			}
			// The first publications' files are referenced by no snapshot left.
			for _, p := range replaced[:2] {
				if exists(p) {
					t.Errorf("%s, referenced by expired snapshots only, is still there", p)
				}
			}
			if exists(root + "/" + orphanKey) {
				t.Errorf("the orphan %s is still there", orphanKey)
			}
			var ev iceberg.ExpireResult
			for _, r := range res {
				if r.Table == marketplace.TableEvents {
					ev = r
				}
			}
			if ev.SnapshotsBefore != 12 || ev.SnapshotsExpired != 2 || ev.OrphansDeleted < 1 {
				t.Errorf("expire says %+v, want 12 snapshots before, 2 expired, the orphan deleted", ev)
			}
		})
	}
}

// events returns n events of day d, one per minute from 10:00.
func events(n int, d trail.Day) []marketplace.Event {
	var out []marketplace.Event
	for i := range n {
		out = append(out, marketplace.Event{
			EventID:     aws.String(fmt.Sprintf("ev-%03d", i)),
			EventTime:   d.Time().Add(10*time.Hour + time.Duration(i)*time.Minute),
			EventSource: "aws-marketplace.amazonaws.com",
			EventName:   "MeterUsage",
		})
	}
	return out
}

func fields(fs []ice.NestedField) []icebergField {
	var out []icebergField
	for _, f := range fs {
		out = append(out, icebergField{f.Name, f.ID, children(f.Type)})
	}
	return out
}

func children(t ice.Type) []icebergField {
	switch t := t.(type) {
	case *ice.StructType:
		return fields(t.FieldList)
	case *ice.ListType:
		return []icebergField{{"element", t.ElementID, children(t.Element)}}
	}
	return nil
}

type icebergField struct {
	name     string
	id       int
	children []icebergField
}

// Rows of a table as one marketrail version has it (v1), and as a later one (v2) with a
// top-level column and a nested one added, their ids above v1's highest.
type v1Row struct {
	EventTime time.Time `parquet:"event_time,timestamp(millisecond)" iceberg:"1"`
	A         string    `parquet:"a" iceberg:"2"`
	S         v1Sub     `parquet:"s" iceberg:"3"`
}
type v1Sub struct {
	X string `parquet:"x" iceberg:"4"`
}
type v2Row struct {
	EventTime time.Time `parquet:"event_time,timestamp(millisecond)" iceberg:"1"`
	A         string    `parquet:"a" iceberg:"2"`
	S         v2Sub     `parquet:"s" iceberg:"3"`
	B         *string   `parquet:"b,optional" iceberg:"6" doc:"added in v2"`
}
type v2Sub struct {
	X string  `parquet:"x" iceberg:"4"`
	Y *string `parquet:"y,optional" iceberg:"5"`
}

// A later version whose new column reuses an id: refused, never guessed.
type badRow struct {
	EventTime time.Time `parquet:"event_time,timestamp(millisecond)" iceberg:"1"`
	A         string    `parquet:"a" iceberg:"2"`
	S         v1Sub     `parquet:"s" iceberg:"3"`
	C         *string   `parquet:"c,optional" iceberg:"5"`
}

// TestSchemaEvolution: a table written by one version gains the columns a later version
// adds, with the field ids of the Go definitions, without DDL; the later version's rows
// are published into it; a definition that disagrees with the table's ids is refused.
func TestSchemaEvolution(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	dest, err := storage.OpenLocal(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(t.TempDir(), "catalog.db")
	format := func(row any) *iceberg.Format {
		f, err := iceberg.New(iceberg.Config{CatalogSpec: "sqlite:" + db, Dest: dest, Root: "file://" + dir,
			Tables: []marketplace.Table{{Name: "t", Row: row, Comment: "test"}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	if err := format(v1Row{}).Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	f2 := format(v2Row{})
	if err := f2.Prepare(ctx); err != nil {
		t.Fatalf("v2 on v1's table: %v", err)
	}
	loc, err := icebergread.SQLiteMetadataLocation(db, iceberg.DefaultNamespace, "t")
	if err != nil {
		t.Fatal(err)
	}
	st, err := icebergread.Load(ctx, icebergread.LocalRead, loc)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, fld := range st.SchemaFields {
		got = append(got, fmt.Sprintf("%d %s %s", fld.ID, fld.Name, fld.Type))
	}
	want := []string{"1 event_time timestamptz", "2 a string", "3 s struct", "4 s.x string", "5 s.y string", "6 b string"}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("v2's table has columns\n%q\nwant\n%q", got, want)
	}
	// v2's rows go into it.
	w := &lake.Writer{Dest: dest, Version: "v2", Format: f2}
	day := trail.DayOf(time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC))
	y, b := "y", "b"
	rows := []v2Row{{EventTime: day.Time().Add(time.Hour), A: "a", S: v2Sub{X: "x", Y: &y}, B: &b}}
	tbl := lake.NewTable("t", rows, func(r *v2Row) trail.Day { return trail.DayOf(r.EventTime) }, func(a, b *v2Row) int { return 0 }, "event_time")
	if _, err := w.PublishDay(ctx, day, &lake.Sources{}, true, tbl); err != nil {
		t.Fatal(err)
	}
	if err := format(badRow{}).Prepare(ctx); err == nil || !strings.Contains(err.Error(), "field id 5 is y") {
		t.Errorf("a definition reusing field id 5: %v, want a refusal naming it", err)
	}
}
