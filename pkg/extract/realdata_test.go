package extract

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// realDataDir holds public CloudTrail samples shared by the project (shared/realdata beside
// the repository). Tests that use it skip when it is absent.
const realDataDir = "../../../shared/realdata"

// realFiles returns the event files under realDataDir, leaving out metadata files that are
// not event containers.
func realFiles(t *testing.T) []string {
	t.Helper()
	if _, err := os.Stat(realDataDir); err != nil {
		t.Skipf("no real data: %v", err)
	}
	var files []string
	err := filepath.WalkDir(realDataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		name := d.Name()
		if !strings.HasSuffix(name, ".json") && !strings.HasSuffix(name, ".json.gz") && !strings.HasSuffix(name, ".log") {
			return nil
		}
		for _, skip := range []string{"provenance", "digest", "counts", "unparsable"} {
			if strings.Contains(name, skip) {
				return nil
			}
		}
		files = append(files, path)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 40 {
		t.Fatalf("found only %d real data files", len(files))
	}
	return files
}

// realText returns the JSON text of a real data file, inflated by the standard library.
func realText(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if b, err = io.ReadAll(zr); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// TestRealData scans every real file through Reader and Scanner and checks that the records
// are exactly those encoding/json finds, and that the Filter selects exactly the records whose
// eventSource (as encoding/json decodes it) contains "marketplace" and ends in
// ".amazonaws.com".
func TestRealData(t *testing.T) {
	var r Reader
	s := NewScanner(nil)
	f := NewFilter(nil)
	total, matched := 0, 0
	for _, path := range realFiles(t) {
		name, _ := filepath.Rel(realDataDir, path)
		body, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Reset(bytes.NewReader(body)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if r.Compressed() != strings.HasSuffix(path, ".gz") {
			t.Errorf("%s: Compressed() = %v", name, r.Compressed())
		}
		got, err := scanAll(s, &r)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		want, err := jsonRecords(realText(t, path))
		if err != nil {
			t.Fatalf("%s: encoding/json: %v", name, err)
		}
		if d := sameRecords(got, want); d != "" {
			t.Errorf("%s: %s", name, d)
		}
		for i, rec := range got {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(rec, &m); err != nil {
				t.Fatalf("%s: record %d: %v", name, i, err)
			}
			var src string
			isString := json.Unmarshal(m["eventSource"], &src) == nil && bytes.HasPrefix(m["eventSource"], []byte(`"`))
			want := isString && strings.Contains(src, "marketplace") && strings.HasSuffix(src, ".amazonaws.com")
			gotSrc, ok := f.Match(rec)
			if ok != want || (ok && gotSrc != src) {
				t.Errorf("%s: record %d: Match = %q, %v; encoding/json finds eventSource %q", name, i, gotSrc, ok, src)
			}
			if id, ok := TopLevelString(rec, "eventID"); ok {
				var wantID string
				if json.Unmarshal(m["eventID"], &wantID); id != wantID {
					t.Errorf("%s: record %d: eventID %q, want %q", name, i, id, wantID)
				}
			}
			if ok {
				matched++
			}
		}
		total += len(got)
		t.Logf("%s: %d records", name, len(got))
	}
	t.Logf("%d records, %d Marketplace", total, matched)
	if matched < 43+16 {
		t.Errorf("only %d Marketplace records matched", matched)
	}
}

// TestRealDiscoveryMarketplace checks that all 43 captured discovery-marketplace events
// match the default Filter.
func TestRealDiscoveryMarketplace(t *testing.T) {
	realFiles(t)
	path := filepath.Join(realDataDir, "permiso_console_cartographer", "permiso_discovery_marketplace_events.json")
	file, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	var r Reader
	if err := r.Reset(file); err != nil {
		t.Fatal(err)
	}
	s := NewScanner(&r)
	f := NewFilter(nil)
	n := 0
	for s.Next() {
		n++
		if src, ok := f.Match(s.Record()); !ok || src != "discovery-marketplace.amazonaws.com" {
			t.Errorf("record %d: Match = %q, %v", s.Index(), src, ok)
		}
	}
	if s.Err() != nil || n != 43 {
		t.Errorf("%d records, error %v; want 43", n, s.Err())
	}
	if _, err := io.Copy(io.Discard, file); err != nil {
		t.Fatal(err)
	}
}
