package pipeline_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marketrail/marketrail/internal/gentrail"
	"github.com/marketrail/marketrail/pkg/lake"
	"github.com/marketrail/marketrail/pkg/pipeline"
	"github.com/marketrail/marketrail/pkg/report"
	"github.com/marketrail/marketrail/pkg/storage"
	"github.com/marketrail/marketrail/pkg/trail"
)

// busyTrail generates two delivery days of some 3,500 Marketplace events each, with
// duplicates across trails and redeliveries across midnight.
func busyTrail(t *testing.T) (dir string, m *gentrail.Manifest, from, to trail.Day) {
	t.Helper()
	dir = t.TempDir()
	m, err := gentrail.Generate(dir, gentrail.Config{
		Seed: 12, Start: time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC), Days: 2,
		Accounts: 3, Regions: 2, Files: 80, RecordsPerFile: 100,
		MarketplaceRatio: 0.9, DecoyRatio: 0.02, Redeliveries: 0.5,
	})
	if err != nil {
		t.Fatal(err)
	}
	from, _ = trail.ParseDay(m.Window.From)
	to, _ = trail.ParseDay(m.Window.To)
	return dir, m, from, to
}

// scratchDir points $TMPDIR at a fresh folder for the test and returns it.
func scratchDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	return dir
}

// leftInScratch fails the test if the folder holds anything.
func leftInScratch(t *testing.T, what, dir string) {
	t.Helper()
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		var names []string
		for _, e := range left {
			names = append(names, e.Name())
		}
		t.Errorf("%s: %d temporary files left in $TMPDIR: %s", what, len(left), strings.Join(names, " "))
	}
}

// spilledRows reports whether a day's events are spilled in dir now.
func spilledRows(dir string) bool {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".marketrail-rows-") {
			return true
		}
	}
	return false
}

// TestBusyDaySpilled: busy days, whose events wait on disk until published (and whose files
// are split, 1,000 rows a file), give the generator's events and metering sums, read back
// with DuckDB; the spill files are gone afterwards.
func TestBusyDaySpilled(t *testing.T) {
	src, m, from, to := busyTrail(t)
	scratch := scratchDir(t)
	dest := t.TempDir()
	var sawSpill bool
	rep := run(t, src, dest, from, to, func(c *pipeline.Config) {
		c.MaxRowsFile = 1000
		c.Hook = func(point string) {
			if point == lake.HookUpload && spilledRows(scratch) {
				sawSpill = true
			}
		}
	})
	if !sawSpill {
		t.Error("no spill file of a day's events was seen while the day was written")
	}
	if rep.Totals.RowsWritten["events"] < 5000 || rep.Totals.DuplicatesDropped == 0 || rep.Totals.RedeliveriesDropped == 0 {
		t.Errorf("%d events, %d duplicates, %d redeliveries: the trail tests too little",
			rep.Totals.RowsWritten["events"], rep.Totals.DuplicatesDropped, rep.Totals.RedeliveriesDropped)
	}
	sameTables(t, "busy days", readTables(t, dest), expectedTables(m, from, to))
	leftInScratch(t, "after a run", scratch)
}

// failingDest fails every Put of a Parquet file.
type failingDest struct{ storage.Storage }

var errDestBroken = errors.New("destination broken")

func (f failingDest) Put(ctx context.Context, key string, r io.ReadSeeker, size int64) error {
	if strings.HasSuffix(key, ".parquet") {
		return errDestBroken
	}
	return f.Storage.Put(ctx, key, r, size)
}

// TestSpillRemovedOnFailure: a run that fails or is cancelled while its days' events are
// spilled (writing them, or still reading) leaves no temporary file behind.
func TestSpillRemovedOnFailure(t *testing.T) {
	src, _, from, to := busyTrail(t)
	for _, how := range []string{"destination fails", "cancelled while writing", "worker panics while reading"} {
		t.Run(how, func(t *testing.T) {
			scratch := scratchDir(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var mu sync.Mutex
			reads, sawSpill := 0, false
			cfg := pipeline.Config{
				Source: open(t, src, false), Dest: open(t, t.TempDir(), true), From: from, To: to, NoLease: true,
				Version: "test", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			}
			switch how {
			case "destination fails":
				cfg.Dest = failingDest{cfg.Dest}
			case "cancelled while writing":
				cfg.Hook = func(point string) {
					if point == lake.HookUpload {
						mu.Lock()
						sawSpill = sawSpill || spilledRows(scratch)
						mu.Unlock()
						cancel()
					}
				}
			case "worker panics while reading":
				cfg.Workers = 1
				cfg.Hook = func(point string) {
					if point == pipeline.HookRead {
						mu.Lock()
						defer mu.Unlock()
						if reads++; reads == 60 { // mid-run: the second day is being read
							sawSpill = spilledRows(scratch)
							panic("injected")
						}
					}
				}
			}
			_, err := pipeline.Run(ctx, cfg)
			if err == nil {
				t.Fatal("the run did not fail")
			}
			if how != "destination fails" && !sawSpill {
				t.Error("no spill file of a day's events was seen before the run failed: the test tests nothing")
			}
			leftInScratch(t, "after "+how, scratch)
		})
	}
}

// busyMemoryLimit is what TestBusyDayMemory allows the run's peak resident memory: the
// target of issue 12 for a run at default settings, whatever the day's volume.
const busyMemoryLimit = 200 << 20

// TestBusyDayMemory: one delivery day of some 50,000 Marketplace records (40,000 events
// written), read at default settings (GOMAXPROCS=2) by the marketrail binary, peaks under
// 200 MiB of resident memory. Kept in memory until published, as before the day's events
// were spilled to disk, they made the peak grow by about 6 KB each: such a day peaked at
// 349 MiB then (105 MiB since). The day's spill files are gone afterwards; a run of the same
// day killed while writing it leaves only files named .marketrail-* in $TMPDIR.
func TestBusyDayMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds the binary and reads 200 MB of JSON")
	}
	bin := buildMeasured(t)
	src, dest, scratch := t.TempDir(), t.TempDir(), t.TempDir()
	m, err := gentrail.Generate(src, gentrail.Config{
		Seed: 13, Start: time.Date(2024, 7, 1, 0, 0, 0, 0, time.UTC), Days: 1,
		Accounts: 4, Regions: 2, Files: 400, RecordsPerFile: 250, MarketplaceRatio: 0.5, FastGzip: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	rep, kb := measuredRun(t, bin, scratch, src, dest, m.Window.From, m.Window.To)
	t.Logf("%d Marketplace records, %d events written: peak resident memory %d MiB", rep.Totals.EventsMatched, rep.Totals.RowsWritten["events"], kb>>10)
	if rep.ExitCode != report.ExitOK || rep.Totals.EventsMatched != int64(len(m.Copies)) || rep.Totals.EventsMatched < 45_000 {
		t.Fatalf("exit %d, %d records matched; want 0 and the manifest's %d (at least 45,000)", rep.ExitCode, rep.Totals.EventsMatched, len(m.Copies))
	}
	if kb<<10 > busyMemoryLimit {
		t.Errorf("peak resident memory %d MiB, want at most %d MiB", kb>>10, busyMemoryLimit>>20)
	}
	leftInScratch(t, "after the run", scratch)

	// Killed (SIGKILL) while it writes the day's large files, a run leaves only files named
	// .marketrail-* in $TMPDIR: nothing else of the machine's temporary folder is its.
	killed := exec.Command(filepath.Join(bin, "marketrail"), "run", "--source", src, "--dest", t.TempDir(),
		"--from", m.Window.From, "--to", m.Window.To, "--progress", "off")
	killed.Env = append(os.Environ(), "TMPDIR="+scratch, "GOMAXPROCS=2")
	if err := killed.Start(); err != nil {
		t.Fatal(err)
	}
	writing := func() bool {
		entries, _ := os.ReadDir(scratch)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".marketrail-pages-") {
				return true
			}
		}
		return false
	}
	deadline := time.Now().Add(2 * time.Minute)
	for !writing() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	killed.Process.Kill()
	killed.Wait()
	entries, _ := os.ReadDir(scratch)
	if len(entries) == 0 {
		t.Fatal("the killed run left nothing in $TMPDIR: it was not killed while writing the day")
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".marketrail-") {
			t.Errorf("the killed run left %s in $TMPDIR, not named .marketrail-*", e.Name())
		}
	}
}
