package marketplace

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sampleRecords returns the raw Marketplace records of the sample trail (testdata/trail),
// read with encoding/json alone.
func sampleRecords(tb testing.TB) [][]byte {
	tb.Helper()
	var recs [][]byte
	err := filepath.WalkDir("../../testdata/trail", func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.Contains(p, "/CloudTrail/") || !strings.Contains(p, ".json") {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		var r io.Reader = f
		if strings.HasSuffix(p, ".gz") {
			if r, err = gzip.NewReader(f); err != nil {
				return err
			}
		}
		var doc struct{ Records []json.RawMessage }
		if err := json.NewDecoder(r).Decode(&doc); err != nil {
			return err
		}
		for _, rec := range doc.Records {
			var h struct{ EventSource string }
			if json.Unmarshal(rec, &h) == nil && strings.Contains(h.EventSource, "marketplace") {
				recs = append(recs, bytes.Clone(rec))
			}
		}
		return nil
	})
	if err != nil || len(recs) < 50 {
		tb.Fatalf("sample records: %d, %v", len(recs), err)
	}
	return recs
}

// BenchmarkDecode measures the full decode of candidate records (the Marketplace events of
// the sample trail, every shape it has), per record.
func BenchmarkDecode(b *testing.B) {
	recs := sampleRecords(b)
	var n int64
	for _, r := range recs {
		n += int64(len(r))
	}
	b.SetBytes(n / int64(len(recs)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := Decode(recs[i%len(recs)], "AWSLogs/k.json.gz", i); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
