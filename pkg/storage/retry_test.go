package storage_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marketrail/marketrail/internal/faultproxy"
	"github.com/marketrail/marketrail/internal/s3test"
	"github.com/marketrail/marketrail/pkg/extract"
	"github.com/marketrail/marketrail/pkg/storage"
)

// flaky is a Storage over a local folder whose Load breaks the read off (with a
// *storage.ReadError, as S3's Load does) on its first breaks calls, after cut bytes. It is not
// an S3 fake: it drives WithRetry through the errors its contract is about.
type flaky struct {
	storage.Storage
	breaks   int
	cut      int
	archived bool

	mu    sync.Mutex
	loads int
	onErr func() // called when a read breaks off
}

func (f *flaky) Load(ctx context.Context, key string, fn func(io.Reader) error) error {
	f.mu.Lock()
	f.loads++
	broken := f.loads <= f.breaks
	f.mu.Unlock()
	if f.archived {
		return fmt.Errorf("get %s: %w (GLACIER)", key, storage.ErrArchived)
	}
	return f.Storage.Load(ctx, key, func(r io.Reader) error {
		if broken {
			r = &breaking{r: r, left: f.cut, key: key, onErr: f.onErr}
		}
		return fn(r)
	})
}

func (f *flaky) Loads() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.loads
}

// breaking passes left bytes through, then fails as a connection reset mid-body does.
type breaking struct {
	r     io.Reader
	left  int
	key   string
	onErr func()
}

func (b *breaking) Read(p []byte) (int, error) {
	if b.left <= 0 {
		if b.onErr != nil {
			b.onErr()
		}
		return 0, &storage.ReadError{Key: b.key, Err: io.ErrUnexpectedEOF}
	}
	if len(p) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= n
	return n, err
}

// trailFile returns a gzipped CloudTrail file of n records, large enough that reading it
// takes many reads.
func trailFile(t testing.TB, n int) []byte {
	t.Helper()
	var js bytes.Buffer
	js.WriteString(`{"Records":[`)
	for i := range n {
		if i > 0 {
			js.WriteByte(',')
		}
		fmt.Fprintf(&js, `{"eventVersion":"1.08","eventID":"%08d-0000-4000-8000-000000000000","eventTime":"2024-03-01T00:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"us-east-1","requestParameters":{"bucketName":"b%d","key":"%s"}}`, i, i, strings.Repeat("k", i%97))
	}
	js.WriteString(`]}`)
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(js.Bytes())
	w.Close()
	return gz.Bytes()
}

// scan reads a log file as the pipeline's workers do (extract.Reader and Scanner) and
// returns its records and compressed bytes, or the error.
func scan(r io.Reader) (records int, bytesIn int64, err error) {
	c := &counter{r: r}
	var rd extract.Reader
	if err := rd.Reset(c); err != nil {
		return 0, c.n, err
	}
	sc := extract.NewScanner(&rd)
	for sc.Next() {
		records++
	}
	return records, c.n, sc.Err()
}

type counter struct {
	r io.Reader
	n int64
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func TestWithRetry(t *testing.T) {
	const records = 3000
	file := trailFile(t, records)
	errContent := errors.New("not a log file")
	tests := []struct {
		name     string
		breaks   int   // reads that break off
		cut      int   // after this many bytes
		attempts int   // RetryPolicy.Attempts
		fnErr    error // fn fails with this (content error) after reading
		key      string
		archived bool
		loads    int // inner Loads expected
		ok       bool
		check    func(*testing.T, error)
	}{
		{name: "clean", loads: 1, ok: true},
		{name: "two broken reads", breaks: 2, cut: 5000, loads: 3, ok: true},
		{name: "broken in the gzip header", breaks: 1, cut: 4, loads: 2, ok: true},
		{name: "broken before the first byte", breaks: 1, cut: 0, loads: 2, ok: true},
		{name: "attempts are bounded", breaks: 100, cut: 5000, attempts: 4, loads: 4, check: func(t *testing.T, err error) {
			var re *storage.ReadError
			if !storage.IsBrokenRead(err) || !errors.As(err, &re) || re.Key != "a.json.gz" || !strings.Contains(err.Error(), "gave up after 4 reads") {
				t.Errorf("error %v: want the last broken read, after 4 reads", err)
			}
		}},
		{name: "content errors are not retried", fnErr: errContent, loads: 1, check: func(t *testing.T, err error) {
			if !errors.Is(err, errContent) || storage.IsBrokenRead(err) {
				t.Errorf("error %v", err)
			}
		}},
		{name: "missing keys are not retried", key: "missing.json.gz", breaks: 100, loads: 1, check: func(t *testing.T, err error) {
			if !errors.Is(err, storage.ErrNotExist) {
				t.Errorf("error %v", err)
			}
		}},
		{name: "archived objects are not retried", archived: true, loads: 1, check: func(t *testing.T, err error) {
			if !errors.Is(err, storage.ErrArchived) || storage.IsBrokenRead(err) {
				t.Errorf("error %v", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			local, err := storage.OpenLocal(t.TempDir(), true)
			if err != nil {
				t.Fatal(err)
			}
			defer local.Close()
			ctx := context.Background()
			if err := local.Put(ctx, "a.json.gz", bytes.NewReader(file), int64(len(file))); err != nil {
				t.Fatal(err)
			}
			f := &flaky{Storage: local, breaks: tt.breaks, cut: tt.cut, archived: tt.archived}
			s := storage.WithRetry(f, storage.RetryPolicy{Attempts: tt.attempts, Backoff: time.Microsecond, MaxBackoff: time.Millisecond})
			key := tt.key
			if key == "" {
				key = "a.json.gz"
			}
			var calls, gotRecords int
			var gotBytes int64
			err = s.Load(ctx, key, func(r io.Reader) error {
				// Like the pipeline's worker: the result is set from this run alone.
				calls++
				n, b, err := scan(r)
				gotRecords, gotBytes = n, b
				if err == nil && tt.fnErr != nil {
					return tt.fnErr
				}
				return err
			})
			if got := f.Loads(); got != tt.loads {
				t.Errorf("inner Load ran %d times, want %d", got, tt.loads)
			}
			if tt.ok {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if calls != tt.loads {
					t.Errorf("fn ran %d times, want %d (once per read, from the start)", calls, tt.loads)
				}
				if gotRecords != records || gotBytes != int64(len(file)) {
					t.Errorf("final result: %d records, %d bytes; want %d and %d, each counted once", gotRecords, gotBytes, records, len(file))
				}
			} else if err == nil {
				t.Fatal("Load succeeded")
			}
			if tt.check != nil {
				tt.check(t, err)
			}
			if s.String() != local.String() {
				t.Errorf("String %q, want the inner %q", s.String(), local.String())
			}
		})
	}
}

// TestWithRetryStopsOnCancel: a cancelled context ends the retries, whether it is cancelled
// during a read or while waiting to read again.
func TestWithRetryStopsOnCancel(t *testing.T) {
	file := trailFile(t, 100)
	for _, during := range []string{"read", "wait"} {
		t.Run(during, func(t *testing.T) {
			local, err := storage.OpenLocal(t.TempDir(), true)
			if err != nil {
				t.Fatal(err)
			}
			defer local.Close()
			local.Put(context.Background(), "a.json.gz", bytes.NewReader(file), int64(len(file)))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			f := &flaky{Storage: local, breaks: 1000, cut: 100}
			if during == "read" {
				f.onErr = cancel // the read breaks off because the run is being cancelled
			}
			// A backoff of an hour: only the cancellation can end the wait.
			s := storage.WithRetry(f, storage.RetryPolicy{Attempts: 1000, Backoff: time.Hour})
			done := make(chan error, 1)
			go func() {
				done <- s.Load(ctx, "a.json.gz", func(r io.Reader) error {
					_, _, err := scan(r)
					return err
				})
			}()
			if during == "wait" {
				for f.Loads() == 0 {
					time.Sleep(time.Millisecond)
				}
				cancel()
			}
			err = <-done
			if during == "wait" && !errors.Is(err, context.Canceled) {
				t.Errorf("error %v, want context.Canceled", err)
			}
			if err == nil {
				t.Error("Load succeeded")
			}
			if n := f.Loads(); n != 1 {
				t.Errorf("inner Load ran %d times after the cancellation, want 1", n)
			}
		})
	}
}

// TestBrokenReadThroughExtract: a read error of the body stays visible as a broken read
// through the extract package's errors, while a truncated gzip inside a complete body is
// bad content, not a broken read.
func TestBrokenReadThroughExtract(t *testing.T) {
	file := trailFile(t, 3000)
	for _, cut := range []int{0, 1, 5, 20, len(file) / 2, len(file) - 1} {
		_, _, err := scan(&breaking{r: bytes.NewReader(file), left: cut, key: "k"})
		var re *storage.ReadError
		if !storage.IsBrokenRead(err) || !errors.As(err, &re) || !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("body broken after %d bytes: error %v (%T) is not a broken read", cut, err, err)
		}
	}
	for _, cut := range []int{5, 20, len(file) / 2, len(file) - 1} {
		_, _, err := scan(bytes.NewReader(file[:cut]))
		if err == nil || storage.IsBrokenRead(err) {
			t.Errorf("gzip truncated after %d bytes in a complete body: error %v, want bad content", cut, err)
		}
	}
}

// TestS3BrokenReads runs S3's Load through the fault-injecting proxy in front of the real
// S3 server: the client retries SlowDown and InternalError itself; a body that breaks off or
// stalls comes out as a broken read, which WithRetry reads again; archived and missing
// objects are reported as such, once.
func TestS3BrokenReads(t *testing.T) {
	c, srv := s3test.Client(t)
	bucket := s3test.Bucket(t, c)
	ctx := context.Background()
	const records = 3000
	file := trailFile(t, records)
	direct := storage.NewS3(c, bucket, "")
	for _, k := range []string{"plain.json.gz", "retried.json.gz", "cold.json.gz"} {
		if err := direct.Put(ctx, k, bytes.NewReader(file), int64(len(file))); err != nil {
			t.Fatal(err)
		}
	}
	p, err := faultproxy.New(srv.Endpoint, faultproxy.Config{SlowDownEvery: 1, InternalErrorEvery: 1, ResetEvery: 1, StallEvery: 1, Archived: []string{"cold"}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	pc, err := storage.NewS3Client(ctx, storage.S3Options{Endpoint: p.URL})
	if err != nil {
		t.Fatal(err)
	}
	s := storage.NewS3(pc, bucket, "")
	s.StallTimeout = 300 * time.Millisecond

	read := func(st storage.Storage, key string) (calls int, err error) {
		err = st.Load(ctx, key, func(r io.Reader) error {
			calls++
			n, b, err := scan(r)
			if err == nil && (n != records || b != int64(len(file))) {
				return fmt.Errorf("read %d records, %d bytes; want %d, %d", n, b, records, len(file))
			}
			return err
		})
		return calls, err
	}

	// Without WithRetry: SlowDown and InternalError are retried by the client; the reset
	// and the stall reach the caller as broken reads; then the object reads.
	_, err = read(s, "plain.json.gz")
	var re *storage.ReadError
	if !storage.IsBrokenRead(err) || !errors.As(err, &re) || re.Key != "plain.json.gz" {
		t.Fatalf("after a mid-body reset: %v, want a broken read", err)
	}
	if _, err = read(s, "plain.json.gz"); !storage.IsBrokenRead(err) || !errors.Is(err, storage.ErrStalled) {
		t.Fatalf("after a stall: %v, want a stalled broken read", err)
	}
	if _, err = read(s, "plain.json.gz"); err != nil {
		t.Fatalf("third read: %v", err)
	}
	if p.SlowDowns.Load() != 1 || p.InternalErrors.Load() != 1 || p.Resets.Load() != 1 || p.Stalls.Load() != 1 {
		t.Fatalf("proxy: %s", p)
	}

	// With WithRetry, one Load gets through all of it, fn running once per GET.
	rs := storage.WithRetry(s, storage.RetryPolicy{Backoff: time.Millisecond})
	if calls, err := read(rs, "retried.json.gz"); err != nil || calls != 3 {
		t.Fatalf("WithRetry: %v after %d runs of fn, want success on the 3rd", err, calls)
	}

	// Archived and missing objects: said so, not retried.
	if calls, err := read(rs, "cold.json.gz"); !errors.Is(err, storage.ErrArchived) || calls != 0 {
		t.Errorf("archived object: %v (fn ran %d times)", err, calls)
	}
	if n := p.Archived.Load(); n != 1 {
		t.Errorf("the archived object was requested %d times, want once", n)
	}
	if _, err := read(rs, "missing.json.gz"); !errors.Is(err, storage.ErrNotExist) {
		t.Errorf("missing object: %v", err)
	}
	t.Logf("proxy: %s", p)
}
