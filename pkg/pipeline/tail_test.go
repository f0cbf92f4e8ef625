package pipeline_test

// Redeliveries across midnight: CloudTrail delivers some events of a day's last log file
// again in the next day's first one. The tests run a generated trail full of them in every
// order, shape and concurrency a user may, and compare the tables with the generator's
// manifest: every eventID once, metering sums right.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marketrail/marketrail/internal/duckcheck"
	"github.com/marketrail/marketrail/internal/gentrail"
	"github.com/marketrail/marketrail/pkg/lake"
	"github.com/marketrail/marketrail/pkg/pipeline"
	"github.com/marketrail/marketrail/pkg/report"
	"github.com/marketrail/marketrail/pkg/storage"
	"github.com/marketrail/marketrail/pkg/trail"
)

// redelivering generates a trail of 4 delivery days whose folders' first files repeat half
// of the Marketplace events of the day before's last files.
func redelivering(t *testing.T) (dir string, m *gentrail.Manifest, days []trail.Day) {
	t.Helper()
	dir = t.TempDir()
	cfg := gentrail.Config{
		Seed: 11, Start: time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC), Days: 4,
		Accounts: 3, Regions: 2, FilesPerFolder: 3, RecordsPerFile: 16,
		MarketplaceRatio: 0.4, DecoyRatio: 0.02, Redeliveries: 0.5,
	}
	m, err := gentrail.Generate(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := trail.ParseDay(m.Window.From)
	last, _ := trail.ParseDay(m.Window.To)
	days = trail.Range(first, last)
	redelivered := 0
	for _, c := range m.Copies {
		if slices.Contains(c.Tags, "redelivered") {
			redelivered++
		}
	}
	if redelivered < 10 {
		t.Fatalf("the trail has %d redelivered copies: nothing to test", redelivered)
	}
	return dir, m, days
}

// tables is what a test compares: the events (eventID and file) and the metering sums.
type tables struct {
	events   []string // "eventID source_key", sorted
	metering []string // "customer dimension sum(quantity)", sorted
}

// expectedTables computes the tables a run over delivery days from..to must leave, from the
// manifest alone.
func expectedTables(m *gentrail.Manifest, from, to trail.Day) tables {
	var tb tables
	sums := map[string]int{}
	for _, c := range m.Expected(from.String(), to.String()) {
		tb.events = append(tb.events, c.EventID+" "+c.SourceKey)
		for _, u := range c.Metering {
			cust := u.CustomerAWSAccountID
			if cust == "" {
				cust = u.CustomerIdentifier
			}
			sums[cust+" "+u.Dimension] += u.Quantity
		}
	}
	for k, v := range sums {
		tb.metering = append(tb.metering, fmt.Sprintf("%s %d", k, v))
	}
	slices.Sort(tb.events)
	slices.Sort(tb.metering)
	return tb
}

// readTables reads the tables under dest with DuckDB, and fails the test if an eventID is
// written twice.
func readTables(t *testing.T, dest string) tables {
	t.Helper()
	db := duckcheck.Open(t)
	var tb tables
	events := duckcheck.Table(dest, "events")
	for _, r := range duckcheck.Strings(t, db, `SELECT coalesce(event_id, ''), source_key FROM `+events) {
		tb.events = append(tb.events, r[0]+" "+r[1])
	}
	for _, r := range duckcheck.Strings(t, db, `SELECT event_id, count(*)::VARCHAR FROM `+events+` WHERE event_id IS NOT NULL GROUP BY 1 HAVING count(*) > 1`) {
		t.Errorf("eventID %s written %s times", r[0], r[1])
	}
	if _, err := os.Stat(filepath.Join(dest, "metering_records")); err == nil {
		for _, r := range duckcheck.Strings(t, db, `SELECT coalesce(customer_aws_account_id, customer_identifier, ''), coalesce(dimension, ''), sum(quantity)::VARCHAR
			FROM `+duckcheck.Table(dest, "metering_records")+` GROUP BY 1, 2`) {
			tb.metering = append(tb.metering, strings.Join(r, " "))
		}
	}
	slices.Sort(tb.events)
	slices.Sort(tb.metering)
	return tb
}

func sameTables(t *testing.T, what string, got, want tables) {
	t.Helper()
	if len(want.events) == 0 || len(want.metering) == 0 {
		t.Fatalf("%s: nothing expected", what)
	}
	if !slices.Equal(got.events, want.events) {
		t.Errorf("%s: %d events, want %d\n%s", what, len(got.events), len(want.events), setDiff(got.events, want.events))
	}
	if !slices.Equal(got.metering, want.metering) {
		t.Errorf("%s: metering sums differ\n%s", what, setDiff(got.metering, want.metering))
	}
}

// setDiff describes the lines in one sorted list and not the other.
func setDiff(got, want []string) string {
	var b strings.Builder
	for _, g := range got {
		if _, found := slices.BinarySearch(want, g); !found {
			fmt.Fprintf(&b, "  extra:   %s\n", g)
		}
	}
	for _, w := range want {
		if _, found := slices.BinarySearch(got, w); !found {
			fmt.Fprintf(&b, "  missing: %s\n", w)
		}
	}
	return b.String()
}

// runErr is run without the test's Fatal, for goroutines.
func runErr(src, dest string, from, to trail.Day, tweak func(*pipeline.Config)) (*report.Report, error) {
	srcStore, err := storage.OpenLocal(src, false)
	if err != nil {
		return nil, err
	}
	defer srcStore.Close()
	destStore, err := storage.OpenLocal(dest, true)
	if err != nil {
		return nil, err
	}
	defer destStore.Close()
	cfg := pipeline.Config{
		Source: srcStore, Dest: destStore, From: from, To: to,
		Version: "test", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if tweak != nil {
		tweak(&cfg)
	}
	return pipeline.Run(context.Background(), cfg)
}

// TestRedeliveriesEveryOrder: the same trail run in one run, day by day forwards and
// backwards, with one worker, and as two shards at once (many times over), always leaves
// every eventID once and the metering sums of the manifest.
func TestRedeliveriesEveryOrder(t *testing.T) {
	src, m, days := redelivering(t)
	first, last := days[0], days[len(days)-1]
	want := expectedTables(m, first, last)

	dest := t.TempDir()
	rep := run(t, src, dest, first, last, nil)
	sameTables(t, "one run", readTables(t, dest), want)
	if rep.Totals.RedeliveriesDropped == 0 || rep.Totals.TailFilesRead != 0 {
		t.Errorf("one run: %d redeliveries dropped, %d tail files read; want > 0 and 0 (the run's own reads serve)",
			rep.Totals.RedeliveriesDropped, rep.Totals.TailFilesRead)
	}

	forward := t.TempDir()
	for _, d := range days {
		run(t, src, forward, d, d, func(c *pipeline.Config) { c.Workers = 1 })
	}
	sameTables(t, "day by day", readTables(t, forward), want)

	backward := t.TempDir()
	for i := len(days) - 1; i >= 0; i-- {
		rep := run(t, src, backward, days[i], days[i], nil)
		if i > 0 && rep.Totals.TailFilesRead == 0 { // the first day's day before has no files
			t.Errorf("day %s alone read no file of the day before's tail", days[i])
		}
	}
	sameTables(t, "backwards", readTables(t, backward), want)

	for round := range 6 {
		shards := t.TempDir()
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range 2 {
			wg.Go(func() {
				_, errs[i] = runErr(src, shards, first, last, func(c *pipeline.Config) { c.Shard, c.Shards = i, 2 })
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d, shard %d: %v", round, i, err)
			}
		}
		sameTables(t, fmt.Sprintf("two shards at once, round %d", round), readTables(t, shards), want)
	}
}

// TestFirstDayOfWindow: a window that starts at D+1 drops D+1's copies of D's tail although
// D is not processed; they land when D is.
func TestFirstDayOfWindow(t *testing.T) {
	src, m, days := redelivering(t)
	dest := t.TempDir()
	rep := run(t, src, dest, days[1], days[1], nil)
	sameTables(t, "day 2 alone", readTables(t, dest), expectedTables(m, days[1], days[1]))
	if rep.Days[0].Reason != lake.ReasonNew || rep.Totals.RedeliveriesDropped == 0 || rep.Totals.TailFilesRead == 0 {
		t.Errorf("day 2 alone: reason %q, %d redeliveries dropped, %d tail files read", rep.Days[0].Reason, rep.Totals.RedeliveriesDropped, rep.Totals.TailFilesRead)
	}
	rep = run(t, src, dest, days[0], days[1], nil)
	sameTables(t, "then days 1-2", readTables(t, dest), expectedTables(m, days[0], days[1]))
	if rep.DaysWritten != 1 || rep.DaysUnchanged != 1 {
		t.Errorf("then days 1-2: %d written, %d unchanged; want 1, 1", rep.DaysWritten, rep.DaysUnchanged)
	}
	// The dry run prices the tail reads of the window's first day.
	rep = run(t, src, t.TempDir(), days[2], days[3], func(c *pipeline.Config) { c.DryRun = true })
	var tailFiles int64
	for _, o := range m.Objects {
		if o.Kind == gentrail.KindLog && o.DeliveryDay == days[1].String() && trail.InTail(filepath.Base(o.Key), days[1]) {
			tailFiles++
		}
	}
	var ownFiles int64
	for _, o := range m.Objects {
		if o.Kind == gentrail.KindLog && (o.DeliveryDay == days[2].String() || o.DeliveryDay == days[3].String()) {
			ownFiles++
		}
	}
	if tailFiles == 0 || rep.Totals.PlannedReads != ownFiles+tailFiles {
		t.Errorf("dry run: %d planned reads, want %d own + %d of the tail before the window", rep.Totals.PlannedReads, ownFiles, tailFiles)
	}
}

// TestLateTailFile: a file that arrives in D's tail after D+1 was published runs D+1 again
// (neighbour_changed), which then drops the copies the new file holds.
func TestLateTailFile(t *testing.T) {
	src, m, days := redelivering(t)
	dest := t.TempDir()
	run(t, src, dest, days[0], days[1], nil)

	// A copy of a Marketplace record of D+1's own time, delivered late into D's folder at
	// 23:59 (as a second trail copy would be).
	var pick gentrail.Copy
	for _, c := range m.Copies {
		if c.DeliveryDay == days[1].String() && c.EventID != "" && c.EventDate == days[1].String() {
			pick = c
			break
		}
	}
	rec := recordOf(t, src, pick.SourceKey, pick.RecordIndex)
	folder := filepath.Dir(filepath.Join(src, filepath.FromSlash(pick.SourceKey)))
	lateDir := filepath.Join(filepath.Dir(folder), fmt.Sprintf("%02d", days[0].Dom))
	lateKey := strings.TrimPrefix(filepath.ToSlash(lateDir), filepath.ToSlash(src)+"/") + "/late_" + strings.ReplaceAll(days[0].String(), "-", "") + "T2359Z.json"
	if err := os.WriteFile(filepath.Join(src, filepath.FromSlash(lateKey)), []byte(`{"Records":[`+string(rec)+`]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	rep := run(t, src, dest, days[0], days[1], nil)
	if rep.DaysWritten != 2 || rep.Days[0].Reason != lake.ReasonInputsChanged || rep.Days[1].Reason != lake.ReasonNeighbourChanged {
		t.Fatalf("after a late tail file: %d written, reasons %q %q; want 2, inputs_changed, neighbour_changed", rep.DaysWritten, rep.Days[0].Reason, rep.Days[1].Reason)
	}
	want := expectedTables(m, days[0], days[1])
	i := slices.Index(want.events, pick.EventID+" "+pick.SourceKey)
	if i < 0 {
		t.Fatalf("%s is not expected before the late file", pick.EventID)
	}
	want.events[i] = pick.EventID + " " + lateKey // now delivered first on D
	slices.Sort(want.events)
	sameTables(t, "after a late tail file", readTables(t, dest), want)
}

// recordOf returns record i of the log file key under src, as its JSON text.
func recordOf(t *testing.T, src, key string, i int) json.RawMessage {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(src, filepath.FromSlash(key)))
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(key, ".gz") {
		b = readGzip(t, b)
	}
	var f struct{ Records []json.RawMessage }
	if err := json.Unmarshal(b, &f); err != nil || i >= len(f.Records) {
		t.Fatalf("%s: %v", key, err)
	}
	return f.Records[i]
}

// TestUnreadableTailFile: when a file of D's tail cannot be read, D+1 drops none of its
// events on its account and is partial (exit 3); once the file is repaired, the next run
// writes D+1 again and every event once.
func TestUnreadableTailFile(t *testing.T) {
	src, m, days := redelivering(t)
	// The tail file of D that alone holds the most of D+1's redelivered events (an account
	// in both trail layouts has each event in two files of D).
	count := map[string]int{}
	redelivered := map[string]bool{}
	for _, c := range m.Copies {
		if c.DeliveryDay == days[1].String() && slices.Contains(c.Tags, "redelivered") {
			redelivered[c.EventID] = true
		}
	}
	for id := range redelivered {
		var in []string
		for _, o := range m.Copies {
			if o.EventID == id && o.DeliveryDay == days[0].String() && !slices.Contains(in, o.SourceKey) {
				in = append(in, o.SourceKey)
			}
		}
		if len(in) == 1 {
			count[in[0]]++
		}
	}
	var broken string
	for k, n := range count {
		if broken == "" || n > count[broken] || n == count[broken] && k < broken {
			broken = k
		}
	}
	if broken == "" {
		t.Fatal("no redelivered event of the first day")
	}
	path := filepath.Join(src, filepath.FromSlash(broken))
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("not gzip"), 0o644); err != nil {
		t.Fatal(err)
	}
	dest := t.TempDir()
	rep := run(t, src, dest, days[1], days[1], nil)
	if rep.ExitCode != report.ExitObjectsFail || rep.Totals.ObjectsFailed != 1 || rep.Days[0].Failures[0].Key != broken {
		t.Errorf("with an unreadable tail file: exit %d, %d failed (%+v)", rep.ExitCode, rep.Totals.ObjectsFailed, rep.Days[0].Failures)
	}
	// Nothing dropped on the strength of the broken file: D+1 keeps the copies it holds.
	got := readTables(t, dest)
	want := expectedTables(m, days[1], days[1])
	if len(got.events) != len(want.events)+count[broken] {
		t.Errorf("with an unreadable tail file: %d events, want %d + %d kept", len(got.events), len(want.events), count[broken])
	}
	man, err := (&lake.Writer{Dest: open(t, dest, false)}).ReadManifest(context.Background(), days[1])
	if err != nil || man.State != lake.StatePartial {
		t.Fatalf("manifest after an unreadable tail file: %+v, %v", man, err)
	}
	if err := os.WriteFile(path, good, 0o644); err != nil {
		t.Fatal(err)
	}
	rep = run(t, src, dest, days[0], days[1], nil)
	if rep.ExitCode != 0 || rep.Days[1].Reason != lake.ReasonPartial {
		t.Errorf("repaired: exit %d, reason %q", rep.ExitCode, rep.Days[1].Reason)
	}
	sameTables(t, "repaired", readTables(t, dest), expectedTables(m, days[0], days[1]))
}

// TestManifestBeforeSettings: day manifests written before they recorded the tail and the
// settings count as different: the days run again, and the tables become right.
func TestManifestBeforeSettings(t *testing.T) {
	src, m, days := redelivering(t)
	dest := t.TempDir()
	run(t, src, dest, days[0], days[2], nil)
	for _, d := range days[:3] {
		p := filepath.Join(dest, filepath.FromSlash(lake.ManifestKey(d)))
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var man map[string]any
		if err := json.Unmarshal(b, &man); err != nil {
			t.Fatal(err)
		}
		delete(man, "tail")
		delete(man, "settings")
		delete(man, "fingerprint")
		b, _ = json.Marshal(man)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rep := run(t, src, dest, days[0], days[2], nil)
	if rep.DaysWritten != 3 {
		t.Errorf("old manifests: %d days written, want 3", rep.DaysWritten)
	}
	for _, d := range rep.Days {
		if d.Reason != lake.ReasonSettingsChanged {
			t.Errorf("old manifest of %s: reason %q", d.DeliveryDay, d.Reason)
		}
	}
	sameTables(t, "old manifests", readTables(t, dest), expectedTables(m, days[0], days[2]))
	if rep = run(t, src, dest, days[0], days[2], nil); rep.DaysUnchanged != 3 {
		t.Errorf("third run: %d unchanged, want 3", rep.DaysUnchanged)
	}
}

// TestMistypedEventSource: a run with a mistyped --event-source writes days with no rows;
// the corrected run writes them again, with the rows.
func TestMistypedEventSource(t *testing.T) {
	src, m, days := redelivering(t)
	dest := t.TempDir()
	rep := run(t, src, dest, days[0], days[1], func(c *pipeline.Config) {
		c.EventSources = []string{"metering-marketplac.amazonaws.com"}
	})
	if rep.Totals.RowsWritten["events"] != 0 || rep.DaysWritten != 2 {
		t.Fatalf("mistyped: %d rows, %d days", rep.Totals.RowsWritten["events"], rep.DaysWritten)
	}
	rep = run(t, src, dest, days[0], days[1], nil)
	if rep.DaysWritten != 2 || rep.Days[0].Reason != lake.ReasonSettingsChanged {
		t.Errorf("corrected: %d days written (reason %q), want 2", rep.DaysWritten, rep.Days[0].Reason)
	}
	sameTables(t, "corrected", readTables(t, dest), expectedTables(m, days[0], days[1]))
	// The same sources in another order are the same settings.
	rep = run(t, src, dest, days[0], days[1], func(c *pipeline.Config) {
		c.EventSources = []string{"b.amazonaws.com", "a.amazonaws.com"}
	})
	if rep = run(t, src, dest, days[0], days[1], func(c *pipeline.Config) {
		c.EventSources = []string{"a.amazonaws.com", "b.amazonaws.com", "a.amazonaws.com"}
	}); rep.DaysUnchanged != 2 {
		t.Errorf("event sources reordered: %d unchanged, want 2", rep.DaysUnchanged)
	}
}

// TestDamagedDestination: a day whose published files were deleted, truncated or replaced
// behind marketrail's back is not unchanged: the next run writes it again (outputs_changed),
// or, when a partition folder was replaced by a file, fails naming it and leaves the day
// unfinished, never skipped.
func TestDamagedDestination(t *testing.T) {
	from, to, clean := cleanRun(t)
	want := rows(t, clean)
	mid := from.AddDays(1)
	for _, damage := range []string{"deleted", "truncated", "folder replaced"} {
		t.Run(damage, func(t *testing.T) {
			dest := t.TempDir()
			run(t, sample, dest, from, to, nil)
			man, err := (&lake.Writer{Dest: open(t, dest, false)}).ReadManifest(context.Background(), mid)
			if err != nil || man == nil {
				t.Fatal(err)
			}
			var victim string
			for _, f := range man.Files {
				if strings.HasPrefix(f, "events/") {
					victim = filepath.Join(dest, filepath.FromSlash(f))
					break
				}
			}
			switch damage {
			case "deleted":
				os.Remove(victim)
			case "truncated":
				os.Truncate(victim, 100)
			case "folder replaced":
				dir := filepath.Dir(victim)
				os.RemoveAll(dir)
				os.WriteFile(dir, []byte("not a folder"), 0o644)
			}
			if damage == "folder replaced" {
				_, err := runErr(sample, dest, from, to, nil)
				if err == nil || !strings.Contains(err.Error(), filepath.Base(filepath.Dir(victim))) {
					t.Fatalf("run over a partition folder replaced by a file: %v; want an error naming it", err)
				}
				// Days publish one at a time: the failing run may have stopped at the day
				// before (whose partition folder is the same) without touching this one's
				// manifest; if it wrote it, it must not say complete.
				after, _ := (&lake.Writer{Dest: open(t, dest, false)}).ReadManifest(context.Background(), mid)
				if after == nil || after.State == lake.StateComplete && !reflect.DeepEqual(after, man) {
					t.Errorf("the day is recorded complete after failing: %+v", after)
				}
				return
			}
			rep := run(t, sample, dest, from, to, nil)
			if rep.DaysWritten != 1 || rep.Days[1].Reason != lake.ReasonOutputsChanged {
				t.Fatalf("after the file was %s: %d days written, reason %q; want the middle day, outputs_changed", damage, rep.DaysWritten, rep.Days[1].Reason)
			}
			if got := rows(t, dest); !slices.Equal(got, want) {
				t.Errorf("after the file was %s and the day written again: %d rows, want %d", damage, len(got), len(want))
			}
			if rep := run(t, sample, dest, from, to, nil); rep.DaysUnchanged != 3 {
				t.Errorf("once repaired: %d unchanged, want 3", rep.DaysUnchanged)
			}
		})
	}
}
