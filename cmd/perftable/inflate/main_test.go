package main

import (
	"bytes"
	stdgzip "compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestInflateAll: the bytes inflated are the sum of what was compressed (with the standard
// library's gzip, not the inflater under test), for any number of workers, including more
// workers than files; a file that is not gzip fails the run.
func TestInflateAll(t *testing.T) {
	dir := t.TempDir()
	var files []string
	var want int64
	for i, body := range []string{"", "x", strings.Repeat(`{"Records":[{"a":"\\\"b\\\""}]}`, 5000), strings.Repeat("marketplace ", 100000)} {
		var b bytes.Buffer
		zw := stdgzip.NewWriter(&b)
		zw.Write([]byte(body))
		zw.Close()
		p := filepath.Join(dir, string(rune('a'+i))+".json.gz")
		if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
		want += int64(len(body))
	}
	for _, workers := range []int{1, 2, 7} {
		got, err := inflateAll(files, workers)
		if err != nil || got != want {
			t.Errorf("%d workers: inflated %d bytes (%v), want %d", workers, got, err, want)
		}
	}
	bad := filepath.Join(dir, "bad.json.gz")
	if err := os.WriteFile(bad, []byte("not gzip"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := inflateAll(append(files, bad), 2); err == nil || !strings.Contains(err.Error(), "bad.json.gz") {
		t.Errorf("a file that is not gzip: error %v, want one naming it", err)
	}
}
