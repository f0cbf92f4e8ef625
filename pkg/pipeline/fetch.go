package pipeline

import (
	"context"
	"fmt"
	"io"

	"golang.org/x/sync/semaphore"

	"github.com/marketrail/marketrail/pkg/storage"
)

// The fetch stage: against S3 a GET waits tens of milliseconds for its first byte, while
// decoding a small log file takes a fraction of one, so the pipeline keeps many GETs in
// flight (Config.Requests fetchers) and few CPU workers (Config.Workers). A fetcher reads a
// small object's whole body into memory, under a byte budget shared by all fetchers
// (Config.FetchBuffer), and hands it to a CPU worker; an object too large to buffer is
// handed on unread, and the CPU worker streams it as it always did, so a large file costs
// the memory of a streaming read, not of its size.

// DefaultRequests is the default of Config.Requests: enough GETs in flight to hide S3's
// latency of tens of milliseconds per request behind the CPU work (docs/performance.md,
// "Latency regime": the fetch floor at 20 ms per request gains little past 256).
const DefaultRequests = 256

// DefaultFetchBuffer is the default of Config.FetchBuffer: fetched bodies waiting for a CPU
// worker hold at most this much memory. CloudTrail's files are mostly a few KB to a few MB
// of gzip; 8 MiB holds thousands of small ones, and files over 1 MiB are streamed. (32 MiB
// read a local archive of 0.5 MB files no faster, and raised its peak memory by some 25 MiB.)
const DefaultFetchBuffer = 8 << 20

// maxBufferedShare: an object larger than the budget divided by this is streamed by its CPU
// worker instead of buffered, so that one large file never holds the budget alone.
const maxBufferedShare = 8

// fetched is a job on its way from a fetcher to a CPU worker.
type fetched struct {
	job
	// body is the object's whole content, when the fetcher buffered it; nil when the CPU
	// worker is to stream the object itself (too large to buffer, or err is set).
	body []byte
	err  error // the GET failed: the object's result, with nothing to read
	// charge is what body holds of the fetcher's budget, given back by release.
	charge int64
}

// fetcher reads small objects whole, under a byte budget shared by all fetchers.
type fetcher struct {
	src    storage.Storage
	budget *semaphore.Weighted
	// maxObject is the largest object buffered; larger ones are streamed.
	maxObject int64
}

// newFetcher returns a fetcher of src buffering at most budget bytes at once.
func newFetcher(src storage.Storage, budget int64) *fetcher {
	return &fetcher{src: src, budget: semaphore.NewWeighted(budget), maxObject: budget / maxBufferedShare}
}

// fetch reads j's object into memory if its listed size allows it, and returns it for a
// CPU worker: with its body, with the GET's error, or, for an object too large to buffer,
// unread. The body is read from scratch each time storage's Load runs its callback, so a
// read that broke off and was retried counts once. An object found longer than its listing
// said is handed on unread too (the CPU worker streams it), so the budget always holds.
// fetch fails only when ctx ends while it waits for the budget.
func (f *fetcher) fetch(ctx context.Context, j job) (fetched, error) {
	size := j.obj.Size
	if size < 0 || size > f.maxObject {
		return fetched{job: j}, nil
	}
	charge := size + 1 // one byte more finds a body longer than listed
	if err := f.budget.Acquire(ctx, charge); err != nil {
		return fetched{}, err
	}
	buf := make([]byte, charge)
	var n int
	err := f.src.Load(ctx, j.obj.Key, func(r io.Reader) error {
		var err error
		n, err = io.ReadFull(r, buf)
		if err == io.ErrUnexpectedEOF || err == io.EOF { // ReadFull's own: the body is shorter than buf
			err = nil
		}
		return err
	})
	switch {
	case err != nil:
		f.budget.Release(charge)
		if ctx.Err() != nil {
			return fetched{}, fmt.Errorf("fetch %s: %w", j.obj.Key, ctx.Err())
		}
		return fetched{job: j, err: err}, nil
	case n == len(buf): // longer than listed: stream it
		f.budget.Release(charge)
		return fetched{job: j}, nil
	}
	return fetched{job: j, body: buf[:n], charge: charge}, nil
}

// release gives back what fetched's body held of the budget; call it once the body is
// read.
func (f *fetcher) release(x *fetched) {
	if x.charge > 0 {
		f.budget.Release(x.charge)
		x.charge, x.body = 0, nil
	}
}
