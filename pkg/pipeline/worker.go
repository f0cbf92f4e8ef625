package pipeline

import (
	"context"
	"io"

	"github.com/marketrail/marketrail/pkg/extract"
	"github.com/marketrail/marketrail/pkg/marketplace"
	"github.com/marketrail/marketrail/pkg/report"
	"github.com/marketrail/marketrail/pkg/storage"
)

// Extractor reads the selected events of one log file at a time: decompress, scan the
// records, pre-filter them, decode the candidates. It accepts CloudTrail's
// {"Records":[...]}, a bare JSON array of events and one event per line (CloudTrail Lake
// exports), gzipped or not, with or without a byte-order mark. An Extractor reuses its
// buffers from file to file; it is not safe for concurrent use.
type Extractor struct {
	filter  *extract.Filter
	reader  extract.Reader
	scanner *extract.Scanner
}

// NewExtractor returns an Extractor keeping the events of the given sources (nil: AWS
// Marketplace).
func NewExtractor(sources []string) *Extractor {
	return &Extractor{filter: extract.NewFilter(sources), scanner: extract.NewScanner(nil)}
}

// FileResult is what one log file gave.
type FileResult struct {
	Events   []marketplace.Event // the selected events that decoded, in file order
	Invalid  []report.Failure    // selected records that could not become rows
	Records  int64               // records scanned
	Matched  int64               // records the filter selected
	BytesOut int64               // decompressed bytes
}

// Extract reads one file from r; key names it in the rows (source_key) and in errors. An
// error means the file cannot be read as a CloudTrail file (broken gzip or JSON framing,
// Records of the wrong type): then none of its events should be used.
func (x *Extractor) Extract(r io.Reader, key string) (*FileResult, error) {
	res := &FileResult{}
	if err := x.reader.Reset(r); err != nil {
		return nil, err
	}
	x.scanner.Reset(&x.reader)
	for x.scanner.Next() {
		res.Records++
		rec := x.scanner.Record()
		if _, ok := x.filter.Match(rec); !ok {
			continue
		}
		res.Matched++
		idx := x.scanner.Index()
		ev, err := marketplace.Decode(rec, key, idx)
		if err != nil {
			res.Invalid = append(res.Invalid, report.Failure{Key: key, Record: &idx, Reason: err.Error()})
			continue
		}
		res.Events = append(res.Events, ev)
	}
	if err := x.scanner.Err(); err != nil {
		return nil, err
	}
	res.BytesOut = x.reader.BytesOut()
	return res, nil
}

// worker reads log files from storage one at a time.
type worker struct {
	src storage.Storage
	x   *Extractor
}

func newWorker(src storage.Storage, sources []string) *worker {
	return &worker{src: src, x: NewExtractor(sources)}
}

// objectResult is what one object gave. When err is set, the object contributes nothing.
type objectResult struct {
	key       string
	err       error
	bytesRead int64
	file      *FileResult
}

// process reads one log file. Its events are kept only if the whole file reads cleanly:
// a file is all or nothing. The load callback starts from scratch each time it runs, so a
// retried read is counted once.
func (w *worker) process(ctx context.Context, j job) *objectResult {
	key := j.obj.Key
	res := &objectResult{key: key}
	err := w.src.Load(ctx, key, func(body io.Reader) error {
		in := &countingReader{r: body}
		f, err := w.x.Extract(in, key)
		res.file, res.bytesRead = f, in.n
		return err
	})
	if err != nil {
		return &objectResult{key: key, err: err}
	}
	return res
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
