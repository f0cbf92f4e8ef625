package pipeline

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"time"

	"github.com/marketrail/marketrail/pkg/digest"
	"github.com/marketrail/marketrail/pkg/extract"
	"github.com/marketrail/marketrail/pkg/lake"
	"github.com/marketrail/marketrail/pkg/marketplace"
	"github.com/marketrail/marketrail/pkg/report"
	"github.com/marketrail/marketrail/pkg/storage"
	"github.com/marketrail/marketrail/pkg/trail"
)

// Extractor reads the selected events of one log file at a time: decompress, scan the
// records, pre-filter them, decode the candidates. It accepts CloudTrail's
// {"Records":[...]}, a bare JSON array of events and one event per line (CloudTrail Lake
// exports), gzipped or not, with or without a byte-order mark. An Extractor reuses its
// buffers from file to file; it is not safe for concurrent use.
type Extractor struct {
	filter   *extract.Filter
	reader   extract.Reader
	scanner  *extract.Scanner
	limit    int64     // --max-object-bytes
	notAfter time.Time // events at or after this are quarantined; zero: no bound
}

// DefaultMaxObjectBytes is the default of Config.MaxObjectBytes: 1 GiB of JSON text, some
// twenty times the largest log file CloudTrail writes (it starts a new file every five
// minutes or so, well before 50 MB), yet small enough to inflate in about a second.
const DefaultMaxObjectBytes = 1 << 30

// NewExtractor returns an Extractor keeping the events of the given sources (nil: AWS
// Marketplace), with a limit of DefaultMaxObjectBytes.
func NewExtractor(sources []string) *Extractor {
	x := &Extractor{filter: extract.NewFilter(sources), scanner: extract.NewScanner(nil)}
	x.SetMaxObjectBytes(0)
	return x
}

// SetMaxObjectBytes sets how much JSON text one object may inflate to (n <= 0: the default,
// DefaultMaxObjectBytes); Extract fails an object that inflates to more, such as a gzip bomb.
func (x *Extractor) SetMaxObjectBytes(n int64) {
	if n <= 0 {
		n = DefaultMaxObjectBytes
	}
	x.limit = n
	x.reader.SetLimit(n)
}

// SetBudget makes Extract borrow from b the memory of every record larger than
// extract.LargeRecordSize, waiting for it when b has none to spare (until ctx ends, which
// fails the file); see extract.Scanner.SetBudget. A nil b borrows nothing.
func (x *Extractor) SetBudget(ctx context.Context, b *extract.Budget) { x.scanner.SetBudget(ctx, b) }

// SetDeliveryDay tells Extract the delivery day of the files it reads next: an event whose
// eventTime is after the day after it is quarantined (the zero Day sets no such bound).
func (x *Extractor) SetDeliveryDay(d trail.Day) {
	x.notAfter = time.Time{}
	if !d.IsZero() {
		x.notAfter = d.AddDays(2).Time()
	}
}

// FileResult is what one log file gave.
type FileResult struct {
	Events      []marketplace.Event // the selected events that decoded, in file order
	Quarantined []Quarantined       // selected records that could not become rows, in file order
	Skipped     map[string]int64    // records too large or too deep to read and not selected, by reason
	Records     int64               // records scanned
	Matched     int64               // records the filter selected
	BytesOut    int64               // decompressed bytes

	// raw is the text of Events' records, one after the other: Events[i]'s ends at
	// rawEnd[i], and starts where Events[i-1]'s ends. The collector spills it to disk
	// (dayRows) and keeps only an index of the events, not the decoded rows.
	raw    []byte
	rawEnd []int

	// held holds, one per line, the quarantined records larger than
	// extract.LargeRecordSize, written out as soon as they are read so that the memory
	// of a large record is free once the scanner has moved past it; nil if there are none.
	held *os.File
}

// discard removes the file of held records, if there is one; f may be nil. The records'
// bytes are lost: call it once they have been copied elsewhere (spill.add), or when the log
// file contributes nothing.
func (f *FileResult) discard() {
	if f != nil && f.held != nil {
		f.held.Close()
		os.Remove(f.held.Name())
		f.held = nil
	}
}

// Quarantined is a selected record that could not become a row: where it is and why
// (report.Failure), and its bytes.
type Quarantined struct {
	report.Failure
	Raw []byte // the record's bytes; only the first extract.TruncatedSize when it was truncated; nil when held
	// held: the record is not in Raw but in its FileResult's held file, as the line of n
	// bytes (its line break included) at off.
	held   bool
	off, n int64
}

// Reasons of FileResult.Skipped (the report's records_skipped).
const (
	SkipTooLarge = "too_large" // larger than the maximum record size (extract.DefaultMaxRecordSize)
	SkipTooDeep  = "too_deep"  // nested more than extract.MaxDepth deep
)

// Extract reads one file from r; key names it in the rows (source_key) and in errors. An
// error means the file cannot be read as a CloudTrail file (broken gzip or JSON framing,
// Records of the wrong type, more JSON text than the Extractor's limit): then none of its
// events should be used. A selected record that cannot become a row (not decodable, no usable
// eventTime, an eventTime before CloudTrail began or after the day after the delivery day, too
// large or too deeply nested to read) does not fail the file: it is quarantined. A record too
// large or too deep is kept as its first extract.TruncatedSize bytes, and selected if the
// filter finds its eventSource in them; if not, it is counted in Skipped.
func (x *Extractor) Extract(r io.Reader, key string) (*FileResult, error) {
	res := &FileResult{}
	if err := x.reader.Reset(r); err != nil {
		return nil, err
	}
	x.scanner.Reset(&x.reader)
	defer x.scanner.Release() // hold no budget while waiting for the next file
	if err := x.extract(res, key); err != nil {
		res.discard()
		return nil, err
	}
	return res, nil
}

// extract is Extract once its reader and scanner are reset.
func (x *Extractor) extract(res *FileResult, key string) error {
	for x.scanner.Next() {
		res.Records++
		rec := x.scanner.Record()
		idx := x.scanner.Index()
		if cause, size := x.scanner.Truncated(); cause != nil {
			reason, what := SkipTooLarge, fmt.Sprintf("larger than the maximum record size of %d bytes", extract.DefaultMaxRecordSize)
			if cause == extract.ErrTooDeep {
				reason, what = SkipTooDeep, fmt.Sprintf("nested more than %d deep", extract.MaxDepth)
			}
			if _, ok := x.filter.MatchHead(rec); !ok {
				if res.Skipped == nil {
					res.Skipped = map[string]int64{}
				}
				res.Skipped[reason]++
				continue
			}
			res.Matched++
			kept := "whole"
			if int64(len(rec)) < size {
				kept = fmt.Sprintf("truncated to its first %d bytes", len(rec))
			}
			if err := x.quarantine(res, key, idx, rec, fmt.Sprintf("record %d (%d bytes) is %s: quarantined %s", idx, size, what, kept)); err != nil {
				return err
			}
			continue
		}
		if _, ok := x.filter.Match(rec); !ok {
			continue
		}
		res.Matched++
		ev, err := marketplace.Decode(rec, key, idx)
		if err == nil {
			err = x.checkTime(ev.EventTime, idx)
		}
		if err != nil {
			if err := x.quarantine(res, key, idx, rec, err.Error()); err != nil {
				return err
			}
			continue
		}
		res.Events = append(res.Events, ev)
		res.raw = append(res.raw, rec...)
		res.rawEnd = append(res.rawEnd, len(res.raw))
	}
	if err := x.scanner.Err(); err != nil {
		if errors.Is(err, extract.ErrObjectTooLarge) {
			return fmt.Errorf("over --max-object-bytes (%d): %w", x.limit, err)
		}
		return err
	}
	res.BytesOut = x.reader.BytesOut()
	return nil
}

// errHold is wrapped by the error of a log file whose large quarantined record could not be
// written to a temporary file: a fault of the local disk, not of the log file, so it ends
// the run as the collector's own spill errors do, rather than counting the file as failed.
var errHold = errors.New("hold a quarantined record in $TMPDIR")

// quarantine adds a record to res.Quarantined: a copy of a small one, and a large one (over
// extract.LargeRecordSize) written to res's held file straight from the scanner's buffer,
// neither copied nor kept in memory until the collector spills it. It fails only when the
// held file cannot be written.
func (x *Extractor) quarantine(res *FileResult, key string, idx int, rec []byte, reason string) error {
	q := Quarantined{Failure: report.Failure{Key: key, Record: &idx, Reason: reason}}
	if len(rec) <= extract.LargeRecordSize {
		q.Raw = bytes.Clone(rec)
		res.Quarantined = append(res.Quarantined, q)
		return nil
	}
	if res.held == nil {
		f, err := os.CreateTemp("", ".marketrail-quarantine-*")
		if err != nil {
			return fmt.Errorf("%w: record %d: %w", errHold, idx, err)
		}
		res.held = f
	}
	off, err := res.held.Seek(0, io.SeekCurrent)
	if err == nil {
		var n int
		if n, err = res.held.Write(lake.OneLine(rec)); err == nil {
			_, err = res.held.Write([]byte{'\n'})
		}
		q.held, q.off, q.n = true, off, int64(n)+1
	}
	if err != nil {
		return fmt.Errorf("%w: record %d: %w", errHold, idx, err)
	}
	res.Quarantined = append(res.Quarantined, q)
	return nil
}

// checkTime rejects an eventTime no genuine event of the file can have. Partitions come
// from the parsed time only, so this is not what keeps them well-formed; it keeps a bogus
// clock or a crafted record out of far-away partitions.
func (x *Extractor) checkTime(t time.Time, idx int) error {
	if t.Before(trail.FirstDay.Time()) {
		return fmt.Errorf("%w: record %d: eventTime %s is before CloudTrail began (%s)", marketplace.ErrBadEvent, idx, t.Format(time.RFC3339Nano), trail.FirstDay)
	}
	if !x.notAfter.IsZero() && !t.Before(x.notAfter) {
		return fmt.Errorf("%w: record %d: eventTime %s is after the day after its delivery day (%s)", marketplace.ErrBadEvent, idx, t.Format(time.RFC3339Nano), trail.DayOf(x.notAfter.AddDate(0, 0, -2)))
	}
	return nil
}

// worker reads log files from storage one at a time.
type worker struct {
	src   storage.Storage
	x     *Extractor
	hook  func(point string) // Config.Hook; called with HookRead before each log file
	audit *digest.Auditor    // Config.VerifyDigests: each log file's content hash goes here
}

// HookRead is the hook point in a worker just before it reads a log file.
const HookRead = "read"

// processRecovered is process, except that a panic while reading a log file (a bug in
// marketrail, never a property of the file) ends the run with an error instead of crashing
// the process: the run fails (exit 1) as cleanly as for any fatal error, the summary is
// still printed and written, and the error names the object and the panic's value. The
// stack goes to the log, at error level, for the bug report. The object is not merely
// counted as failed: that would blame the file, and code that panicked once may have
// gone wrong elsewhere too.
func (w *worker) processRecovered(ctx context.Context, j fetched, log *slog.Logger) (r *objectResult, err error) {
	defer func() {
		if v := recover(); v != nil {
			log.Error("internal error: panic while reading a log file", "key", j.obj.Key, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			r, err = nil, fmt.Errorf("internal error (a bug in marketrail): panic while reading %s: %v", j.obj.Key, v)
		}
	}()
	if w.hook != nil {
		w.hook(HookRead)
	}
	return w.process(ctx, j), nil
}

func newWorker(src storage.Storage, sources []string) *worker {
	return &worker{src: src, x: NewExtractor(sources)}
}

// objectResult is what one object gave. When err is set, the object contributes nothing.
type objectResult struct {
	key       string
	tail      bool // the job read it for the next delivery day's tail (job.tail)
	err       error
	bytesRead int64
	file      *FileResult
}

// process reads one log file: from the body its fetcher read, or, when the fetcher left it
// unread (too large to buffer), streamed from storage. Its events are kept only if the
// whole file reads cleanly: a file is all or nothing. The load callback starts from scratch
// each time it runs, so a retried read is counted once.
func (w *worker) process(ctx context.Context, fj fetched) *objectResult {
	j := fj.job
	key := j.obj.Key
	res := &objectResult{key: key, tail: j.tail}
	var sum []byte // with an audit, the SHA-256 of the content, from scratch on each read
	read := func(body io.Reader) error {
		res.file.discard() // a retried read starts from scratch
		in := &countingReader{r: body}
		w.x.SetDeliveryDay(j.obj.Day)
		var h hash.Hash
		if w.audit != nil && !j.tail {
			// The digest's hash is of the content the extractor inflates anyway: tap it.
			h = sha256.New()
			w.x.reader.SetTap(h)
			defer w.x.reader.SetTap(nil)
		}
		f, err := w.x.Extract(in, key)
		res.file, sum = f, nil
		if err == nil && h != nil {
			// The extractor may stop at the closing bracket: hash the rest too. Trouble
			// there (more than --max-object-bytes of trailing bytes, a corrupt trailing
			// gzip member) leaves the file unhashed but its events stand.
			if _, derr := io.Copy(io.Discard, &w.x.reader); derr == nil {
				sum = h.Sum(nil)
			}
		}
		res.bytesRead = in.n
		return err
	}
	var err error
	switch {
	case fj.err != nil:
		err = fj.err
	case fj.body != nil:
		err = read(bytes.NewReader(fj.body))
	default:
		err = w.src.Load(ctx, key, read)
	}
	if err != nil {
		res.file.discard()
		return &objectResult{key: key, tail: j.tail, err: err}
	}
	if w.audit != nil && sum != nil {
		// Every row of the file carries what the digests say of it.
		state := w.audit.Check(key, sum)
		if res.file != nil {
			for i := range res.file.Events {
				e := &res.file.Events[i]
				e.SourceDigest = &state
				for k := range e.Metering {
					e.Metering[k].SourceDigest = &state
				}
			}
		}
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
