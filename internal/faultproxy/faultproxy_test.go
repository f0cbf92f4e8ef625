package faultproxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// upstream is a plain HTTP server standing in for the object store in these tests of the
// proxy's own mechanics: it answers every GET with a fixed body per path and records the
// Host header it saw. (The S3 behaviour behind the proxy is tested against the real server
// in pkg/storage and cmd/marketrail.)
type upstream struct {
	srv   *httptest.Server
	mu    sync.Mutex
	hosts []string
	gets  map[string]int
}

func body(path string) []byte { return bytes.Repeat([]byte(path+";"), 1000) }

func newUpstream(t *testing.T) *upstream {
	u := &upstream{gets: map[string]int{}}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.hosts = append(u.hosts, r.Host)
		u.gets[r.URL.Path]++
		u.mu.Unlock()
		b := body(r.URL.Path)
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		w.Write(b)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func start(t *testing.T, cfg Config) (*Proxy, *upstream) {
	t.Helper()
	u := newUpstream(t)
	p, err := New(u.srv.URL, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p, u
}

// get fetches path through the proxy with a fresh connection and returns the status, the
// declared length, the body bytes read and the error reading them.
func get(t *testing.T, p *Proxy, path string) (int, int64, []byte, error) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(p.URL + path)
	if err != nil {
		return 0, 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.ContentLength, b, err
}

func TestFaultsPerKey(t *testing.T) {
	p, u := start(t, Config{SlowDownEvery: 2, InternalErrorEvery: 3, ResetEvery: 2, CutAfter: 100})
	// Key numbers follow first requests: k1 gets nothing, k2 SlowDown then a reset, k3 a 500,
	// k4 SlowDown then a reset, k6 SlowDown, 500, reset.
	type want struct {
		status int
		cut    bool
	}
	plans := map[int][]want{
		1: {{200, false}},
		2: {{503, false}, {200, true}, {200, false}},
		3: {{500, false}, {200, false}},
		4: {{503, false}, {200, true}, {200, false}},
		5: {{200, false}},
		6: {{503, false}, {500, false}, {200, true}, {200, false}},
	}
	for k := 1; k <= 6; k++ {
		path := fmt.Sprintf("/bucket/logs/k%d.json.gz", k)
		for i, w := range plans[k] {
			status, n, b, err := get(t, p, path)
			if status != w.status {
				t.Fatalf("%s request %d: status %d, want %d", path, i+1, status, w.status)
			}
			if status >= 500 {
				if !strings.Contains(string(b), "<Code>") {
					t.Errorf("%s: error body %q is not an S3 error document", path, b)
				}
				continue
			}
			full := body(path)
			if n != int64(len(full)) {
				t.Errorf("%s: Content-Length %d, want the real %d", path, n, len(full))
			}
			switch {
			case w.cut && (!errors.Is(err, io.ErrUnexpectedEOF) || !bytes.Equal(b, full[:100])):
				t.Errorf("%s request %d: read %d bytes (%v), want the first 100 then an unexpected EOF", path, i+1, len(b), err)
			case !w.cut && (err != nil || !bytes.Equal(b, full)):
				t.Errorf("%s request %d: read %d bytes (%v), want the whole body", path, i+1, len(b), err)
			}
		}
	}
	if p.SlowDowns.Load() != 3 || p.InternalErrors.Load() != 2 || p.Resets.Load() != 3 {
		t.Errorf("counters: %s", p)
	}
	// Every forwarded request kept the client's Host header (SigV4 signs it).
	host := strings.TrimPrefix(p.URL, "http://")
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, h := range u.hosts {
		if h != host {
			t.Fatalf("upstream saw Host %q, want the client's %q", h, host)
		}
	}
}

func TestArchived(t *testing.T) {
	p, u := start(t, Config{Archived: []string{"cold"}, SlowDownEvery: 1})
	for range 3 {
		status, _, b, _ := get(t, p, "/bucket/logs/cold.json.gz")
		if status != 403 || !strings.Contains(string(b), "<Code>InvalidObjectState</Code>") || !strings.Contains(string(b), "<StorageClass>GLACIER</StorageClass>") {
			t.Fatalf("archived key: status %d, body %s", status, b)
		}
	}
	if p.Archived.Load() != 3 || u.gets["/bucket/logs/cold.json.gz"] != 0 {
		t.Errorf("counters: %s; upstream GETs %d", p, u.gets["/bucket/logs/cold.json.gz"])
	}
}

func TestListings(t *testing.T) {
	p, _ := start(t, Config{ListSlowDownEvery: 1, SlowDownEvery: 1})
	for i, want := range []int{503, 200, 200} {
		if status, _, _, _ := get(t, p, "/bucket?list-type=2&prefix=AWSLogs%2F"); status != want {
			t.Errorf("listing request %d: status %d, want %d", i+1, status, want)
		}
	}
	// Sub-resources of an object are not GetObject: no faults.
	if status, _, _, _ := get(t, p, "/bucket/key?tagging"); status != 200 {
		t.Errorf("GET ?tagging: status %d", status)
	}
	if p.ListSlowDowns.Load() != 1 || p.SlowDowns.Load() != 0 {
		t.Errorf("counters: %s", p)
	}
}

func TestRST(t *testing.T) {
	p, _ := start(t, Config{ResetEvery: 1, RST: true, CutAfter: 10})
	status, _, b, err := get(t, p, "/bucket/k")
	if err == nil {
		t.Fatalf("status %d, %d bytes, no error: want the connection reset", status, len(b))
	}
	if p.Resets.Load() != 1 {
		t.Errorf("counters: %s", p)
	}
	if status, _, _, err := get(t, p, "/bucket/k"); status != 200 || err != nil {
		t.Errorf("second request: %d %v", status, err)
	}
}

func TestStall(t *testing.T) {
	p, _ := start(t, Config{StallEvery: 1, CutAfter: 10})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", p.URL+"/bucket/k", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 10)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatalf("partial body: %v", err)
	}
	// Nothing more comes until the client gives up.
	done := make(chan error, 1)
	go func() {
		_, err := resp.Body.Read(make([]byte, 10))
		done <- err
	}()
	cancel()
	if err := <-done; err == nil {
		t.Fatal("read after the stall succeeded")
	}
	if p.Stalls.Load() != 1 {
		t.Errorf("counters: %s", p)
	}
}

// TestHangAndDenyWrites: a key chosen to hang gets no answer at all on its first request
// (the client's own deadline ends it) and a normal one on the next; a write under a denied
// prefix is refused 403 AccessDenied and never reaches the server.
func TestHangAndDenyWrites(t *testing.T) {
	p, u := start(t, Config{HangEvery: 1, DenyWrites: []string{"/b/lake/"}})
	c := &http.Client{Transport: &http.Transport{ResponseHeaderTimeout: 200 * time.Millisecond}}
	_, err := c.Get(p.URL + "/b/k")
	if err == nil || !strings.Contains(err.Error(), "timeout awaiting response headers") {
		t.Fatalf("first GET of a hanging key: %v, want a response-header timeout", err)
	}
	if p.Hangs.Load() != 1 {
		t.Errorf("hangs %d, want 1", p.Hangs.Load())
	}
	resp, err := c.Get(p.URL + "/b/k")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("second GET: %v %v, want 200", resp, err)
	}
	resp.Body.Close()

	for _, path := range []string{"/b/lake/x", "/b/other"} {
		req, _ := http.NewRequest(http.MethodPut, p.URL+path, strings.NewReader("data"))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		want := http.StatusOK
		if strings.HasPrefix(path, "/b/lake/") {
			want = http.StatusForbidden
		}
		if resp.StatusCode != want {
			t.Errorf("PUT %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.gets["/b/lake/x"] != 0 || u.gets["/b/other"] != 1 {
		t.Errorf("upstream saw %v: the denied write must not reach it, the other must", u.gets)
	}
	if p.WritesDenied.Load() != 1 {
		t.Errorf("writes denied %d, want 1", p.WritesDenied.Load())
	}
}

// TestConditionalFaults: every ConflictEvery-th conditional write is answered 409 without
// reaching the server; every LoseAnswerEvery-th conditional PUT reaches it and is answered
// 500; plain writes pass; WriteDelay holds PUTs.
func TestConditionalFaults(t *testing.T) {
	p, u := start(t, Config{ConflictEvery: 2, LoseAnswerEvery: 3, WriteDelay: 50 * time.Millisecond})
	send := func(method, path, header string) int {
		req, _ := http.NewRequest(method, p.URL+path, strings.NewReader("body"))
		if header != "" {
			req.Header.Set(header, "*")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	began := time.Now()
	got := []int{
		send(http.MethodPut, "/bucket/a", "If-None-Match"), // 1: forwarded
		send(http.MethodPut, "/bucket/b", "If-Match"),      // 2: 409
		send(http.MethodPut, "/bucket/c", "If-None-Match"), // 3: forwarded, answer lost
		send(http.MethodDelete, "/bucket/d", "If-Match"),   // 4: 409
		send(http.MethodPut, "/bucket/e", ""),              // not conditional: forwarded
	}
	if want := []int{200, 409, 500, 409, 200}; !slices.Equal(got, want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
	if time.Since(began) < 4*50*time.Millisecond {
		t.Errorf("PUTs were not delayed")
	}
	if p.Conditional.Load() != 4 || p.Conflicts.Load() != 2 || p.LostAnswers.Load() != 1 {
		t.Errorf("counters: %d conditional, %d conflicts, %d lost", p.Conditional.Load(), p.Conflicts.Load(), p.LostAnswers.Load())
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.gets["/bucket/b"] != 0 || u.gets["/bucket/d"] != 0 || u.gets["/bucket/c"] != 1 || u.gets["/bucket/a"] != 1 {
		t.Errorf("the server saw %v", u.gets)
	}
}

// TestLatency: every request waits Config.Latency before it is forwarded; requests wait
// side by side, so N in parallel take about one Latency, not N; a client that gives up
// during the wait gets nothing and the request never reaches the server.
func TestLatency(t *testing.T) {
	const latency = 100 * time.Millisecond
	p, u := start(t, Config{Latency: latency})

	begin := time.Now()
	if status, _, b, err := get(t, p, "/b/one"); err != nil || status != http.StatusOK || !bytes.Equal(b, body("/b/one")) {
		t.Fatalf("GET through the proxy: %d %v", status, err)
	}
	if d := time.Since(begin); d < latency {
		t.Errorf("a request took %v, want at least %v", d, latency)
	}

	const n = 32
	begin = time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			path := fmt.Sprintf("/b/k%d", i)
			status, _, b, err := get(t, p, path)
			if err == nil && (status != http.StatusOK || !bytes.Equal(b, body(path))) {
				err = fmt.Errorf("GET %s: status %d, %d bytes", path, status, len(b))
			}
			errs <- err
		}()
	}
	wg.Wait()
	d := time.Since(begin)
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if d < latency || d >= n*latency/2 {
		t.Errorf("%d parallel requests took %v, want at least %v and well under %v: the waits must overlap", n, d, latency, n*latency)
	}
	if m := p.MaxInFlight.Load(); m < 2 {
		t.Errorf("max in flight %d: the parallel requests never overlapped", m)
	}

	// A client that gives up while the request waits: it is never forwarded.
	ctx, cancel := context.WithTimeout(context.Background(), latency/5)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/b/gaveup", nil)
	if resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("GET with a deadline shorter than the latency: %d, want an error", resp.StatusCode)
	}
	time.Sleep(2 * latency) // long enough for a wrongly forwarded request to arrive
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.gets["/b/gaveup"] != 0 {
		t.Error("a request whose client gave up during the latency reached the server")
	}
}

// TestLatencyClose: Close ends the requests waiting out their latency.
func TestLatencyClose(t *testing.T) {
	p, _ := start(t, Config{Latency: time.Hour})
	done := make(chan error, 1)
	go func() {
		_, _, _, err := get(t, p, "/b/k")
		done <- err
	}()
	for p.Requests.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	p.Close()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a request waiting out its latency outlived Close")
	}
}
