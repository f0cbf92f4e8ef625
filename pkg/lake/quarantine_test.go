package lake_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/marketrail/marketrail/pkg/lake"
)

func TestOneLine(t *testing.T) {
	for in, want := range map[string]string{
		`{"a":1}`:                       `{"a":1}`,
		"{\n\t\"a\": 1\r\n}":            "{ \t\"a\": 1  }",
		"{\"s\":\"x\ny\r\"}":            `{"s":"x\ny\r"}`,
		"{\"s\":\"q\\\"\n\",\n\"t\":1}": `{"s":"q\"\n", "t":1}`,
		"{\"s\":\"\\\\\"\n}":            `{"s":"\\" }`,
		"{\"bad\":\"\xff\x00\"}":        "{\"bad\":\"\xff\x00\"}",
		"":                              "",
	} {
		if got := string(lake.OneLine([]byte(in))); got != want {
			t.Errorf("OneLine(%q) = %q, want %q", in, got, want)
		}
	}
}

// The quarantine file is published with the day's files: listed in the manifest, not counted
// in the partitions, replaced by a re-run and removed when the day has none any more.
func TestQuarantineFile(t *testing.T) {
	dest, dir := localDest(t)
	w := &lake.Writer{Dest: dest, Version: "test"}
	ctx := context.Background()
	d := dayOf("2024-03-01")
	recs := [][]byte{[]byte("{\n\"a\":\"x\ny\"}"), []byte("{\"b\":\"\xff\"}")}
	lines := func() io.Reader {
		var b bytes.Buffer
		for _, rec := range recs {
			b.Write(lake.OneLine(rec))
			b.WriteByte('\n')
		}
		return &b
	}
	res, err := w.PublishDay(ctx, d, nil, true, lake.Quarantine(len(recs), lines), rowsTable(mk("r1", "2024-03-01", 1)))
	if err != nil {
		t.Fatal(err)
	}
	key := lake.QuarantineKey(d)
	if key != "_marketrail/quarantine/2024-03-01.jsonl.gz" || !slices.Contains(res.Files, key) || len(res.Rows) != 1 || res.Rows["t"]["2024-03-01"] != 1 {
		t.Errorf("files %q, rows %v", res.Files, res.Rows)
	}
	m, _ := w.ReadManifest(ctx, d)
	if !slices.Contains(m.Files, key) {
		t.Errorf("manifest files %q", m.Files)
	}
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(key)))
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(zr)
	if want := "{ \"a\":\"x\\ny\"}\n{\"b\":\"\xff\"}\n"; string(text) != want {
		t.Errorf("quarantine file %q, want %q", text, want)
	}
	if _, err := w.PublishDay(ctx, d, nil, true, lake.Quarantine(0, nil), rowsTable(mk("r1", "2024-03-01", 1))); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(key))); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a re-run without quarantined records left the file: %v", err)
	}
}

// Partition folders come only from a trail.Day, formatted as digits: whatever time a row
// has, its file lands in TABLE/event_date=YYYY-MM-DD/.
func TestPartitionsAreDates(t *testing.T) {
	dest, dir := localDest(t)
	w := &lake.Writer{Dest: dest, Version: "test"}
	times := []time.Time{
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(2024, 2, 29, 23, 59, 59, 0, time.FixedZone("x", -14*3600)), // next day in UTC
		{},
	}
	var rows []row
	for i, tm := range times {
		rows = append(rows, row{ID: strings.Repeat("../", i+1), Time: tm})
	}
	res, err := w.PublishDay(context.Background(), dayOf("2024-03-01"), nil, true, rowsTable(rows...))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^t/event_date=\d{4}-\d{2}-\d{2}/2024-03-01\.parquet$`)
	for _, f := range res.Files {
		if !re.MatchString(f) {
			t.Errorf("file %s is not in a date partition", f)
		}
	}
	if got := files(t, dir); !slices.Equal(got, res.Files) || !slices.Contains(got, "t/event_date=2024-03-01/2024-03-01.parquet") {
		t.Errorf("folder holds %q, published %q", got, res.Files)
	}
}
