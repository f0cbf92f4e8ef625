package lake_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/marketrail/marketrail/pkg/lake"
	"github.com/marketrail/marketrail/pkg/marketplace"
	"github.com/marketrail/marketrail/pkg/storage"
	"github.com/marketrail/marketrail/pkg/trail"
)

// row is a minimal table row for the tests.
type row struct {
	ID   string    `parquet:"id"`
	Time time.Time `parquet:"time,timestamp(millisecond)"`
}

func rowDate(r *row) trail.Day         { return trail.DayOf(r.Time) }
func rowCompare(a, b *row) int         { return cmp.Or(a.Time.Compare(b.Time), strings.Compare(a.ID, b.ID)) }
func rowsTable(rows ...row) lake.Table { return lake.NewTable("t", rows, rowDate, rowCompare, "time") }
func at(day string, hour int) time.Time {
	d, _ := trail.ParseDay(day)
	return d.Time().Add(time.Duration(hour) * time.Hour)
}
func mk(id, day string, hour int) row { return row{id, at(day, hour)} }
func dayOf(s string) trail.Day        { d, _ := trail.ParseDay(s); return d }
func localDest(t *testing.T) (*storage.Local, string) {
	t.Helper()
	dir := t.TempDir()
	l, err := storage.OpenLocal(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, dir
}

// files lists the Parquet files under dir, relative and sorted.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".parquet") {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return err
	})
	slices.Sort(out)
	return out
}

// readRows reads a file's rows back with parquet-go, in file order.
func readRows(t *testing.T, path string) []row {
	t.Helper()
	rows, err := parquet.ReadFile[row](path)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestPublishDayLayout(t *testing.T) {
	tests := []struct {
		name    string
		maxRows int
		rows    []row
		want    map[string][]string // file → row ids in file order
	}{
		{"one partition", 0, []row{mk("b", "2024-03-02", 5), mk("a", "2024-03-02", 1)},
			map[string][]string{"t/event_date=2024-03-02/2024-03-02.parquet": {"a", "b"}}},
		{"late events go to their own date's partition, named by delivery day", 0,
			[]row{mk("x", "2024-03-02", 3), mk("late", "2024-03-01", 23)},
			map[string][]string{
				"t/event_date=2024-03-01/2024-03-02.parquet": {"late"},
				"t/event_date=2024-03-02/2024-03-02.parquet": {"x"},
			}},
		{"split past maxRows, sorted across the pieces", 2,
			[]row{mk("e", "2024-03-02", 5), mk("c", "2024-03-02", 3), mk("a", "2024-03-02", 1), mk("d", "2024-03-02", 4), mk("b", "2024-03-02", 2)},
			map[string][]string{
				"t/event_date=2024-03-02/2024-03-02-0001.parquet": {"a", "b"},
				"t/event_date=2024-03-02/2024-03-02-0002.parquet": {"c", "d"},
				"t/event_date=2024-03-02/2024-03-02-0003.parquet": {"e"},
			}},
		{"no rows, no files", 0, nil, map[string][]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dest, dir := localDest(t)
			w := &lake.Writer{Dest: dest, Version: "test", MaxRowsPerFile: tt.maxRows}
			res, err := w.PublishDay(context.Background(), dayOf("2024-03-02"), nil, true, rowsTable(tt.rows...))
			if err != nil {
				t.Fatal(err)
			}
			got := map[string][]string{}
			for _, f := range files(t, dir) {
				for _, r := range readRows(t, filepath.Join(dir, f)) {
					got[f] = append(got[f], r.ID)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("files:\n %v\nwant\n %v", got, tt.want)
			}
			var total int64
			for _, n := range res.Rows["t"] {
				total += n
			}
			if int(total) != len(tt.rows) || len(res.Files) != len(tt.want) {
				t.Errorf("result: %d rows in %d files, want %d in %d", total, len(res.Files), len(tt.rows), len(tt.want))
			}
		})
	}
}

// TestPublishDayReplaces: publishing a day again removes the files it no longer writes,
// keeps every other day's files and files it never wrote, and leaves a complete manifest
// listing exactly the day's files.
func TestPublishDayReplaces(t *testing.T) {
	ctx := context.Background()
	dest, dir := localDest(t)
	w := &lake.Writer{Dest: dest, Version: "test", MaxRowsPerFile: 1}
	d2, d3 := dayOf("2024-03-02"), dayOf("2024-03-03")
	if _, err := w.PublishDay(ctx, d2, nil, true, rowsTable(mk("a", "2024-03-01", 23), mk("b", "2024-03-02", 1), mk("c", "2024-03-02", 2))); err != nil {
		t.Fatal(err)
	}
	if _, err := w.PublishDay(ctx, d3, nil, true, rowsTable(mk("d", "2024-03-03", 1))); err != nil {
		t.Fatal(err)
	}
	foreign := filepath.Join(dir, "t", "event_date=2024-03-02", "someone-else.parquet")
	os.WriteFile(foreign, []byte("x"), 0o644)

	inputs := []lake.Input{{Key: "AWSLogs/1/CloudTrail/r/2024/03/02/f.json.gz", Size: 10, ETag: "e"}}
	w.MaxRowsPerFile = 0
	if _, err := w.PublishDay(ctx, d2, &lake.Sources{Inputs: inputs}, false, rowsTable(mk("b", "2024-03-02", 1))); err != nil {
		t.Fatal(err)
	}
	want := []string{"t/event_date=2024-03-02/2024-03-02.parquet", "t/event_date=2024-03-02/someone-else.parquet", "t/event_date=2024-03-03/2024-03-03.parquet"}
	if got := files(t, dir); !slices.Equal(got, want) {
		t.Errorf("files %q, want %q", got, want)
	}
	m, err := w.ReadManifest(ctx, d2)
	if err != nil || m == nil {
		t.Fatalf("manifest: %v", err)
	}
	if m.State != lake.StatePartial || !slices.Equal(m.Files, want[:1]) || !slices.Equal(m.Inputs, inputs) || m.Version != "test" {
		t.Errorf("manifest %+v", m)
	}
	if m.Unchanged(&lake.Sources{Inputs: inputs}) {
		t.Error("a partial day counts as unchanged")
	}
	if _, err := w.PublishDay(ctx, d2, &lake.Sources{Inputs: inputs}, true, rowsTable(mk("b", "2024-03-02", 1))); err != nil {
		t.Fatal(err)
	}
	m, _ = w.ReadManifest(ctx, d2)
	if !m.Unchanged(&lake.Sources{Inputs: inputs}) || m.Unchanged(&lake.Sources{Inputs: append(slices.Clone(inputs), lake.Input{Key: "new"})}) || m.Unchanged(&lake.Sources{}) {
		t.Errorf("Unchanged is wrong for %+v", m)
	}
}

// TestManifestIsSupersetWhilePublishing: at the moment the day's files are published and its
// manifest not yet final, the manifest lists old and new files, so a crash there leaves
// nothing the next run cannot find.
func TestManifestIsSupersetWhilePublishing(t *testing.T) {
	ctx := context.Background()
	dest, dir := localDest(t)
	d := dayOf("2024-03-02")
	w := &lake.Writer{Dest: dest, Version: "test"}
	if _, err := w.PublishDay(ctx, d, nil, true, rowsTable(mk("a", "2024-03-01", 23))); err != nil {
		t.Fatal(err)
	}
	var seen *lake.Manifest
	w.Hook = func(point string) {
		if point == lake.HookPublished {
			seen, _ = w.ReadManifest(ctx, d)
		}
	}
	if _, err := w.PublishDay(ctx, d, nil, true, rowsTable(mk("b", "2024-03-02", 1))); err != nil {
		t.Fatal(err)
	}
	want := []string{"t/event_date=2024-03-01/2024-03-02.parquet", "t/event_date=2024-03-02/2024-03-02.parquet"}
	if seen == nil || seen.State != lake.StatePublishing || !slices.Equal(seen.Files, want) {
		t.Errorf("manifest while publishing: %+v, want files %q", seen, want)
	}
	if got := files(t, dir); !slices.Equal(got, want[1:]) {
		t.Errorf("files after publishing %q", got)
	}
}

func TestClaim(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		setup   func(dir string)
		foreign bool
	}{
		{"empty destination is claimed", func(string) {}, false},
		{"already marketrail's", func(dir string) {
			os.MkdirAll(filepath.Join(dir, "_marketrail"), 0o755)
			os.WriteFile(filepath.Join(dir, "_marketrail", "marker.json"), []byte(`{}`), 0o644)
			os.WriteFile(filepath.Join(dir, "data.csv"), []byte("x"), 0o644)
		}, false},
		{"another shard is claiming it", func(dir string) { os.MkdirAll(filepath.Join(dir, "_marketrail", "days"), 0o755) }, false},
		{"someone else's data", func(dir string) { os.WriteFile(filepath.Join(dir, "report.pdf"), []byte("x"), 0o644) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dest, dir := localDest(t)
			tt.setup(dir)
			err := lake.Claim(ctx, dest, "v1")
			if tt.foreign {
				if !errors.Is(err, lake.ErrForeignDest) || !strings.Contains(err.Error(), "report.pdf") {
					t.Errorf("got %v, want ErrForeignDest naming report.pdf", err)
				}
				if _, serr := os.Stat(filepath.Join(dir, lake.MarkerKey)); serr == nil {
					t.Error("a foreign destination was marked")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(lake.MarkerKey))); err != nil {
				t.Errorf("no marker: %v", err)
			}
		})
	}
}

// BenchmarkWrite measures the write stage: sorting a delivery day's events into partitions
// and encoding them as zstd Parquet, then publishing to a local folder. Throughput is in
// bytes of the events' raw JSON.
func BenchmarkWrite(b *testing.B) {
	const n = 20_000
	events := make([]marketplace.Event, 0, n)
	var rawBytes int64
	base := time.Date(2024, 3, 2, 0, 0, 0, 0, time.UTC)
	for i := range n {
		ts := base.Add(time.Duration(i*4321%86400) * time.Second).Add(-2 * time.Hour)
		rec := fmt.Sprintf(`{"eventVersion":"1.08","userIdentity":{"type":"AssumedRole","principalId":"AROA:s%d","arn":"arn:aws:sts::123456789012:assumed-role/saas/s%d","accountId":"123456789012"},"eventTime":%q,"eventSource":"metering-marketplace.amazonaws.com","eventName":"BatchMeterUsage","awsRegion":"us-east-1","sourceIPAddress":"10.0.0.1","userAgent":"aws-sdk-go-v2/1.30","requestParameters":{"usageRecords":[{"dimension":"Users","timestamp":"Mar 1, 2024 3:04:05 PM","customerIdentifier":"c%d","quantity":%d}],"productCode":"pc"},"responseElements":{"results":[{"usageRecord":{"dimension":"Users","timestamp":"Mar 1, 2024 3:04:05 PM","customerIdentifier":"c%d","quantity":%d},"meteringRecordId":"m-%d","status":"Success"}],"unprocessedRecords":[]},"requestID":"r-%d","eventID":"e-%d","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"123456789012","eventCategory":"Management"}`,
			i, i%7, ts.Format(time.RFC3339), i%97, i%1000, i%97, i%1000, i, i, i)
		e, err := marketplace.Decode([]byte(rec), "AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/02/f.json.gz", i)
		if err != nil {
			b.Fatal(err)
		}
		events = append(events, e)
		rawBytes += int64(len(rec))
	}
	dir := b.TempDir()
	dest, err := storage.OpenLocal(dir, true)
	if err != nil {
		b.Fatal(err)
	}
	defer dest.Close()
	w := &lake.Writer{Dest: dest, Version: "bench", TempDir: b.TempDir()}
	d := dayOf("2024-03-02")
	compare := func(a, b *marketplace.Event) int { return a.EventTime.Compare(b.EventTime) }
	b.SetBytes(rawBytes)
	b.ReportAllocs()
	for b.Loop() {
		var metering []marketplace.MeteringRecord
		for i := range events {
			metering = append(metering, events[i].Metering...)
		}
		_, err := w.PublishDay(context.Background(), d, nil, true,
			lake.NewTable(marketplace.TableEvents, slices.Clone(events), (*marketplace.Event).EventDate, compare, "event_time"),
			lake.NewTable(marketplace.TableMetering, metering, (*marketplace.MeteringRecord).EventDate,
				func(a, b *marketplace.MeteringRecord) int { return a.EventTime.Compare(b.EventTime) }, "event_time"))
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(n, "events/op")
}

// TestStale: every way a manifest can differ from what a run would write a day from gives
// its own reason, and only an exact match is unchanged.
func TestStale(t *testing.T) {
	in := []lake.Input{{Key: "AWSLogs/1/CloudTrail/r/2024/03/02/a.json.gz", Size: 10, ETag: "e1"}}
	tail := []lake.Input{{Key: "AWSLogs/1/CloudTrail/r/2024/03/01/z_20240301T2355Z.json.gz", Size: 7, ETag: "e2"}}
	set := lake.Settings{SchemaHash: "s1", DecoderVersion: 1, MaxRowsPerFile: 1000}
	src := &lake.Sources{Inputs: in, Tail: tail, Settings: set}
	written := func(state string) *lake.Manifest {
		s := set
		return &lake.Manifest{State: state, Inputs: in, Tail: tail, Settings: &s, Fingerprint: src.Fingerprint()}
	}
	with := func(f func(m *lake.Manifest)) *lake.Manifest { m := written(lake.StateComplete); f(m); return m }
	for _, c := range []struct {
		name string
		m    *lake.Manifest
		want string
	}{
		{"no manifest", nil, lake.ReasonNew},
		{"same", written(lake.StateComplete), lake.ReasonUnchanged},
		{"publishing", written(lake.StatePublishing), lake.ReasonPublishing},
		{"partial", written(lake.StatePartial), lake.ReasonPartial},
		{"own input changed", with(func(m *lake.Manifest) { m.Inputs = []lake.Input{{Key: in[0].Key, Size: 11, ETag: "e3"}} }), lake.ReasonInputsChanged},
		{"tail file arrived", with(func(m *lake.Manifest) { m.Tail = nil }), lake.ReasonNeighbourChanged},
		{"tail file changed", with(func(m *lake.Manifest) { m.Tail = []lake.Input{{Key: tail[0].Key, Size: 7, ETag: "other"}} }), lake.ReasonNeighbourChanged},
		{"written before fingerprints", with(func(m *lake.Manifest) { m.Settings, m.Fingerprint, m.Tail = nil, "", nil }), lake.ReasonSettingsChanged},
		{"other event sources", with(func(m *lake.Manifest) { m.Settings.EventSources = []string{"s3.amazonaws.com"} }), lake.ReasonSettingsChanged},
		{"other schema", with(func(m *lake.Manifest) { m.Settings.SchemaHash = "s0" }), lake.ReasonSettingsChanged},
		{"older decoder", with(func(m *lake.Manifest) { m.Settings.DecoderVersion = 0 }), lake.ReasonSettingsChanged},
		{"digests verified", with(func(m *lake.Manifest) { m.Settings.VerifyDigests = true }), lake.ReasonSettingsChanged},
		{"other file size", with(func(m *lake.Manifest) { m.Settings.MaxRowsPerFile = 10 }), lake.ReasonSettingsChanged},
		{"fingerprint edited", with(func(m *lake.Manifest) { m.Fingerprint = "sha256:00" }), lake.ReasonSettingsChanged},
	} {
		if got := c.m.Stale(src); got != c.want {
			t.Errorf("%s: Stale = %q, want %q", c.name, got, c.want)
		}
	}
	// Empty and absent event-source lists are the same setting.
	empty := *src
	empty.Settings.EventSources = []string{}
	if got := written(lake.StateComplete).Stale(&empty); got != lake.ReasonUnchanged {
		t.Errorf("empty event sources: Stale = %q", got)
	}
}

// TestManifestRecordsSources: a published day's manifest holds its tail, settings and
// fingerprint, and a run with the same sources finds it unchanged.
func TestManifestRecordsSources(t *testing.T) {
	ctx := context.Background()
	dest, _ := localDest(t)
	w := &lake.Writer{Dest: dest, Version: "test"}
	d := dayOf("2024-03-02")
	src := &lake.Sources{
		Inputs:   []lake.Input{{Key: "AWSLogs/1/CloudTrail/r/2024/03/02/a.json.gz", Size: 10, ETag: "e1"}},
		Tail:     []lake.Input{{Key: "AWSLogs/1/CloudTrail/r/2024/03/01/z.json.gz", Size: 7, ETag: "e2"}},
		Settings: lake.Settings{EventSources: []string{"x.amazonaws.com"}, SchemaHash: "h", DecoderVersion: 3, VerifyDigests: true, MaxRowsPerFile: 5},
	}
	if _, err := w.PublishDay(ctx, d, src, true, rowsTable(mk("a", "2024-03-02", 1))); err != nil {
		t.Fatal(err)
	}
	m, err := w.ReadManifest(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.Tail, src.Tail) || m.Settings == nil || m.Settings.DecoderVersion != 3 || !m.Settings.VerifyDigests ||
		m.Fingerprint == "" || !strings.HasPrefix(m.Fingerprint, "sha256:") {
		t.Fatalf("manifest does not record the sources: %+v", m)
	}
	if got := m.Stale(src); got != lake.ReasonUnchanged {
		t.Errorf("Stale after publishing = %q", got)
	}
}

// TestPublishAgainKeepsSameFiles: a day published again uploads only the files whose bytes
// changed; the others stay as they were (the same object, not a copy), as long as they are
// all still there as the manifest recorded them.
func TestPublishAgainKeepsSameFiles(t *testing.T) {
	ctx := context.Background()
	dest, dir := localDest(t)
	w := &lake.Writer{Dest: dest, Version: "test"}
	d := dayOf("2024-03-02")
	late, own := "t/event_date=2024-03-01/2024-03-02.parquet", "t/event_date=2024-03-02/2024-03-02.parquet"
	stat := func(key string) os.FileInfo {
		fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(key)))
		if err != nil {
			t.Fatal(err)
		}
		return fi
	}
	src := func(n int) *lake.Sources {
		var in []lake.Input
		for i := range n {
			in = append(in, lake.Input{Key: fmt.Sprintf("AWSLogs/1/CloudTrail/r/2024/03/02/f%d.json.gz", i), Size: 10, ETag: "e"})
		}
		return &lake.Sources{Inputs: in}
	}
	rows := []row{mk("a", "2024-03-01", 23), mk("b", "2024-03-02", 1)}
	prev := map[string]os.FileInfo{} // the files of the publication before
	tests := []struct {
		name           string
		rows           []row
		before         func()
		kept           int
		sameLate, same bool // the files are the objects of the publication before
	}{
		{"first publication", rows, nil, 0, false, false},
		{"the same rows from more inputs", rows, nil, 2, true, true},
		{"a row more in one partition", append(slices.Clone(rows), mk("c", "2024-03-02", 2)), nil, 1, true, false},
		{"a file gone from the destination", append(slices.Clone(rows), mk("c", "2024-03-02", 2)),
			func() {
				os.Remove(filepath.Join(dir, filepath.FromSlash(late)))
				delete(prev, late) // a new file may take the inode number it freed
			}, 0, false, false},
	}
	for i, tt := range tests {
		if tt.before != nil {
			tt.before()
		}
		res, err := w.PublishDay(ctx, d, src(i+1), true, rowsTable(tt.rows...))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if res.Kept != tt.kept {
			t.Errorf("%s: %d files kept, want %d", tt.name, res.Kept, tt.kept)
		}
		now := map[string]os.FileInfo{late: stat(late), own: stat(own)}
		for key, want := range map[string]bool{late: tt.sameLate, own: tt.same} {
			if prev[key] == nil {
				continue
			}
			if got := os.SameFile(prev[key], now[key]); got != want {
				t.Errorf("%s: %s is the same object as before: %v, want %v", tt.name, key, got, want)
			}
		}
		prev = now
		var ids []string
		for _, r := range readRows(t, filepath.Join(dir, filepath.FromSlash(own))) {
			ids = append(ids, r.ID)
		}
		var want []string
		for _, r := range tt.rows {
			if r.Time.After(at("2024-03-02", 0)) {
				want = append(want, r.ID)
			}
		}
		if !slices.Equal(ids, want) {
			t.Errorf("%s: %s holds %q, want %q", tt.name, own, ids, want)
		}
		m, err := w.ReadManifest(ctx, d)
		if err != nil || m == nil {
			t.Fatalf("%s: manifest: %v", tt.name, err)
		}
		if len(m.Inputs) != i+1 || len(m.Hashes) != 2 || m.Hashes[own] != res.Hashes[own] || len(m.Hashes[own]) != 64 {
			t.Errorf("%s: manifest inputs %d, hashes %v", tt.name, len(m.Inputs), m.Hashes)
		}
	}
}
