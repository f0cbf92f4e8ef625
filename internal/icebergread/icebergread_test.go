package icebergread

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	sqlcat "github.com/apache/iceberg-go/catalog/sql"
	"github.com/apache/iceberg-go/table"
	"github.com/parquet-go/parquet-go"
	"github.com/twmb/avro"
	"github.com/twmb/avro/ocf"
)

// row is what the test writes to Parquet; the field ids are the Iceberg
// schema's (see testSchema).
type row struct {
	N         int64     `parquet:"n,id(1)"`
	EventTime time.Time `parquet:"event_time,timestamp(microsecond),id(2)"`
	User      user      `parquet:"user_identity,id(3)"`
	Resources []string  `parquet:"resources,list,id(6)" parquet-element:",id(7)"`
}

type user struct {
	Arn  string `parquet:"arn,id(4)"`
	Type string `parquet:"type,optional,id(5)"`
}

// The schema's ids are in the order iceberg-go's CreateTable assigns fresh
// ids (depth first), so the table keeps them.
func testSchema() *iceberg.Schema {
	return iceberg.NewSchema(0,
		iceberg.NestedField{ID: 1, Name: "n", Type: iceberg.PrimitiveTypes.Int64, Required: true},
		iceberg.NestedField{ID: 2, Name: "event_time", Type: iceberg.PrimitiveTypes.TimestampTz, Required: true},
		iceberg.NestedField{ID: 3, Name: "user_identity", Required: true, Type: &iceberg.StructType{FieldList: []iceberg.NestedField{
			{ID: 4, Name: "arn", Type: iceberg.PrimitiveTypes.String, Required: true},
			{ID: 5, Name: "type", Type: iceberg.PrimitiveTypes.String, Required: false},
		}}},
		iceberg.NestedField{ID: 6, Name: "resources", Required: true, Type: &iceberg.ListType{
			ElementID: 7, Element: iceberg.PrimitiveTypes.String, ElementRequired: true,
		}},
	)
}

var wantFields = []Field{
	{ID: 1, Name: "n", Type: "long", Required: true},
	{ID: 2, Name: "event_time", Type: "timestamptz", Required: true},
	{ID: 3, Name: "user_identity", Type: "struct", Required: true},
	{ID: 4, Name: "user_identity.arn", Type: "string", Required: true},
	{ID: 5, Name: "user_identity.type", Type: "string", Required: false},
	{ID: 6, Name: "resources", Type: "list", Required: true},
	{ID: 7, Name: "resources.element", Type: "string", Required: true},
}

// fixture is a table made with iceberg-go, and what the test knows it wrote.
type fixture struct {
	dir, dbPath string
	cat         catalog.Catalog
	ident       table.Identifier
	tbl         *table.Table
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	f := &fixture{dir: dir, dbPath: filepath.Join(dir, "catalog.db"), ident: table.Identifier{"mr", "events"}}
	cat, err := catalog.Load(ctx, "marketrail", iceberg.Properties{
		"type":            "sql",
		"uri":             "file:" + f.dbPath + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_txlock=immediate",
		sqlcat.DriverKey:  "sqlite",
		sqlcat.DialectKey: string(sqlcat.SQLite),
		"warehouse":       "file://" + dir,
	})
	if err != nil {
		t.Fatalf("load catalog: %v", err)
	}
	f.cat = cat
	if err := cat.CreateNamespace(ctx, table.Identifier{"mr"}, nil); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	schema := testSchema()
	spec, err := iceberg.NewPartitionSpecOpts(
		iceberg.AddPartitionFieldBySourceID(2, "event_time_day", iceberg.DayTransform{}, schema, nil))
	if err != nil {
		t.Fatalf("partition spec: %v", err)
	}
	f.tbl, err = cat.CreateTable(ctx, f.ident, schema, catalog.WithPartitionSpec(&spec))
	if err != nil {
		t.Fatalf("create table: %v", err)
	}
	return f
}

// writeParquet writes rows to dir/data/name and returns its file:// URI.
func (f *fixture) writeParquet(t *testing.T, name string, rows []row) string {
	t.Helper()
	p := filepath.Join(f.dir, "data", name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := parquet.WriteFile(p, rows); err != nil {
		t.Fatalf("write %s: %v", p, err)
	}
	return "file://" + p
}

// rowsOn makes rows at the given times of day on date (UTC).
func rowsOn(date time.Time, first int64, offsets ...time.Duration) []row {
	rows := make([]row, len(offsets))
	for i, off := range offsets {
		rows[i] = row{
			N:         first + int64(i),
			EventTime: date.Add(off),
			User:      user{Arn: "arn:aws:iam::123456789012:user/u"},
			Resources: []string{"r1", "r2"}[:i%3], // empty, one and two elements
		}
		if i%2 == 0 {
			rows[i].User.Type = "IAMUser" // else null
		}
	}
	return rows
}

func dayOrdinal(date time.Time) int32 { return int32(date.Unix() / 86400) }

func TestLoadAfterAddAndReplace(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)

	day1 := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	day2 := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)
	rowsA := rowsOn(day1, 0, time.Hour+time.Microsecond, 12*time.Hour+30*time.Minute, 24*time.Hour-time.Microsecond)
	rowsB := rowsOn(day2, 100, 5*time.Second, 7*time.Hour)
	rowsC := rowsOn(day1, 200, 2*time.Hour, 3*time.Hour, 4*time.Hour+17*time.Microsecond, 23*time.Hour)
	pathA := f.writeParquet(t, "a.parquet", rowsA)
	pathB := f.writeParquet(t, "b.parquet", rowsB)
	pathC := f.writeParquet(t, "c.parquet", rowsC)

	tx := f.tbl.NewTransaction()
	if err := tx.AddFiles(ctx, []string{pathA, pathB}, nil, false); err != nil {
		t.Fatalf("add files: %v", err)
	}
	tbl, err := tx.Commit(ctx)
	if err != nil {
		t.Fatalf("commit add: %v", err)
	}
	tx = tbl.NewTransaction()
	if err := tx.ReplaceDataFiles(ctx, []string{pathA}, []string{pathC},
		iceberg.Properties{"marketrail.delivery_day": "2026-12-01"}); err != nil {
		t.Fatalf("replace: %v", err)
	}
	if tbl, err = tx.Commit(ctx); err != nil {
		t.Fatalf("commit replace: %v", err)
	}

	loc, err := SQLiteMetadataLocation(f.dbPath, "mr", "events")
	if err != nil {
		t.Fatal(err)
	}
	if loc != tbl.MetadataLocation() {
		t.Fatalf("SQLiteMetadataLocation = %q, iceberg-go says %q", loc, tbl.MetadataLocation())
	}

	got, err := Load(ctx, LocalRead, loc)
	if err != nil {
		t.Fatal(err)
	}

	if got.FormatVersion != 2 {
		t.Errorf("format version %d, want 2", got.FormatVersion)
	}
	// iceberg-go's SQL catalog puts a table under <warehouse>/<namespace>.db/<table>.
	if want := "file://" + filepath.Join(f.dir, "mr.db", "events"); got.Location != want {
		t.Errorf("table location %q, want %q", got.Location, want)
	}
	if !reflect.DeepEqual(got.SchemaFields, wantFields) {
		t.Errorf("schema fields\n got %+v\nwant %+v", got.SchemaFields, wantFields)
	}
	if want := []PartitionField{{SourceID: 2, FieldID: 1000, Name: "event_time_day", Transform: "day"}}; !reflect.DeepEqual(got.PartitionFields, want) {
		t.Errorf("partition fields %+v, want %+v", got.PartitionFields, want)
	}

	// Snapshots: an append, then the replace, its child.
	if len(got.Snapshots) != 2 {
		t.Fatalf("%d snapshots, want 2: %+v", len(got.Snapshots), got.Snapshots)
	}
	first, cur := got.Snapshots[0], got.CurrentSnapshot
	if cur == nil || cur.ID != got.Snapshots[1].ID {
		t.Fatalf("current snapshot %+v, want the second", cur)
	}
	if first.ParentID != nil || first.Operation != "append" {
		t.Errorf("first snapshot parent %v operation %q, want none and append", first.ParentID, first.Operation)
	}
	if cur.ParentID == nil || *cur.ParentID != first.ID {
		t.Errorf("current snapshot's parent %v, want %d", cur.ParentID, first.ID)
	}
	if cur.Operation != "overwrite" {
		t.Errorf("current operation %q, want overwrite", cur.Operation)
	}
	if v := cur.Summary["marketrail.delivery_day"]; v != "2026-12-01" {
		t.Errorf("summary marketrail.delivery_day = %q; summary %v", v, cur.Summary)
	}
	if cur.SequenceNumber <= first.SequenceNumber || cur.TimestampMs < first.TimestampMs {
		t.Errorf("snapshot order: first seq %d ts %d, current seq %d ts %d",
			first.SequenceNumber, first.TimestampMs, cur.SequenceNumber, cur.TimestampMs)
	}
	if cs := tbl.CurrentSnapshot(); cs == nil || cs.SnapshotID != cur.ID {
		t.Errorf("current snapshot id %d differs from iceberg-go's %v", cur.ID, cs)
	}

	// Live files: B and C; A was replaced.
	want := map[string]struct {
		rows []row
		day  time.Time
	}{pathB: {rowsB, day2}, pathC: {rowsC, day1}}
	var paths []string
	for _, df := range got.Files {
		paths = append(paths, df.Path)
	}
	if wantPaths := []string{pathB, pathC}; !slices.Equal(paths, wantPaths) {
		t.Fatalf("live files %v, want %v", paths, wantPaths)
	}
	for _, df := range got.Files {
		w := want[df.Path]
		if df.Format != "PARQUET" {
			t.Errorf("%s: format %q", df.Path, df.Format)
		}
		if df.Records != int64(len(w.rows)) {
			t.Errorf("%s: %d records, want %d", df.Path, df.Records, len(w.rows))
		}
		st, err := os.Stat(strings.TrimPrefix(df.Path, "file://"))
		if err != nil {
			t.Fatal(err)
		}
		if df.SizeBytes != st.Size() {
			t.Errorf("%s: size %d, file has %d", df.Path, df.SizeBytes, st.Size())
		}
		if p := df.Partition["event_time_day"]; p != dayOrdinal(w.day) {
			t.Errorf("%s: partition event_time_day = %#v, want int32 %d; partition %v", df.Path, p, dayOrdinal(w.day), df.Partition)
		}
		lo, err := TimestampMicros(df.LowerBounds[2])
		if err != nil {
			t.Fatalf("%s: lower bound: %v", df.Path, err)
		}
		hi, err := TimestampMicros(df.UpperBounds[2])
		if err != nil {
			t.Fatalf("%s: upper bound: %v", df.Path, err)
		}
		if !lo.Equal(w.rows[0].EventTime) || !hi.Equal(w.rows[len(w.rows)-1].EventTime) {
			t.Errorf("%s: event_time bounds [%v, %v], want [%v, %v]", df.Path, lo, hi, w.rows[0].EventTime, w.rows[len(w.rows)-1].EventTime)
		}
		if n, ok := df.ValueCounts[1]; !ok || n != int64(len(w.rows)) {
			t.Errorf("%s: value count of n = %d (present %v), want %d", df.Path, n, ok, len(w.rows))
		}
		if n, ok := df.NullCounts[2]; !ok || n != 0 {
			t.Errorf("%s: null count of event_time = %d (present %v), want 0", df.Path, n, ok)
		}
	}
	if df := got.Files[slices.Index(paths, pathC)]; df.Status != 1 || df.SnapshotID == nil || *df.SnapshotID != cur.ID {
		t.Errorf("replacement file: status %d snapshot %v, want added (1) by %d", df.Status, df.SnapshotID, cur.ID)
	}

	// The replaced file must still be listed in the current snapshot's
	// manifests, as deleted (status 2): that is what makes the live-set
	// check above fail for a reader that ignores the status.
	statuses := manifestStatuses(t, cur.ManifestList)
	if !slices.Contains(statuses[pathA], 2) {
		t.Errorf("replaced file %s has entries %v in the current manifests, want a deleted (2) one: the status check is not exercised", pathA, statuses[pathA])
	}
	for p, s := range statuses {
		if p != pathA && slices.Contains(s, 2) {
			t.Errorf("%s deleted (%v), only %s should be", p, s, pathA)
		}
	}
}

// manifestStatuses returns, for each file path in the manifests of the
// manifest list at uri, the statuses of its entries.
func manifestStatuses(t *testing.T, uri string) map[string][]int64 {
	t.Helper()
	ctx := context.Background()
	list, _, err := readOCF(ctx, LocalRead, "manifest list", uri)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]int64{}
	for _, m := range list {
		entries, _, err := readOCF(ctx, LocalRead, "manifest", m["manifest_path"].(string))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			s, _ := asInt64(e["status"])
			p := e["data_file"].(map[string]any)["file_path"].(string)
			out[p] = append(out[p], s)
		}
	}
	return out
}

func TestLoadNoSnapshot(t *testing.T) {
	f := newFixture(t)
	loc, err := SQLiteMetadataLocation(f.dbPath, "mr", "events")
	if err != nil {
		t.Fatal(err)
	}
	if loc != f.tbl.MetadataLocation() {
		t.Fatalf("SQLiteMetadataLocation = %q, iceberg-go says %q", loc, f.tbl.MetadataLocation())
	}
	got, err := Load(context.Background(), LocalRead, loc)
	if err != nil {
		t.Fatal(err)
	}
	if got.CurrentSnapshot != nil || len(got.Snapshots) != 0 || len(got.Files) != 0 {
		t.Errorf("new table: current %+v, %d snapshots, %d files; want none", got.CurrentSnapshot, len(got.Snapshots), len(got.Files))
	}
	if !reflect.DeepEqual(got.SchemaFields, wantFields) {
		t.Errorf("schema fields\n got %+v\nwant %+v", got.SchemaFields, wantFields)
	}
}

func TestSQLiteMetadataLocationNoTable(t *testing.T) {
	f := newFixture(t)
	if _, err := SQLiteMetadataLocation(f.dbPath, "mr", "nope"); err == nil || !strings.Contains(err.Error(), "mr.nope") {
		t.Errorf("missing table: err %v, want one naming mr.nope", err)
	}
}

func TestLoadErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return "file://" + p
	}
	// A minimal v2 metadata file whose current snapshot's manifest list
	// is the file at list.
	meta := func(list string) string {
		return `{"format-version":2,"location":"file:///t","current-snapshot-id":7,
"snapshots":[{"snapshot-id":7,"sequence-number":1,"timestamp-ms":1,"manifest-list":"` + list + `","summary":{"operation":"append"}}],
"current-schema-id":0,"schemas":[{"schema-id":0,"fields":[{"id":1,"name":"n","required":true,"type":"long"}]}],
"default-spec-id":0,"partition-specs":[{"spec-id":0,"fields":[]}]}`
	}
	notAvro := write("snap-7.avro", "this is not avro")

	for _, tc := range []struct {
		name, loc, wantIn string
		wantErr           error
	}{
		{"missing metadata", "file://" + filepath.Join(dir, "absent.metadata.json"), "absent.metadata.json", os.ErrNotExist},
		{"corrupt json", write("corrupt.metadata.json", `{"format-version":2,`), "corrupt.metadata.json", nil},
		{"manifest list not avro", write("ok.metadata.json", meta(notAvro)), "snap-7.avro", nil},
		{"missing manifest list", write("gone.metadata.json", meta("file://"+filepath.Join(dir, "gone.avro"))), "gone.avro", os.ErrNotExist},
		{"current snapshot not listed", write("dangling.metadata.json", strings.Replace(meta(notAvro), `"current-snapshot-id":7`, `"current-snapshot-id":8`, 1)), "dangling.metadata.json", nil},
		{"format version 3", write("v3.metadata.json", strings.Replace(meta(notAvro), `"format-version":2`, `"format-version":3`, 1)), "v3.metadata.json", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(ctx, LocalRead, tc.loc)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.wantIn) {
				t.Errorf("error %q does not name %s", err, tc.wantIn)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("error %q is not %v", err, tc.wantErr)
			}
		})
	}
}

func TestTimestampMicros(t *testing.T) {
	got, err := TimestampMicros([]byte{0x01, 0, 0, 0, 0, 0, 0, 0})
	if err != nil || !got.Equal(time.UnixMicro(1)) || got.Location() != time.UTC {
		t.Errorf("TimestampMicros(1µs) = %v, %v", got, err)
	}
	// -1 µs: all bytes 0xff, little-endian two's complement.
	got, err = TimestampMicros([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	if err != nil || !got.Equal(time.UnixMicro(-1)) {
		t.Errorf("TimestampMicros(-1µs) = %v, %v", got, err)
	}
	if _, err := TimestampMicros([]byte{1, 2, 3, 4}); err == nil {
		t.Error("4-byte bound: no error")
	}
}

func TestLocalRead(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x y.txt")
	if err := os.WriteFile(p, []byte("hi"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, uri := range []string{p, "file://" + p, "file:" + p} {
		b, err := LocalRead(context.Background(), uri)
		if err != nil || string(b) != "hi" {
			t.Errorf("LocalRead(%q) = %q, %v", uri, b, err)
		}
	}
	if _, err := LocalRead(context.Background(), "s3://b/k"); err == nil {
		t.Error("s3 URI: no error")
	}
}

// memFiles is a ReadFunc over an in-memory set of files.
type memFiles map[string][]byte

func (m memFiles) read(_ context.Context, uri string) ([]byte, error) {
	b, ok := m[uri]
	if !ok {
		return nil, os.ErrNotExist
	}
	return b, nil
}

// Hand-written Avro schemas after the Iceberg spec: what a reader must cope
// with whoever wrote the table, without iceberg-go in the loop.
const (
	manifestListSchema = `{"type":"record","name":"manifest_file","fields":[
{"name":"manifest_path","type":"string"},
{"name":"manifest_length","type":"long"},
{"name":"partition_spec_id","type":"int"},
{"name":"content","type":"int"},
{"name":"added_snapshot_id","type":"long"}]}`
	manifestSchema = `{"type":"record","name":"manifest_entry","fields":[
{"name":"status","type":"int"},
{"name":"snapshot_id","type":["null","long"]},
{"name":"data_file","type":{"type":"record","name":"r2","fields":[
 {"name":"content","type":"int"},
 {"name":"file_path","type":"string"},
 {"name":"file_format","type":"string"},
 {"name":"partition","type":{"type":"record","name":"r102","fields":[
  {"name":"event_time_day","type":["null",{"type":"int","logicalType":"date"}]},
  {"name":"event_hour","type":["null","int"]}]}},
 {"name":"record_count","type":"long"},
 {"name":"file_size_in_bytes","type":"long"},
 {"name":"value_counts","type":["null",{"type":"array","items":{"type":"record","name":"k119_v120","fields":[{"name":"key","type":"int"},{"name":"value","type":"long"}]}}]},
 {"name":"lower_bounds","type":["null",{"type":"array","items":{"type":"record","name":"k126_v127","fields":[{"name":"key","type":"int"},{"name":"value","type":"bytes"}]}}]}]}}]}`
)

func encodeOCF(t *testing.T, schema string, recs ...map[string]any) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := ocf.NewWriter(&buf, avro.MustParse(schema))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := w.Encode(r); err != nil {
			t.Fatalf("encode %v: %v", r, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func entry(status int32, path string, day any) map[string]any {
	return map[string]any{
		"status":      status,
		"snapshot_id": int64(7),
		"data_file": map[string]any{
			"content": int32(0), "file_path": path, "file_format": "PARQUET",
			"partition":    map[string]any{"event_time_day": day, "event_hour": nil},
			"record_count": int64(3), "file_size_in_bytes": int64(99),
			"value_counts": []any{map[string]any{"key": int32(1), "value": int64(3)}},
			"lower_bounds": []any{map[string]any{"key": int32(2), "value": []byte{1, 0, 0, 0, 0, 0, 0, 0}}},
		},
	}
}

// A table written by hand: one manifest with an existing, an added and a
// deleted entry, and a second data manifest. Only the first two and the
// second manifest's file are live.
func TestLoadHandWritten(t *testing.T) {
	meta := `{"format-version":2,"location":"s3://b/t","current-snapshot-id":7,
"snapshots":[{"snapshot-id":7,"sequence-number":1,"timestamp-ms":1,"manifest-list":"s3://b/t/metadata/list.avro","summary":{"operation":"overwrite"}}],
"current-schema-id":0,"schemas":[{"schema-id":0,"fields":[{"id":1,"name":"n","required":true,"type":"long"},
 {"id":2,"name":"m","required":false,"type":{"type":"map","key-id":3,"key":"string","value-id":4,"value":"int","value-required":false}}]}],
"default-spec-id":0,"partition-specs":[{"spec-id":0,"fields":[{"source-id":2,"field-id":1000,"name":"event_time_day","transform":"day"}]}]}`
	list := func(paths ...string) []byte {
		var recs []map[string]any
		for _, p := range paths {
			recs = append(recs, map[string]any{"manifest_path": p, "manifest_length": int64(1), "partition_spec_id": int32(0), "content": int32(0), "added_snapshot_id": int64(7)})
		}
		return encodeOCF(t, manifestListSchema, recs...)
	}
	day := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	files := memFiles{
		"s3://b/t/metadata/v1.metadata.json": []byte(meta),
		"s3://b/t/metadata/list.avro":        list("s3://b/t/metadata/m1.avro", "s3://b/t/metadata/m2.avro"),
		"s3://b/t/metadata/m1.avro": encodeOCF(t, manifestSchema,
			entry(0, "s3://b/t/data/existing.parquet", int32(dayOrdinal(day))),
			entry(1, "s3://b/t/data/added.parquet", int32(dayOrdinal(day))),
			entry(2, "s3://b/t/data/deleted.parquet", int32(dayOrdinal(day)))),
		"s3://b/t/metadata/m2.avro": encodeOCF(t, manifestSchema, entry(1, "s3://b/t/data/another.parquet", nil)),
	}
	got, err := Load(context.Background(), files.read, "s3://b/t/metadata/v1.metadata.json")
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, df := range got.Files {
		paths = append(paths, df.Path)
	}
	if want := []string{"s3://b/t/data/added.parquet", "s3://b/t/data/another.parquet", "s3://b/t/data/existing.parquet"}; !slices.Equal(paths, want) {
		t.Fatalf("live files %v, want %v", paths, want)
	}
	added := got.Files[0]
	if added.Status != 1 || added.Records != 3 || added.SizeBytes != 99 || added.Format != "PARQUET" ||
		added.Partition["event_time_day"] != dayOrdinal(day) || added.Partition["event_hour"] != nil ||
		added.ValueCounts[1] != 3 || !bytes.Equal(added.LowerBounds[2], []byte{1, 0, 0, 0, 0, 0, 0, 0}) ||
		added.SnapshotID == nil || *added.SnapshotID != 7 {
		t.Errorf("added file %+v", added)
	}
	if got.Files[2].Status != 0 {
		t.Errorf("existing file status %d", got.Files[2].Status)
	}
	if p := got.Files[1].Partition; p["event_time_day"] != nil {
		t.Errorf("null partition value read as %#v", p["event_time_day"])
	}
	wantFields := []Field{
		{ID: 1, Name: "n", Type: "long", Required: true},
		{ID: 2, Name: "m", Type: "map"},
		{ID: 3, Name: "m.key", Type: "string", Required: true},
		{ID: 4, Name: "m.value", Type: "int"},
	}
	if !reflect.DeepEqual(got.SchemaFields, wantFields) {
		t.Errorf("schema fields %+v, want %+v", got.SchemaFields, wantFields)
	}

	// The same file live in two manifests is an inconsistent table.
	files["s3://b/t/metadata/m2.avro"] = encodeOCF(t, manifestSchema, entry(0, "s3://b/t/data/added.parquet", nil))
	if _, err := Load(context.Background(), files.read, "s3://b/t/metadata/v1.metadata.json"); err == nil ||
		!strings.Contains(err.Error(), "added.parquet") || !strings.Contains(err.Error(), "m2.avro") {
		t.Errorf("file live twice: err %v", err)
	}

	// A delete manifest is refused, not silently skipped.
	files["s3://b/t/metadata/list.avro"] = encodeOCF(t, manifestListSchema,
		map[string]any{"manifest_path": "s3://b/t/metadata/d.avro", "manifest_length": int64(1), "partition_spec_id": int32(0), "content": int32(1), "added_snapshot_id": int64(7)})
	if _, err := Load(context.Background(), files.read, "s3://b/t/metadata/v1.metadata.json"); err == nil || !strings.Contains(err.Error(), "d.avro") {
		t.Errorf("delete manifest: err %v", err)
	}

	// A manifest that is not Avro is named in the error.
	files["s3://b/t/metadata/list.avro"] = list("s3://b/t/metadata/m3.avro")
	files["s3://b/t/metadata/m3.avro"] = []byte("PAR1 not avro")
	if _, err := Load(context.Background(), files.read, "s3://b/t/metadata/v1.metadata.json"); err == nil || !strings.Contains(err.Error(), "m3.avro") {
		t.Errorf("manifest not avro: err %v", err)
	}
}
