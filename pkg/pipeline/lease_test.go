package pipeline_test

import (
	"context"
	"errors"
	"io"
	"iter"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/marketrail/marketrail/pkg/lake"
	"github.com/marketrail/marketrail/pkg/pipeline"
	"github.com/marketrail/marketrail/pkg/report"
	"github.com/marketrail/marketrail/pkg/storage"
	"github.com/marketrail/marketrail/pkg/trail"
)

// TestHeldDayReported: a day another run holds throughout the wait is reported held, with
// its holder, is not written, and makes the run exit 3; the other days are written and no
// lease is left. Once the other run lets go, the next run writes the day.
func TestHeldDayReported(t *testing.T) {
	from, to, clean := cleanRun(t)
	dest := t.TempDir()
	held := from.AddDays(1)
	ls, l := holdDay(t, dest, held)
	rep := run(t, sample, dest, from, to, func(c *pipeline.Config) { c.LeaseTTL, c.LeaseWait = time.Second, 300*time.Millisecond })
	if rep.ExitCode != report.ExitObjectsFail || rep.Status != report.StatusDaysHeld || rep.DaysHeld != 1 {
		t.Fatalf("exit %d, status %s, %d days held", rep.ExitCode, rep.Status, rep.DaysHeld)
	}
	for _, d := range rep.Days {
		isHeld := d.DeliveryDay == held.String()
		if isHeld != (d.Action == report.ActionHeld) || isHeld && (d.HeldBy != ls.Holder() || d.Reason != lake.ReasonHeld) {
			t.Errorf("day %s: action %s, reason %s, held by %q", d.DeliveryDay, d.Action, d.Reason, d.HeldBy)
		}
	}
	if _, err := os.Stat(filepath.Join(dest, filepath.FromSlash(lake.ManifestKey(held)))); err == nil {
		t.Errorf("the held day was written")
	}
	leases, _ := os.ReadDir(filepath.Join(dest, filepath.FromSlash(lake.LeaseDir)))
	if len(leases) != 1 {
		t.Errorf("%d leases in the destination, want only the other run's", len(leases))
	}
	if err := l.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	rep = run(t, sample, dest, from, to, nil)
	if rep.ExitCode != 0 || rep.DaysWritten != 1 {
		t.Fatalf("after the other run let go: exit %d, %d days written", rep.ExitCode, rep.DaysWritten)
	}
	if !slices.Equal(rows(t, dest), rows(t, clean)) {
		t.Errorf("rows differ from a clean run")
	}
	if leases, _ := os.ReadDir(filepath.Join(dest, filepath.FromSlash(lake.LeaseDir))); len(leases) != 0 {
		t.Errorf("leases left behind: %v", leases)
	}
}

// TestNoConditionalWritesRefused: a destination that cannot write conditionally is refused
// unless NoLease says to run without leases.
func TestNoConditionalWritesRefused(t *testing.T) {
	from, to := sampleWindow(t)
	dir := t.TempDir()
	dest, err := storage.OpenLocal(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	defer dest.Close()
	cfg := pipeline.Config{Source: open(t, sample, false), Dest: unconditional{dest}, From: from, To: to,
		Version: "test", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if _, err := pipeline.Run(context.Background(), cfg); !errors.Is(err, storage.ErrNoConditional) {
		t.Fatalf("a destination without conditional writes: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(lake.ManifestDir))); err == nil {
		t.Errorf("a refused run wrote a day")
	}
	cfg.NoLease = true
	rep, err := pipeline.Run(context.Background(), cfg)
	if err != nil || rep.ExitCode != 0 || rep.DaysWritten == 0 {
		t.Fatalf("with NoLease: %v, exit %d", err, rep.ExitCode)
	}
}

// unconditional hides a Storage's conditional writes.
type unconditional struct{ s storage.Storage }

func (u unconditional) List(ctx context.Context, prefix string, delim bool) iter.Seq2[storage.Entry, error] {
	return u.s.List(ctx, prefix, delim)
}
func (u unconditional) Load(ctx context.Context, key string, fn func(io.Reader) error) error {
	return u.s.Load(ctx, key, fn)
}
func (u unconditional) Put(ctx context.Context, key string, r io.ReadSeeker, size int64) error {
	return u.s.Put(ctx, key, r, size)
}
func (u unconditional) Delete(ctx context.Context, key string) error { return u.s.Delete(ctx, key) }
func (u unconditional) String() string                               { return u.s.String() }

// TestWaitedDayListedAfresh: the days' listings run ahead of their leases, so a day whose
// lease another run held, and that run's wait let new log files arrive, is listed again once
// the lease is taken: the new log file is read. (Without that, the listing made ahead would
// miss it, and the day would be written, and recorded complete, without it.)
func TestWaitedDayListedAfresh(t *testing.T) {
	from, _ := sampleWindow(t)
	src := copyTree(t, sample)
	dest := t.TempDir()
	held := from.AddDays(1)
	_, l := holdDay(t, dest, held)
	done := make(chan *report.Report)
	go func() {
		cfg := pipeline.Config{Source: open(t, src, false), Dest: open(t, dest, true), From: from, To: held,
			Version: "test", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), LeaseTTL: time.Second, LeaseWait: 20 * time.Second}
		rep, err := pipeline.Run(context.Background(), cfg)
		if err != nil {
			t.Error(err)
		}
		done <- rep
	}()
	// The first day's reading has the held day listed ahead meanwhile; then a log file
	// arrives in the held day, and the other run lets go.
	time.Sleep(time.Second)
	logs, err := filepath.Glob(filepath.Join(src, "AWSLogs", "*", "CloudTrail", "us-east-1", filepath.FromSlash(held.Path()), "*.json.gz"))
	if err != nil || len(logs) == 0 {
		t.Fatalf("no log file of %s in the sample: %v", held, err)
	}
	b, err := os.ReadFile(logs[0])
	if err != nil {
		t.Fatal(err)
	}
	late := logs[0][:len(logs[0])-len("XXXXXXXXXXXXXXXX.json.gz")] + "LateArrivalXXXXX.json.gz"
	if err := os.WriteFile(late, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	rep := <-done
	if rep == nil {
		t.FailNow()
	}
	want, _ := filepath.Rel(src, late)
	for _, d := range rep.Days {
		if d.DeliveryDay != held.String() {
			continue
		}
		m, err := (&lake.Writer{Dest: open(t, dest, false)}).ReadManifest(context.Background(), held)
		if err != nil || m == nil {
			t.Fatalf("manifest of %s: %v", held, err)
		}
		if !slices.ContainsFunc(m.Inputs, func(in lake.Input) bool { return in.Key == filepath.ToSlash(want) }) {
			t.Errorf("the held day was written from the listing made before its lease: %s is not among its %d inputs (%d log files read)", want, len(m.Inputs), d.LogFilesRead)
		}
		return
	}
	t.Errorf("no report of %s", held)
}

// holdDay takes delivery day d's lease in the destination folder dest as another run would
// (for an hour), and returns that run's leaser and the lease.
func holdDay(t *testing.T, dest string, d trail.Day) (*lake.Leaser, *lake.Lease) {
	t.Helper()
	ls, err := lake.NewLeaser(open(t, dest, true), lake.LeaseOptions{TTL: time.Hour, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	l, err := ls.Acquire(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	return ls, l
}
