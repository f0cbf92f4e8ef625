package pipeline

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/marketrail/marketrail/pkg/source"
	"github.com/marketrail/marketrail/pkg/storage"
)

// memStore is a Storage of objects in memory whose Load can break off or block, and which
// counts its Loads.
type memStore struct {
	objs  map[string][]byte
	mu    sync.Mutex
	loads map[string]int
	// breakFirst: the first Load of each key delivers half the body, then a broken read.
	breakFirst bool
	block      chan struct{} // if set, Load waits for it to close (or ctx to end)
}

func (m *memStore) List(context.Context, string, bool) iter.Seq2[storage.Entry, error] {
	return func(func(storage.Entry, error) bool) {}
}
func (m *memStore) Put(context.Context, string, io.ReadSeeker, int64) error { return nil }
func (m *memStore) Delete(context.Context, string) error                    { return nil }
func (m *memStore) String() string                                          { return "mem" }

func (m *memStore) Load(ctx context.Context, key string, fn func(io.Reader) error) error {
	m.mu.Lock()
	if m.loads == nil {
		m.loads = map[string]int{}
	}
	m.loads[key]++
	n := m.loads[key]
	m.mu.Unlock()
	if m.block != nil {
		select {
		case <-m.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	b, ok := m.objs[key]
	if !ok {
		return fmt.Errorf("get %s: %w", key, storage.ErrNotExist)
	}
	if m.breakFirst && n == 1 {
		return fn(io.MultiReader(bytes.NewReader(b[:len(b)/2]), errReaderOf{&storage.ReadError{Key: key, Err: io.ErrUnexpectedEOF}}))
	}
	return fn(bytes.NewReader(b))
}

type errReaderOf struct{ err error }

func (e errReaderOf) Read([]byte) (int, error) { return 0, e.err }

func objOf(key string, size int64) job {
	o := source.Object{}
	o.Key, o.Size = key, size
	return job{obj: o}
}

// TestFetch: what a fetcher hands on for each kind of object, and that it gives back all
// of its budget whatever happened.
func TestFetch(t *testing.T) {
	const budget = 8000 // objects up to 1000 bytes are buffered
	content := func(n int) []byte { return bytes.Repeat([]byte{'x'}, n) }
	for _, tc := range []struct {
		name       string
		stored     []byte // nil: no such object
		listed     int64
		breakFirst bool
		wantBody   bool // buffered, with the stored content
		wantErr    error
		wantLoads  int
	}{
		{name: "small", stored: content(100), listed: 100, wantBody: true, wantLoads: 1},
		{name: "empty", stored: []byte{}, listed: 0, wantBody: true, wantLoads: 1},
		{name: "largest buffered", stored: content(1000), listed: 1000, wantBody: true, wantLoads: 1},
		{name: "too large: streamed", stored: content(1001), listed: 1001, wantLoads: 0},
		{name: "longer than listed: streamed", stored: content(300), listed: 200, wantLoads: 1},
		{name: "shorter than listed", stored: content(150), listed: 200, wantBody: true, wantLoads: 1},
		{name: "missing", listed: 100, wantErr: storage.ErrNotExist, wantLoads: 1},
		{name: "broken read, retried", stored: content(500), listed: 500, breakFirst: true, wantBody: true, wantLoads: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &memStore{objs: map[string][]byte{}, breakFirst: tc.breakFirst}
			if tc.stored != nil {
				m.objs["k"] = tc.stored
			}
			src := storage.WithRetry(m, storage.RetryPolicy{Backoff: time.Millisecond})
			f := newFetcher(src, budget)
			got, err := f.fetch(t.Context(), objOf("k", tc.listed))
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.wantBody && !bytes.Equal(got.body, tc.stored):
				t.Errorf("body of %d bytes, want the %d stored", len(got.body), len(tc.stored))
			case tc.wantBody && got.body == nil:
				t.Errorf("body nil, want buffered")
			case !tc.wantBody && got.body != nil:
				t.Errorf("body of %d bytes, want none", len(got.body))
			}
			if !errors.Is(got.err, tc.wantErr) || (tc.wantErr == nil) != (got.err == nil) {
				t.Errorf("err %v, want %v", got.err, tc.wantErr)
			}
			if m.loads["k"] != tc.wantLoads {
				t.Errorf("%d loads, want %d", m.loads["k"], tc.wantLoads)
			}
			f.release(&got)
			if !f.budget.TryAcquire(budget) {
				t.Errorf("budget not all given back")
			}
		})
	}
}

// TestFetchBudget: with every fetched body held, fetchers stop once the budget is spent,
// and go on as bodies are released; the bytes held never exceed the budget.
func TestFetchBudget(t *testing.T) {
	const budget, size = 1000, 99 // each body charges 100: ten fit
	m := &memStore{objs: map[string][]byte{}}
	for i := range 30 {
		m.objs[fmt.Sprint(i)] = bytes.Repeat([]byte{byte(i)}, size)
	}
	f := newFetcher(m, budget)
	ctx := t.Context()
	var held []fetched
	for i := range 10 {
		x, err := f.fetch(ctx, objOf(fmt.Sprint(i), size))
		if err != nil || x.body == nil {
			t.Fatalf("fetch %d within the budget: %v", i, err)
		}
		held = append(held, x)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := f.fetch(short, objOf("10", size)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("fetch past the budget: %v, want to wait until the context ends", err)
	}
	if m.loads["10"] != 0 {
		t.Errorf("an object past the budget was read")
	}

	// Many fetchers and workers at once, the workers holding bodies for a while.
	for _, x := range held {
		f.release(&x)
	}
	var inUse, peak atomic.Int64
	jobs := make(chan job)
	ready := make(chan fetched, 30)
	var fetchers, workers sync.WaitGroup
	for range 16 {
		fetchers.Go(func() {
			for j := range jobs {
				x, err := f.fetch(ctx, j)
				if err != nil {
					t.Error(err)
					return
				}
				n := inUse.Add(int64(cap(x.body)))
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				ready <- x
			}
		})
	}
	got := map[string][]byte{}
	var mu sync.Mutex
	for range 2 {
		workers.Go(func() {
			for x := range ready {
				time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
				mu.Lock()
				got[x.obj.Key] = x.body
				mu.Unlock()
				inUse.Add(-int64(cap(x.body)))
				f.release(&x)
			}
		})
	}
	for i := range 30 {
		jobs <- objOf(fmt.Sprint(i), size)
	}
	close(jobs)
	fetchers.Wait()
	close(ready)
	workers.Wait()
	if p := peak.Load(); p > budget {
		t.Errorf("%d bytes buffered at once, budget %d", p, budget)
	}
	for k, b := range m.objs {
		if !bytes.Equal(got[k], b) {
			t.Errorf("%s: got %d bytes, want its %d", k, len(got[k]), len(b))
		}
	}
}

// TestFetchCancel: a fetch waiting on its GET ends with the context, and its budget is
// given back.
func TestFetchCancel(t *testing.T) {
	m := &memStore{objs: map[string][]byte{"k": []byte("body")}, block: make(chan struct{})}
	f := newFetcher(m, 1000)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() {
		_, err := f.fetch(ctx, objOf("k", 4))
		done <- err
	}()
	time.Sleep(10 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("fetch: %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("fetch did not end with its context")
	}
	if !f.budget.TryAcquire(1000) {
		t.Errorf("budget not given back")
	}
}

// TestProcessBuffered: a worker reading a buffered body counts what a streamed read of the
// same object counts, and a read that broke off and was retried counts once.
func TestProcessBuffered(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(`{"Records":[{"eventID":"a","eventSource":"x.amazonaws.com"}]}`))
	zw.Close()
	body := gz.Bytes()
	m := &memStore{objs: map[string][]byte{"k": body}, breakFirst: true}
	src := storage.WithRetry(m, storage.RetryPolicy{Backoff: time.Millisecond})
	f := newFetcher(src, 1<<20)
	j := objOf("k", int64(len(body)))
	x, err := f.fetch(t.Context(), j)
	if err != nil || x.body == nil {
		t.Fatalf("fetch: %v, body %v", err, x.body != nil)
	}
	w := newWorker(src, nil)
	buffered := w.process(t.Context(), x)
	streamed := w.process(t.Context(), fetched{job: j})
	for name, r := range map[string]*objectResult{"buffered": buffered, "streamed": streamed} {
		if r.err != nil || r.bytesRead != int64(len(body)) || r.file.Records != 1 {
			t.Errorf("%s: err %v, %d bytes read, %v; want %d bytes, 1 record", name, r.err, r.bytesRead, r.file, len(body))
		}
	}
}
