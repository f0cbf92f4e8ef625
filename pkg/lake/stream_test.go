package lake_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/marketrail/marketrail/pkg/lake"
	"github.com/marketrail/marketrail/pkg/trail"
)

// streamOf returns rows as a streamed table: its partitions counted from rows, and a
// RowSource that sorts a copy of them (as NewTable does) and emits the range asked for.
func streamOf(rows []row) lake.Table {
	sorted := slices.Clone(rows)
	slices.SortStableFunc(sorted, func(a, b row) int {
		if c := strings.Compare(rowDate(&a).String(), rowDate(&b).String()); c != 0 {
			return c
		}
		return rowCompare(&a, &b)
	})
	counts := map[trail.Day]int{}
	for i := range sorted {
		counts[rowDate(&sorted[i])]++
	}
	var parts []lake.Partition
	for d, n := range counts {
		parts = append(parts, lake.Partition{Date: d, Rows: n})
	}
	return lake.NewStreamTable("t", parts, func(p trail.Day, from, to int, emit func(*row) error) error {
		k := 0
		for i := range sorted {
			if rowDate(&sorted[i]) != p {
				continue
			}
			if k >= from && k < to {
				r := sorted[i]
				if err := emit(&r); err != nil {
					return err
				}
			}
			k++
		}
		return nil
	}, "time")
}

// publishFiles publishes tables for delivery day d into a fresh folder, staging in stage,
// and returns the files' bytes by key, and the result.
func publishFiles(t *testing.T, d trail.Day, maxRows int, stage string, tables ...lake.Table) (map[string][]byte, lake.Result) {
	t.Helper()
	dest, dir := localDest(t)
	w := &lake.Writer{Dest: dest, Version: "test", MaxRowsPerFile: maxRows, TempDir: stage}
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

// TestStreamTableSameFiles: a streamed table writes the files NewTable writes from the same
// rows, byte for byte, split by MaxRowsPerFile alike, including files large enough to keep
// their pages in temporary files (which are gone afterwards).
func TestStreamTableSameFiles(t *testing.T) {
	d := dayOf("2024-03-02")
	var rows []row
	for i := range 25_000 { // the delivery day's partition gets more than 10,000 rows a file
		day, hour := "2024-03-02", (i*7)%24
		if i%5 == 0 {
			day = "2024-03-01"
		}
		rows = append(rows, mk(fmt.Sprintf("id-%05d", (i*7919)%25_000), day, hour))
	}
	for _, maxRows := range []int{lake.DefaultMaxRowsPerFile, 12_000, 999} {
		stage := t.TempDir()
		want, wantRes := publishFiles(t, d, maxRows, stage, rowsTable(slices.Clone(rows)...))
		got, gotRes := publishFiles(t, d, maxRows, stage, streamOf(rows))
		if fmt.Sprint(gotRes.Rows) != fmt.Sprint(wantRes.Rows) || len(got) != len(want) {
			t.Fatalf("%d rows a file: %d files, rows %v; NewTable: %d files, rows %v", maxRows, len(got), gotRes.Rows, len(want), wantRes.Rows)
		}
		for k, b := range want {
			if !bytes.Equal(got[k], b) {
				t.Errorf("%d rows a file: %s differs from NewTable's (%d bytes, want %d)", maxRows, k, len(got[k]), len(b))
			}
		}
		if left, _ := os.ReadDir(stage); len(left) != 0 {
			t.Errorf("%d rows a file: %d temporary files left, %s first", maxRows, len(left), left[0].Name())
		}
	}
}

// TestStreamTableWrongCount: a RowSource that gives more or fewer rows than planned, or
// fails, fails the day's publishing and leaves no temporary file.
func TestStreamTableWrongCount(t *testing.T) {
	d := dayOf("2024-03-02")
	boom := errors.New("boom")
	for _, tt := range []struct {
		name  string
		rows  int
		err   error
		wants string
	}{
		{"fewer", 2, nil, "2 rows, not the 3 planned"},
		{"more", 4, nil, "more than the 3 rows planned"},
		{"failed", 1, boom, "boom"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			table := lake.NewStreamTable("t", []lake.Partition{{Date: d, Rows: 3}}, func(p trail.Day, from, to int, emit func(*row) error) error {
				for i := range tt.rows {
					r := mk(fmt.Sprint(i), "2024-03-02", i)
					if err := emit(&r); err != nil {
						return err
					}
				}
				return tt.err
			}, "time")
			dest, _ := localDest(t)
			stage := t.TempDir()
			w := &lake.Writer{Dest: dest, Version: "test", TempDir: stage}
			_, err := w.PublishDay(context.Background(), d, nil, true, table)
			if err == nil || !strings.Contains(err.Error(), tt.wants) {
				t.Errorf("PublishDay: %v; want an error with %q", err, tt.wants)
			}
			if left, _ := os.ReadDir(stage); len(left) != 0 {
				t.Errorf("%d temporary files left, %s first", len(left), left[0].Name())
			}
		})
	}
}
