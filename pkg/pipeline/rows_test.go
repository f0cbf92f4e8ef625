package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/marketrail/marketrail/internal/gentrail"
	"github.com/marketrail/marketrail/pkg/lake"
	"github.com/marketrail/marketrail/pkg/marketplace"
	"github.com/marketrail/marketrail/pkg/storage"
	"github.com/marketrail/marketrail/pkg/trail"
)

// extracted is one log file of a generated archive, read by an Extractor.
type extracted struct {
	key string
	day trail.Day
	res *FileResult
}

// extractAll reads every log file under dir with one Extractor, in key order.
func extractAll(t *testing.T, dir string) []extracted {
	t.Helper()
	x := NewExtractor(nil)
	var out []extracted
	err := filepath.WalkDir(filepath.Join(dir, "AWSLogs"), func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || !strings.HasSuffix(p, ".json.gz") {
			return err
		}
		key := filepath.ToSlash(strings.TrimPrefix(p, dir+string(filepath.Separator)))
		k, err := trail.ParseKey(key)
		if err != nil || k.Kind != trail.KindLogs {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		x.SetDeliveryDay(k.Day)
		res, err := x.Extract(f, key)
		if err != nil {
			return err
		}
		out = append(out, extracted{key, k.Day, res})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// inMemory is how publish made a day's tables before dayRows, from the decoded events of
// the day's files: all events in key order, DropTail, Dedup, then lake.NewTable with
// compareEvents and compareMetering. dayRows must give the same files.
func inMemory(files []extracted, tail map[string]struct{}) (tables []lake.Table, redelivered, dropped int, unknown map[string]map[string]int64, repaired, unparsed int64) {
	var all []marketplace.Event
	for _, f := range files {
		all = append(all, slices.Clone(f.res.Events)...)
	}
	slices.SortStableFunc(all, func(a, b marketplace.Event) int { return strings.Compare(a.SourceKey, b.SourceKey) })
	all, redelivered = DropTail(all, tail)
	events, dropped := Dedup(all)
	var metering []marketplace.MeteringRecord
	for i := range events {
		metering = append(metering, events[i].Metering...)
		if events[i].Notes.InvalidUTF8 {
			repaired++
		}
		unparsed += int64(events[i].Notes.UnparsedUsage)
	}
	return []lake.Table{
		lake.NewTable(marketplace.TableEvents, events, (*marketplace.Event).EventDate, compareEvents, "event_time"),
		lake.NewTable(marketplace.TableMetering, metering, (*marketplace.MeteringRecord).EventDate, compareMetering, "event_time"),
	}, redelivered, dropped, unknownOperations(events), repaired, unparsed
}

// publishTo writes a day's tables into a fresh folder and returns each file's bytes by key.
func publishTo(t *testing.T, d trail.Day, maxRows int, tables ...lake.Table) (map[string][]byte, lake.Result) {
	t.Helper()
	dir := t.TempDir()
	dest, err := storage.OpenLocal(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	defer dest.Close()
	w := &lake.Writer{Dest: dest, Version: "test", MaxRowsPerFile: maxRows, TempDir: t.TempDir()}
	res, err := w.PublishDay(context.Background(), d, nil, true, tables...)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, k := range res.Files {
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(k)))
		if err != nil {
			t.Fatal(err)
		}
		out[k] = b
	}
	return out, res
}

// TestDayRowsSameFiles: a day's events spilled to disk and streamed back (dayRows), or kept
// decoded as a quiet day's are, give the same Parquet files, byte for byte, as the in-memory
// tables publish made before, and the same report counts: with redeliveries, duplicates across trails, events without an
// eventID, late events in the day before's partition, a digest state on some files,
// results arriving in any order, and files split by MaxRowsPerFile.
func TestDayRowsSameFiles(t *testing.T) {
	cfg := gentrail.Sample()
	cfg.Seed, cfg.FilesPerFolder, cfg.RecordsPerFile, cfg.Redeliveries = 5, 3, 60, 0.5
	dir := t.TempDir()
	if _, err := gentrail.Generate(dir, cfg); err != nil {
		t.Fatal(err)
	}
	all := extractAll(t, dir)
	verified, mismatch := "verified", "hash_mismatch"
	for i := range all {
		for j := range all[i].res.Events { // as process does with --verify-digests
			e := &all[i].res.Events[j]
			state := &verified
			if i%5 == 0 {
				state = &mismatch
			}
			e.SourceDigest = state
			for k := range e.Metering {
				e.Metering[k].SourceDigest = state
			}
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	var totalRedelivered, totalDropped, totalFiles int
	for _, d := range trail.Range(trail.DayOf(cfg.Start), trail.DayOf(cfg.Start).AddDays(cfg.Days-1)) {
		var files []extracted
		tail := map[string]struct{}{}
		for _, f := range all {
			switch {
			case f.day == d:
				files = append(files, f)
			case f.day == d.AddDays(-1) && trail.InTail(filepath.Base(f.key), f.day):
				for _, e := range f.res.Events {
					if e.EventID != nil {
						tail[*e.EventID] = struct{}{}
					}
				}
			}
		}
		files = append(files, tiedFiles(t, d)...)
		for _, tc := range []struct {
			maxRows  int
			inMemory int64 // dayRows.inMemory: all spilled, some kept then all spilled, all kept
		}{{lake.DefaultMaxRowsPerFile, 0}, {7, 0}, {lake.DefaultMaxRowsPerFile, 40_000}, {7, 40_000}, {lake.DefaultMaxRowsPerFile, 1 << 40}, {7, 1 << 40}} {
			maxRows := tc.maxRows
			tables, redelivered, dropped, unknown, repaired, unparsed := inMemory(files, tail)
			want, wantRes := publishTo(t, d, maxRows, tables...)

			rows := newDayRows(tc.inMemory)
			shuffled := slices.Clone(files)
			r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			for _, f := range shuffled {
				if err := rows.add(f.key, f.res, true); err != nil {
					t.Fatal(err)
				}
			}
			kept := 0
			for _, e := range rows.index {
				if e.ev != nil {
					kept++
				}
			}
			if all := tc.inMemory > 1<<30; all && kept != len(rows.index) || !all && kept != 0 {
				t.Errorf("day %s, keeping up to %d bytes: %d of %d decoded events kept", d, tc.inMemory, kept, len(rows.index))
			}
			gotRedelivered, gotDropped := rows.dedup(tail)
			rows.sortForTables()
			notes := rows.notes()
			gotUnknown, gotRepaired, gotUnparsed := notes.unknown, notes.repaired, notes.unparsed
			ev, m := rows.tables()
			got, gotRes := publishTo(t, d, maxRows, ev, m)
			spill := rows.f.Name()
			rows.remove()
			if _, err := os.Stat(spill); !os.IsNotExist(err) {
				t.Errorf("the spill file %s is still there after remove: %v", spill, err)
			}

			if gotRedelivered != redelivered || gotDropped != dropped || gotRepaired != repaired || gotUnparsed != unparsed || !reflect.DeepEqual(gotUnknown, unknown) {
				t.Errorf("day %s: redelivered %d, duplicates %d, repaired %d, unparsed %d, unknown %v; in memory %d, %d, %d, %d, %v",
					d, gotRedelivered, gotDropped, gotRepaired, gotUnparsed, gotUnknown, redelivered, dropped, repaired, unparsed, unknown)
			}
			if !reflect.DeepEqual(gotRes.Rows, wantRes.Rows) {
				t.Errorf("day %s, %d rows a file: rows %v, in memory %v", d, maxRows, gotRes.Rows, wantRes.Rows)
			}
			if !slices.Equal(mapsKeys(got), mapsKeys(want)) {
				t.Fatalf("day %s, %d rows a file: files %v, in memory %v", d, maxRows, mapsKeys(got), mapsKeys(want))
			}
			for k, b := range want {
				if !bytes.Equal(got[k], b) {
					t.Errorf("day %s, %d rows a file, keeping up to %d bytes: %s differs from the in-memory file (%d bytes, want %d)", d, maxRows, tc.inMemory, k, len(got[k]), len(b))
				}
			}
			totalRedelivered, totalDropped, totalFiles = totalRedelivered+redelivered, totalDropped+dropped, totalFiles+len(want)
		}
	}
	if totalRedelivered == 0 || totalDropped == 0 || totalFiles < 20 {
		t.Errorf("%d redelivered, %d duplicates, %d files: the archive tests too little", totalRedelivered, totalDropped, totalFiles)
	}
}

// tiedFiles returns two log files of delivery day d read by an Extractor, whose events share
// a few eventTimes (so the tables' order falls to source key and record), with metering
// rows, and some eventIDs in both.
func tiedFiles(t *testing.T, d trail.Day) []extracted {
	t.Helper()
	x := NewExtractor(nil)
	x.SetDeliveryDay(d)
	var out []extracted
	for f := range 2 {
		var b strings.Builder
		b.WriteString(`{"Records":[`)
		for i := range 30 {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"eventVersion":"1.08","eventTime":"%sT0%d:00:00Z","eventSource":"metering-marketplace.amazonaws.com","eventName":"BatchMeterUsage",`+
				`"awsRegion":"us-east-1","eventID":"tied-%d","requestParameters":{"productCode":"p%d","usageRecords":[`+
				`{"customerIdentifier":"c%d","dimension":"d","quantity":%d,"timestamp":"Mar 1, 2024 3:04:05 PM"},`+
				`{"customerIdentifier":"c%d","dimension":"e","quantity":1,"timestamp":"Mar 1, 2024 3:04:05 PM"}]},"responseElements":null}`,
				d, i%3, f*20+i, f, i, i, i)
		}
		b.WriteString(`]}`)
		key := fmt.Sprintf("AWSLogs/111122223333/CloudTrail/us-east-1/%s/111122223333_CloudTrail_us-east-1_%sT1200Z_tied%d.json.gz", d.Path(), strings.ReplaceAll(d.String(), "-", ""), f)
		res, err := x.Extract(strings.NewReader(b.String()), key)
		if err != nil || len(res.Events) != 30 {
			t.Fatalf("tied file %d: %v, %d events", f, err, len(res.Events))
		}
		out = append(out, extracted{key, d, res})
	}
	return out
}

// mapsKeys returns m's keys, sorted.
func mapsKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// TestDayRowsBadSpill: a spill file changed under the run fails the day's publishing
// instead of writing other rows.
func TestDayRowsBadSpill(t *testing.T) {
	cfg := gentrail.Sample()
	dir := t.TempDir()
	if _, err := gentrail.Generate(dir, cfg); err != nil {
		t.Fatal(err)
	}
	d := trail.DayOf(cfg.Start)
	var rows dayRows
	defer rows.remove()
	for _, f := range extractAll(t, dir) {
		if f.day == d {
			if err := rows.add(f.key, f.res, false); err != nil {
				t.Fatal(err)
			}
		}
	}
	rows.dedup(nil)
	rows.sortForTables()
	if err := rows.f.Truncate(rows.size / 2); err != nil {
		t.Fatal(err)
	}
	ev, m := rows.tables()
	dest, err := storage.OpenLocal(t.TempDir(), true)
	if err != nil {
		t.Fatal(err)
	}
	defer dest.Close()
	w := &lake.Writer{Dest: dest, Version: "test", TempDir: t.TempDir()}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := w.PublishDay(ctx, d, nil, true, ev, m); err == nil || !strings.Contains(err.Error(), "read back record") {
		t.Errorf("publishing from a truncated spill file: %v; want an error reading it back", err)
	}
}
