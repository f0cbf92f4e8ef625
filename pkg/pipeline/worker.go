package pipeline

import (
	"context"
	"io"

	"github.com/marketrail/marketrail/pkg/extract"
	"github.com/marketrail/marketrail/pkg/marketplace"
	"github.com/marketrail/marketrail/pkg/report"
	"github.com/marketrail/marketrail/pkg/storage"
)

// newFilter returns the event filter for a run: AWS Marketplace by default.
func newFilter(sources []string) *extract.Filter { return extract.NewFilter(sources) }

// worker reads log files one at a time, reusing its decompressor and scanner buffers.
type worker struct {
	src     storage.Storage
	filter  *extract.Filter
	reader  extract.Reader
	scanner *extract.Scanner
}

func newWorker(src storage.Storage, filter *extract.Filter) *worker {
	return &worker{src: src, filter: filter, scanner: extract.NewScanner(nil)}
}

// objectResult is what one log file gave. When err is set, the object contributes nothing.
type objectResult struct {
	key string
	err error
	bytesRead, bytesOut,
	records, matched int64
	events  []marketplace.Event
	invalid []report.Failure
}

// process reads one log file. Its events are kept only if the whole file reads cleanly:
// a file is all or nothing. The load callback starts from scratch each time it runs, so a
// retried read is counted once.
func (w *worker) process(ctx context.Context, j job) *objectResult {
	key := j.obj.Key
	var res *objectResult
	err := w.src.Load(ctx, key, func(body io.Reader) error {
		res = &objectResult{key: key}
		in := &countingReader{r: body}
		if err := w.reader.Reset(in); err != nil {
			return err
		}
		w.scanner.Reset(&w.reader)
		for w.scanner.Next() {
			res.records++
			rec := w.scanner.Record()
			if _, ok := w.filter.Match(rec); !ok {
				continue
			}
			res.matched++
			idx := w.scanner.Index()
			ev, err := marketplace.Decode(rec, key, idx)
			if err != nil {
				res.invalid = append(res.invalid, report.Failure{Key: key, Record: &idx, Reason: err.Error()})
				continue
			}
			res.events = append(res.events, ev)
		}
		if err := w.scanner.Err(); err != nil {
			return err
		}
		res.bytesRead, res.bytesOut = in.n, w.reader.BytesOut()
		return nil
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
