package extract

import (
	"bytes"
	"io"
	"sync"
	"testing"

	kgzip "github.com/klauspost/compress/gzip"
)

// benchInput is a synthetic CloudTrail file of about 20 MB with records of about 1.5 KB, 1%
// of them Marketplace events and 0.5% decoys that mention Marketplace elsewhere, and its
// gzip compression by klauspost/compress at the default level (as CloudTrail compresses with
// a standard deflate encoder).
var benchInput = sync.OnceValues(func() (text, gz []byte) {
	text, _ = genTrail(42, 20<<20, 0.01, 0.005)
	var b bytes.Buffer
	w := kgzip.NewWriter(&b)
	w.Write(text)
	w.Close()
	return text, b.Bytes()
})

// BenchmarkInflate measures inflating alone, reading through Reader in the Scanner's buffer size.
func BenchmarkInflate(b *testing.B) {
	text, gz := benchInput()
	var r Reader
	src := bytes.NewReader(gz)
	buf := make([]byte, initialBufferSize)
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		src.Reset(gz)
		if err := r.Reset(src); err != nil {
			b.Fatal(err)
		}
		for {
			_, err := r.Read(buf)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		if r.BytesOut() != int64(len(text)) {
			b.Fatalf("inflated %d bytes, want %d", r.BytesOut(), len(text))
		}
	}
}

// benchScan scans the benchmark file, plain or gzipped, through a Reader, with or without
// the Filter.
func benchScan(b *testing.B, compressed, filter bool) {
	text, gz := benchInput()
	body := text
	if compressed {
		body = gz
	}
	var r Reader
	src := bytes.NewReader(body)
	scanEach(b, text, filter, func() io.Reader {
		src.Reset(body)
		if err := r.Reset(src); err != nil {
			b.Fatal(err)
		}
		return &r
	})
}

// scanEach scans, once per iteration, the JSON text that open returns a fresh reader of,
// with or without the Filter, and reports throughput in bytes of that text, allocations per
// whole text, and its records and matches (the same in every iteration, or it fails).
func scanEach(b *testing.B, text []byte, filter bool, open func() io.Reader) {
	s := NewScanner(nil)
	f := NewFilter(nil)
	wantRecords, wantMatches := -1, -1
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		s.Reset(open())
		records, matches := 0, 0
		for s.Next() {
			records++
			if filter {
				if _, ok := f.Match(s.Record()); ok {
					matches++
				}
			}
		}
		if err := s.Err(); err != nil {
			b.Fatal(err)
		}
		if wantRecords < 0 {
			wantRecords, wantMatches = records, matches
		} else if records != wantRecords || matches != wantMatches {
			b.Fatalf("got %d records, %d matches; earlier %d, %d", records, matches, wantRecords, wantMatches)
		}
	}
	b.ReportMetric(float64(wantRecords), "records/op")
	if filter {
		b.ReportMetric(float64(wantMatches), "matches/op")
	}
}

func BenchmarkScan(b *testing.B)              { benchScan(b, false, false) }
func BenchmarkScanFilter(b *testing.B)        { benchScan(b, false, true) }
func BenchmarkInflateScanFilter(b *testing.B) { benchScan(b, true, true) }

// BenchmarkInflateScanFilterParallel runs the hot path on every core at once, each goroutine
// on its own copy of the state: how the hot loop alone scales with cores (-cpu 1,2).
func BenchmarkInflateScanFilterParallel(b *testing.B) {
	text, gz := benchInput()
	benchParallel(b, text, gz)
}

// benchParallel inflates, scans and filters gz (the gzip of text) on every core at once.
func benchParallel(b *testing.B, text, gz []byte) {
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var r Reader
		s := NewScanner(nil)
		f := NewFilter(nil)
		src := bytes.NewReader(gz)
		for pb.Next() {
			src.Reset(gz)
			if err := r.Reset(src); err != nil {
				b.Error(err)
				return
			}
			s.Reset(&r)
			for s.Next() {
				f.Match(s.Record())
			}
			if err := s.Err(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
