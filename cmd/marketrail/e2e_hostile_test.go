package main

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHostileInputExit drives the binary over the sample with a gzip bomb and a log file of
// records that cannot become rows: the bomb fails as an object over --max-object-bytes (exit
// 3, named), the bad records are quarantined and named in warnings, and every event is
// written. Without the bomb the run exits 0 despite the quarantined records.
func TestHostileInputExit(t *testing.T) {
	m := readManifest(t, sampleManifest)
	src, folder := sampleCopy(t, m)
	member := func(s string) []byte {
		var b bytes.Buffer
		w, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
		w.Write([]byte(s))
		w.Close()
		return b.Bytes()
	}
	var bomb bytes.Buffer
	bomb.Write(member(`{"Records":[{"eventSource":"metering-marketplace.amazonaws.com","pad":"`))
	a := member(strings.Repeat("a", 1<<20))
	for range 1024 { // 1 GiB inflated, 1 MB here
		bomb.Write(a)
	}
	bombPath := filepath.Join(folder, "bomb_CloudTrail.json.gz")
	os.WriteFile(bombPath, bomb.Bytes(), 0o644)
	bad := `{"Records":[{"eventSource":"agreement-marketplace.amazonaws.com","eventID":"q1","eventTime":"../../x"},` +
		`{"eventSource":"agreement-marketplace.amazonaws.com","eventID":"q2","eventTime":"2001-01-01T00:00:00Z"}]}`
	badPath := filepath.Join(folder, "bad records_CloudTrail.json")
	os.WriteFile(badPath, []byte(bad), 0o644)

	dest := t.TempDir()
	r := marketrail(t, nil, "run", "--source", src, "--dest", dest, "--from", m.Window.From, "--to", m.Window.To, "--max-object-bytes", "4000000")
	if r.code != 3 {
		t.Fatalf("exit %d, want 3\n%s", r.code, r.stderr)
	}
	rel, _ := filepath.Rel(src, bombPath)
	if !strings.Contains(r.stderr, filepath.ToSlash(rel)) || !strings.Contains(r.stderr, "over --max-object-bytes (4000000)") {
		t.Errorf("standard error does not name the bomb over --max-object-bytes:\n%s", r.stderr)
	}
	rep := runReport(t, r)
	if tot := totals(rep); tot["objects_failed"].(float64) != 1 || tot["records_quarantined"].(float64) != 2 {
		t.Errorf("totals %v: want 1 failed object, 2 quarantined records", tot)
	}
	if strings.Count(r.stderr, "record quarantined") != 2 {
		t.Errorf("standard error does not warn of each quarantined record:\n%s", r.stderr)
	}
	got, _ := written(t, dest)
	diff(t, "with hostile input", got, m.expected(m.Window.From, m.Window.To))
	if _, err := os.Stat(filepath.Join(dest, "_marketrail", "quarantine", m.Window.From+".jsonl.gz")); err != nil {
		t.Errorf("no quarantine file: %v", err)
	}

	os.Remove(bombPath)
	if r = marketrail(t, nil, "run", "--source", src, "--dest", dest, "--from", m.Window.From, "--to", m.Window.To); r.code != 0 {
		t.Errorf("without the bomb: exit %d, want 0 (quarantined records do not change it)\n%s", r.code, r.stderr)
	}
	if r = marketrail(t, nil, "run", "--source", src, "--dest", dest, "--max-object-bytes", "0"); r.code != 2 {
		t.Errorf("--max-object-bytes 0: exit %d, want 2", r.code)
	}
}
