package pipeline

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/marketrail/marketrail/pkg/extract"
	"github.com/marketrail/marketrail/pkg/report"
)

// TestSpill: quarantined records go to disk as they come (their bytes let go), and come
// back as the quarantine file's lines, log files in key order and each file's records in
// the order given, as often as they are read; remove deletes the file.
func TestSpill(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	q := func(key string, recs ...string) []Quarantined {
		var out []Quarantined
		for i, r := range recs {
			out = append(out, Quarantined{Failure: report.Failure{Key: key, Record: &i}, Raw: []byte(r)})
		}
		return out
	}
	var s spill
	if err := s.add("b.json.gz", nil, nil); err != nil || s.f != nil {
		t.Fatalf("add of no records: %v, file %v", err, s.f)
	}
	batches := []struct {
		key  string
		recs []Quarantined
	}{
		{"c.json.gz", q("c.json.gz", `{"c":0}`, "{\"c\":\n1}")},
		{"a.json.gz", q("a.json.gz", `{"a":"x\ny"}`)},
		{"b.json.gz", q("b.json.gz", `{"b":0}`, `{"b":1}`, `{}`)},
	}
	for _, b := range batches {
		if err := s.add(b.key, b.recs, nil); err != nil {
			t.Fatal(err)
		}
		for _, r := range b.recs {
			if r.Raw != nil {
				t.Fatalf("add kept the bytes of %s record %d", r.Key, *r.Record)
			}
		}
	}
	want := "{\"a\":\"x\\ny\"}\n" + "{\"b\":0}\n{\"b\":1}\n{}\n" + "{\"c\":0}\n{\"c\": 1}\n"
	for range 2 {
		got, err := io.ReadAll(s.lines())
		if err != nil || string(got) != want {
			t.Fatalf("lines = %q, %v; want %q", got, err, want)
		}
	}
	name := s.f.Name()
	if !strings.Contains(name, os.Getenv("TMPDIR")) {
		t.Errorf("spill file %s is not in TMPDIR", name)
	}
	s.remove()
	if _, err := os.Stat(name); !os.IsNotExist(err) {
		t.Errorf("after remove, the spill file is still there: %v", err)
	}
	s.remove() // a second remove is harmless
}

// TestSpillHeld: the Extractor writes a quarantined record over extract.LargeRecordSize
// straight to a file of its own (never copying it into the result), and the spill copies it
// from there in its place among the file's records; discard removes that file, and a file
// that fails leaves none behind.
func TestSpillHeld(t *testing.T) {
	scratch := t.TempDir()
	t.Setenv("TMPDIR", scratch)
	bad := func(id, pad string) string {
		return `{"eventSource":"metering-marketplace.amazonaws.com","eventID":"` + id + `","pad":"` + pad + `"}`
	}
	big := strings.Repeat("x", extract.LargeRecordSize)
	recs := []string{
		bad("small-1", ""),
		bad("large-1", big),
		`{"eventSource":"s3.amazonaws.com"}`,
		bad("small-2", "y"),
		"{\"eventSource\":\"metering-marketplace.amazonaws.com\",\n\"pad\":\"" + big + "\"}", // a line break to escape
		bad("small-3", "z"),
	}
	text := `{"Records":[` + strings.Join(recs, ",") + `]}`
	x := NewExtractor(nil)
	res, err := x.Extract(strings.NewReader(text), "k")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Quarantined) != 5 || res.held == nil {
		t.Fatalf("%d quarantined, held file %v; want 5 and a file", len(res.Quarantined), res.held)
	}
	for i, q := range res.Quarantined {
		if large := i == 1 || i == 3; q.held != large || (q.Raw == nil) != large {
			t.Errorf("record %d: held %v, %d bytes in memory", *q.Record, q.held, len(q.Raw))
		}
	}
	var s spill
	defer s.remove()
	if err := s.add("k", res.Quarantined, res.held); err != nil {
		t.Fatal(err)
	}
	res.discard()
	got, _ := io.ReadAll(s.lines())
	want := recs[0] + "\n" + recs[1] + "\n" + recs[3] + "\n" + strings.Replace(recs[4], "\n", " ", 1) + "\n" + recs[5] + "\n"
	if string(got) != want {
		t.Errorf("spilled lines differ from the records (%d bytes, want %d)", len(got), len(want))
	}
	if left, _ := os.ReadDir(scratch); len(left) != 1 {
		t.Errorf("%d files in TMPDIR after discard, want the spill alone", len(left))
	}

	// A file that fails after a large quarantined record leaves no held file.
	if _, err := x.Extract(strings.NewReader(text[:len(text)-5]), "k"); err == nil {
		t.Fatal("a truncated file read without error")
	}
	if left, _ := os.ReadDir(scratch); len(left) != 1 {
		t.Errorf("%d files in TMPDIR after a failed file, want the spill alone", len(left))
	}

	// No room for the record on disk: an error of the run (errHold), not of the log file.
	t.Setenv("TMPDIR", filepath.Join(scratch, "missing"))
	if _, err := x.Extract(strings.NewReader(text), "k"); !errors.Is(err, errHold) {
		t.Errorf("with no TMPDIR: %v, want errHold", err)
	}
}
