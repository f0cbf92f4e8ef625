package pipeline

import (
	"io"
	"os"
	"strings"
	"testing"

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
	if err := s.add("b.json.gz", nil); err != nil || s.f != nil {
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
		if err := s.add(b.key, b.recs); err != nil {
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
