package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/marketrail/marketrail/pkg/lake"
	"github.com/marketrail/marketrail/pkg/storage"
	"github.com/marketrail/marketrail/pkg/trail"
)

// sizeRow is a two-column table for TestSizes: one plain column, one dictionary column.
type sizeRow struct {
	ID   string    `parquet:"id"`
	Kind string    `parquet:"kind,dict"`
	Time time.Time `parquet:"time,timestamp(millisecond)"`
}

// TestSizes: the sizes report of a lake gives each table's file count, rows and bytes as the
// files on disk have them, and a line per column with its encodings.
func TestSizes(t *testing.T) {
	dir := t.TempDir()
	dest, err := storage.OpenLocal(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	defer dest.Close()
	day, _ := trail.ParseDay("2024-03-01")
	rows := make([]sizeRow, 100)
	for i := range rows {
		rows[i] = sizeRow{ID: fmt.Sprint("id-", i), Kind: []string{"a", "b"}[i%2], Time: day.Time().Add(time.Duration(i) * time.Hour)}
	}
	w := &lake.Writer{Dest: dest, Version: "test", TempDir: t.TempDir()}
	if _, err := w.PublishDay(context.Background(), day, nil, true, lake.NewTable("t", rows,
		func(r *sizeRow) trail.Day { return trail.DayOf(r.Time) },
		func(a, b *sizeRow) int { return a.Time.Compare(b.Time) }, "time")); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "t", "*", "*.parquet"))
	var total int64
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		total += st.Size()
	}
	if len(files) != 5 { // 100 hours from midnight: five days
		t.Fatalf("%d files", len(files))
	}
	var out bytes.Buffer
	if err := sizes(&out, dir, []string{"t"}); err != nil {
		t.Fatal(err)
	}
	report := out.String()
	for _, want := range []string{
		fmt.Sprintf("**t**: 5 files, 100 rows, %d bytes of Parquet\n", total),
		"| id | ", "| kind | ", "RLE_DICTIONARY |\n", "| time | ",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("no %q in the report:\n%s", want, report)
		}
	}
	if err := sizes(&out, dir, []string{"missing"}); err == nil {
		t.Error("a table with no files must be an error")
	}
}
