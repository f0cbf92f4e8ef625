package pipeline_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"iter"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/marketrail/marketrail/internal/duckcheck"
	"github.com/marketrail/marketrail/internal/gentrail"
	"github.com/marketrail/marketrail/pkg/lake"
	"github.com/marketrail/marketrail/pkg/pipeline"
	"github.com/marketrail/marketrail/pkg/report"
	"github.com/marketrail/marketrail/pkg/source"
	"github.com/marketrail/marketrail/pkg/storage"
	"github.com/marketrail/marketrail/pkg/trail"
)

const sample = "../../testdata/trail"

// sampleWindow reads the sample's window from the generator's manifest.
func sampleWindow(t *testing.T) (trail.Day, trail.Day) {
	t.Helper()
	b, err := os.ReadFile("../../testdata/trail-manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Window struct{ From, To string } `json:"window"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	from, err1 := trail.ParseDay(m.Window.From)
	to, err2 := trail.ParseDay(m.Window.To)
	if err1 != nil || err2 != nil {
		t.Fatalf("manifest window: %v %v", err1, err2)
	}
	return from, to
}

// cleanRun runs the pipeline over the untouched sample into a fresh folder and returns the
// window and that folder: the reference the fault tests compare their runs with.
func cleanRun(t *testing.T) (from, to trail.Day, clean string) {
	t.Helper()
	from, to = sampleWindow(t)
	clean = t.TempDir()
	run(t, sample, clean, from, to, nil)
	return from, to, clean
}

// copyTree copies the folder src into a new temporary folder and returns it.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func open(t *testing.T, dir string, create bool) *storage.Local {
	t.Helper()
	s, err := storage.OpenLocal(dir, create)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func run(t *testing.T, src, dest string, from, to trail.Day, tweak func(*pipeline.Config)) *report.Report {
	t.Helper()
	cfg := pipeline.Config{
		Source: open(t, src, false), Dest: open(t, dest, true), From: from, To: to,
		Version: "test", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if tweak != nil {
		tweak(&cfg)
	}
	rep, err := pipeline.Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return rep
}

// rows returns every row of the events table under dir, as JSON text, sorted.
func rows(t *testing.T, dir string) []string {
	t.Helper()
	db := duckcheck.Open(t)
	var out []string
	for _, r := range duckcheck.Strings(t, db, `SELECT to_json(t)::VARCHAR FROM (SELECT * EXCLUDE (filename) FROM `+duckcheck.Table(dir, "events")+`) t`) {
		out = append(out, r[0])
	}
	slices.Sort(out)
	return out
}

func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.Contains(p, "_marketrail") {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return err
	})
	slices.Sort(out)
	return out
}

// A log file that cannot be read contributes nothing, is named with its reason, and every
// other event is written.
func TestCorruptObjects(t *testing.T) {
	from, to, clean := cleanRun(t)
	want := rows(t, clean)

	src := copyTree(t, sample)
	// Find a log file with events of the window, to make broken copies of it.
	var good string
	filepath.WalkDir(filepath.Join(src, "AWSLogs"), func(p string, d fs.DirEntry, err error) error {
		if good == "" && err == nil && strings.HasSuffix(p, ".json.gz") && strings.Contains(p, "/CloudTrail/") &&
			strings.Contains(filepath.ToSlash(p), from.Path()) {
			good = p
		}
		return err
	})
	if good == "" {
		t.Fatal("no log file in the first day of the window")
	}
	data, _ := os.ReadFile(good)
	var plain bytes.Buffer
	zr, _ := gzip.NewReader(bytes.NewReader(data))
	io.Copy(&plain, zr)
	gz := func(s string) []byte {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		io.WriteString(w, s)
		w.Close()
		return b.Bytes()
	}
	dir := filepath.Dir(good)
	// Names sort before every real file of the folder ("0…"), so that if any of their
	// events leaked out they would win the dedup and show up with their own source_key.
	broken := map[string][]byte{
		"0_truncated.json.gz":   data[:len(data)/2],
		"0_corrupt.json.gz":     append(append([]byte{}, data[:20]...), bytes.Repeat([]byte{0xAA}, len(data)-20)...),
		"0_not_json.json.gz":    gz("<html>not a log</html>"),
		"0_records_string.json": []byte(`{"Records": "nope"}`),
		"0_truncated_json.json": plain.Bytes()[:plain.Len()-40],
		"0_empty.json.gz":       {},
	}
	for name, b := range broken {
		os.WriteFile(filepath.Join(dir, name), b, 0o644)
	}
	dest := t.TempDir()
	rep := run(t, src, dest, from, to, func(c *pipeline.Config) { c.Workers = 3 })
	if rep.ExitCode != report.ExitObjectsFail || rep.Status != report.StatusFailedObjects {
		t.Errorf("exit %d status %s, want 3 failed_objects", rep.ExitCode, rep.Status)
	}
	var failed []string
	for _, d := range rep.Days {
		for _, f := range d.Failures {
			failed = append(failed, filepath.Base(f.Key))
			if f.Reason == "" {
				t.Errorf("failure of %s has no reason", f.Key)
			}
		}
	}
	slices.Sort(failed)
	var wantFailed []string
	for name := range broken {
		wantFailed = append(wantFailed, name)
	}
	slices.Sort(wantFailed)
	if !slices.Equal(failed, wantFailed) {
		t.Errorf("failures %q, want %q", failed, wantFailed)
	}
	if got := rows(t, dest); !slices.Equal(got, want) {
		t.Errorf("with broken objects: %d rows, want the clean run's %d", len(got), len(want))
	}
}

// Re-running a window replaces exactly the files its days wrote before: a first run that
// split partitions into many files, then a run that does not, leaves no stale file.
func TestRerunReplacesExactly(t *testing.T) {
	from, to := sampleWindow(t)
	dest := t.TempDir()
	rep1 := run(t, sample, dest, from, to, func(c *pipeline.Config) { c.MaxRowsFile = 2; c.Workers = 1 })
	split := files(t, dest)
	want := rows(t, dest)
	if !slices.ContainsFunc(split, func(f string) bool { return strings.HasSuffix(f, "-0002.parquet") }) {
		t.Fatalf("expected split files, got %q", split)
	}
	// A file of someone else's in a partition must survive: marketrail never deletes by partition.
	other := filepath.Join(dest, "events", "event_date="+from.String(), "other-tool.parquet")
	os.WriteFile(other, []byte("not ours"), 0o644)

	rep2 := run(t, sample, dest, from, to, func(c *pipeline.Config) { c.Workers = 16; c.Force = true })
	after := files(t, dest)
	for _, f := range after {
		if strings.Contains(f, "-000") {
			t.Errorf("stale split file left behind: %s", f)
		}
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("a file marketrail did not write was removed")
	}
	os.Remove(other)
	if got := rows(t, dest); !slices.Equal(got, want) {
		t.Errorf("re-run changed the rows: %d, want %d", len(got), len(want))
	}
	if rep1.Totals.RowsWritten["events"] != rep2.Totals.RowsWritten["events"] {
		t.Errorf("row counts differ between runs: %d vs %d", rep1.Totals.RowsWritten["events"], rep2.Totals.RowsWritten["events"])
	}
	// Each day's manifest lists exactly the day's files, all of which exist.
	var listed []string
	for _, d := range trail.Range(from, to) {
		b, err := os.ReadFile(filepath.Join(dest, filepath.FromSlash(lake.ManifestKey(d))))
		if err != nil {
			t.Fatal(err)
		}
		var m lake.Manifest
		json.Unmarshal(b, &m)
		if m.State != lake.StateComplete {
			t.Errorf("day %s manifest state %q", d, m.State)
		}
		listed = append(listed, m.Files...)
	}
	slices.Sort(listed)
	if got := files(t, dest); !slices.Equal(listed, got) {
		t.Errorf("manifests list %q, folder holds %q", listed, got)
	}
}

// A run killed while publishing leaves a "publishing" manifest and hidden temporary files;
// the next run of the day removes everything the manifest lists that it does not rewrite.
func TestRecoversFromKilledPublish(t *testing.T) {
	from, to, clean := cleanRun(t)
	want, wantFiles := rows(t, clean), files(t, clean)

	dest := t.TempDir()
	run(t, sample, dest, from, to, nil)
	// Simulate the debris of a killed run of the first day: a file it had published in a
	// partition the day no longer writes to, and a temporary file it was writing.
	stray := "events/event_date=2001-01-01/" + from.String() + ".parquet"
	os.MkdirAll(filepath.Join(dest, "events", "event_date=2001-01-01"), 0o755)
	os.WriteFile(filepath.Join(dest, filepath.FromSlash(stray)), []byte("half"), 0o644)
	planned := "events/event_date=2001-01-01/" + from.String() + "-0001.parquet"
	tmp := "events/event_date=2001-01-01/." + from.String() + "-0001.parquet.tmp" // as storage.Local.Put names it
	os.WriteFile(filepath.Join(dest, filepath.FromSlash(tmp)), []byte("partial"), 0o644)
	mkey := filepath.Join(dest, filepath.FromSlash(lake.ManifestKey(from)))
	var m lake.Manifest
	b, _ := os.ReadFile(mkey)
	json.Unmarshal(b, &m)
	m.State = lake.StatePublishing
	m.Files = append(m.Files, stray, planned)
	b, _ = json.Marshal(m)
	os.WriteFile(mkey, b, 0o644)

	run(t, sample, dest, from, to, nil)
	got := files(t, dest)
	// The empty partition folder may stay; no file may.
	if !slices.Equal(got, wantFiles) {
		t.Errorf("after recovery the folder holds %q, want %q", got, wantFiles)
	}
	if r := rows(t, dest); !slices.Equal(r, want) {
		t.Errorf("after recovery: %d rows, want %d", len(r), len(want))
	}
}

// TestSelection: --accounts and --regions keep exactly the manifest's events of those
// accounts and regions.
func TestSelection(t *testing.T) {
	from, to := sampleWindow(t)
	m, err := gentrail.ReadManifest("../../testdata/trail-manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	account := m.Copies[0].SourceKey
	k, err := trail.ParseKey(account)
	if err != nil {
		t.Fatal(err)
	}
	for _, sel := range []source.Selection{{Accounts: []string{k.Account}}, {Regions: []string{"us-west-2"}}, {Accounts: []string{k.Account}, Regions: []string{"us-east-1"}}} {
		var want []string
		for _, c := range m.Expected(from.String(), to.String()) {
			ck, err := trail.ParseKey(c.SourceKey)
			if err != nil {
				t.Fatal(err)
			}
			if (len(sel.Accounts) == 0 || ck.Account == sel.Accounts[0]) && (len(sel.Regions) == 0 || ck.Region == sel.Regions[0]) {
				want = append(want, c.EventDate+" "+c.EventID+" "+c.SourceKey)
			}
		}
		dest := t.TempDir()
		run(t, sample, dest, from, to, func(c *pipeline.Config) { c.Selection = sel })
		db := duckcheck.Open(t)
		var got []string
		for _, r := range duckcheck.Strings(t, db, `SELECT event_date::VARCHAR, coalesce(event_id, ''), source_key FROM `+duckcheck.Table(dest, "events")) {
			got = append(got, strings.Join(r, " "))
		}
		slices.Sort(got)
		slices.Sort(want)
		if len(want) == 0 || !slices.Equal(got, want) {
			t.Errorf("selection %+v: %d rows, want %d (> 0)", sel, len(got), len(want))
		}
	}
}

// Days already complete with unchanged inputs are skipped; a new log file in a day folder,
// a day written with failed objects, or --force run it again.
func TestResume(t *testing.T) {
	from, to := sampleWindow(t)
	src := copyTree(t, sample)
	dest := t.TempDir()
	rep := run(t, src, dest, from, to, nil)
	if rep.DaysWritten != 3 || rep.DaysUnchanged != 0 {
		t.Fatalf("first run: %d written, %d unchanged", rep.DaysWritten, rep.DaysUnchanged)
	}
	want := rows(t, dest)
	rep = run(t, src, dest, from, to, nil)
	if rep.DaysWritten != 0 || rep.DaysUnchanged != 3 || rep.Totals.LogFilesRead != 0 {
		t.Errorf("second run: %d written, %d unchanged, %d files read; want 0, 3, 0", rep.DaysWritten, rep.DaysUnchanged, rep.Totals.LogFilesRead)
	}
	// CloudTrail delivers a late file into the middle day: only that day runs again.
	mid := from.AddDays(1)
	var folder string
	filepath.WalkDir(filepath.Join(src, "AWSLogs"), func(p string, d fs.DirEntry, err error) error {
		if folder == "" && err == nil && d.IsDir() && strings.HasSuffix(filepath.ToSlash(p), "/CloudTrail/us-east-1/"+mid.Path()) {
			folder = p
		}
		return err
	})
	late := `{"Records":[{"eventVersion":"1.08","eventTime":"` + mid.String() + `T23:59:00Z","eventSource":"agreement-marketplace.amazonaws.com","eventName":"CancelAgreement","eventID":"late-delivery-1","awsRegion":"us-east-1","requestParameters":{"agreementId":"agmt-late"}}]}`
	// Stamped at noon, it is not in the day's tail: the next day does not depend on it.
	os.WriteFile(filepath.Join(folder, "111122223333_CloudTrail_us-east-1_"+strings.ReplaceAll(mid.String(), "-", "")+"T1200Z_late.json"), []byte(late), 0o644)
	rep = run(t, src, dest, from, to, nil)
	if rep.DaysWritten != 1 || rep.DaysUnchanged != 2 || rep.Days[1].Action != report.ActionWritten {
		t.Errorf("after a late delivery: %d written, %d unchanged; want the middle day only", rep.DaysWritten, rep.DaysUnchanged)
	}
	got := rows(t, dest)
	if len(got) != len(want)+1 || !slices.ContainsFunc(got, func(r string) bool { return strings.Contains(r, "late-delivery-1") }) {
		t.Errorf("after a late delivery: %d rows, want %d with the late event", len(got), len(want)+1)
	}
	// A day with a failed object is written but not complete: the next run reads it again.
	broken := filepath.Join(folder, "111122223333_CloudTrail_us-east-1_"+strings.ReplaceAll(mid.String(), "-", "")+"T1300Z_broken.json.gz")
	os.WriteFile(broken, []byte("not gzip"), 0o644)
	if rep = run(t, src, dest, from, to, nil); rep.DaysWritten != 1 || rep.ExitCode != report.ExitObjectsFail {
		t.Errorf("with a broken object: %d written, exit %d", rep.DaysWritten, rep.ExitCode)
	}
	if rep = run(t, src, dest, from, to, func(c *pipeline.Config) { c.MaxFailed = 1 }); rep.DaysWritten != 1 || rep.ExitCode != 0 || rep.Totals.ObjectsFailed != 1 {
		t.Errorf("again, --max-failed 1: %d written, exit %d, %d failed; want 1, 0, 1", rep.DaysWritten, rep.ExitCode, rep.Totals.ObjectsFailed)
	}
	os.Remove(broken)
	run(t, src, dest, from, to, nil)
	if rep = run(t, src, dest, from, to, nil); rep.DaysUnchanged != 3 {
		t.Errorf("once repaired, the day should be complete: %d unchanged", rep.DaysUnchanged)
	}
	if rep = run(t, src, dest, from, to, func(c *pipeline.Config) { c.Force = true }); rep.DaysWritten != 3 {
		t.Errorf("--force: %d written, want 3", rep.DaysWritten)
	}
	if got2 := rows(t, dest); !slices.Equal(got, got2) {
		t.Errorf("rows changed across the reruns")
	}
}

// A dry run lists what the window would read, and writes nothing at all.
func TestDryRun(t *testing.T) {
	from, to := sampleWindow(t)
	dest := filepath.Join(t.TempDir(), "lake")
	rep := run(t, sample, dest, from, to, func(c *pipeline.Config) { c.DryRun = true })
	if ents, _ := os.ReadDir(dest); len(ents) != 0 {
		t.Errorf("a dry run wrote %d entries", len(ents))
	}
	real := run(t, sample, t.TempDir(), from, to, nil)
	if !rep.DryRun || rep.DaysPlanned != 3 || rep.Totals.PlannedReads != real.Totals.LogFilesRead || rep.Totals.PlannedBytes != real.Totals.BytesRead ||
		rep.Totals.ObjectsListed != real.Totals.ObjectsListed {
		t.Errorf("dry run planned %d reads of %d bytes over %d days (%d listed); the real run read %d files, %d bytes (%d listed)",
			rep.Totals.PlannedReads, rep.Totals.PlannedBytes, rep.DaysPlanned, rep.Totals.ObjectsListed,
			real.Totals.LogFilesRead, real.Totals.BytesRead, real.Totals.ObjectsListed)
	}
}

// Shards take disjoint days; their union is one unsharded run, file for file and row for row.
func TestShards(t *testing.T) {
	from, to := sampleWindow(t)
	from = from.AddDays(-1) // include the days outside the sample's window too
	to = to.AddDays(1)
	whole := t.TempDir()
	run(t, sample, whole, from, to, nil)
	sharded := t.TempDir()
	seen := map[string]bool{}
	for i := range 3 {
		rep := run(t, sample, sharded, from, to, func(c *pipeline.Config) { c.Shard, c.Shards = i, 3 })
		for _, d := range rep.Days {
			if seen[d.DeliveryDay] {
				t.Errorf("day %s done by two shards", d.DeliveryDay)
			}
			seen[d.DeliveryDay] = true
		}
	}
	if len(seen) != 5 {
		t.Errorf("shards covered %d days, want 5", len(seen))
	}
	if !slices.Equal(files(t, whole), files(t, sharded)) || !slices.Equal(rows(t, whole), rows(t, sharded)) {
		t.Errorf("the union of the shards differs from one run")
	}
}

// glacier is a local folder whose listing reports one key in the GLACIER storage class, as
// S3 lists an object archived by a lifecycle rule.
type glacier struct {
	*storage.Local
	key string
}

func (g glacier) List(ctx context.Context, prefix string, delim bool) iter.Seq2[storage.Entry, error] {
	return g.archived(g.Local.List(ctx, prefix, delim))
}

// ListAfter is the embedded folder's, with the same archived key.
func (g glacier) ListAfter(ctx context.Context, prefix, after string) iter.Seq2[storage.Entry, error] {
	return g.archived(g.Local.ListAfter(ctx, prefix, after))
}

func (g glacier) archived(list iter.Seq2[storage.Entry, error]) iter.Seq2[storage.Entry, error] {
	return func(yield func(storage.Entry, error) bool) {
		for e, err := range list {
			if e.Key == g.key {
				e.StorageClass = "GLACIER"
			}
			if !yield(e, err) {
				return
			}
		}
	}
}

// TestArchivedInListing: an object the listing shows archived is not read, not failed, and
// named in the day's archived list; the day is not marked complete, so it runs again once
// the object is restored.
func TestArchivedInListing(t *testing.T) {
	from, to := sampleWindow(t)
	m, err := gentrail.ReadManifest("../../testdata/trail-manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	var key, day string
	for _, c := range m.Copies {
		if c.DeliveryDay == from.String() {
			key, day = c.SourceKey, c.DeliveryDay
			break
		}
	}
	dest := t.TempDir()
	rep := run(t, sample, dest, from, to, func(c *pipeline.Config) { c.Source = glacier{open(t, sample, false), key} })
	if rep.ExitCode != report.ExitOK || rep.Totals.ObjectsFailed != 0 || rep.Totals.ObjectsSkipped[source.SkipArchived] != 1 {
		t.Fatalf("exit %d, failed %d, skipped %v", rep.ExitCode, rep.Totals.ObjectsFailed, rep.Totals.ObjectsSkipped)
	}
	for _, d := range rep.Days {
		want := []string{}
		if d.DeliveryDay == day {
			want = []string{key}
		}
		if !slices.Equal(d.Archived, want) {
			t.Errorf("day %s archived %q, want %q", d.DeliveryDay, d.Archived, want)
		}
	}
	b, err := os.ReadFile(filepath.Join(dest, filepath.FromSlash(lake.ManifestKey(from))))
	if err != nil {
		t.Fatal(err)
	}
	var man lake.Manifest
	json.Unmarshal(b, &man)
	if man.State != lake.StatePartial {
		t.Errorf("manifest state %q, want partial", man.State)
	}
	for _, r := range rows(t, dest) {
		if strings.Contains(r, key) {
			t.Errorf("a row of the archived object was written: %s", r)
		}
	}
}
