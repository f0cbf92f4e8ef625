// Package faultproxy is an HTTP reverse proxy for tests that sits between an S3 client and a
// real S3-compatible server and injects the faults S3 is known for: 503 SlowDown, 500
// InternalError, a connection that breaks off in the middle of an object's body, a body that
// stalls, a request never answered at all, objects archived to Glacier (403
// InvalidObjectState), and writes refused (403 AccessDenied). Everything else is
// forwarded unchanged, with the client's Host header, so SigV4 signatures still verify.
//
// Faults are deterministic: each distinct object key that is fetched (GET) gets a number, 1,
// 2, 3… in the order of its first request, and a key whose number is a multiple of
// Config.SlowDownEvery gets a SlowDown answer, and so on. The faults one key gets come one per
// request, in the order SlowDown, InternalError, Reset, Stall, Hang; its later requests go
// through.
// So a client that retries enough reads everything, and the counters say what was injected.
//
// Conditional writes (If-Match, If-None-Match) can be answered 409 ConditionalRequestConflict
// (Config.ConflictEvery), or done with their answer lost (Config.LoseAnswerEvery), and PUTs
// can be slowed (Config.WriteDelay).
//
// The proxy can also record selected headers of every request (Config.RecordHeaders), and
// play S3's expected-bucket-owner check for buckets owned by AWS accounts
// (Config.BucketOwners).
package faultproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Config says which faults to inject. Zero values inject nothing.
type Config struct {
	// SlowDownEvery: the first request of every Nth object key is answered 503 SlowDown.
	SlowDownEvery int
	// InternalErrorEvery: every Nth object key gets one 500 InternalError answer.
	InternalErrorEvery int
	// ResetEvery: every Nth object key gets one response that breaks off mid-body: the real
	// status and headers (Content-Length included), part of the body, then the connection is
	// closed.
	ResetEvery int
	// StallEvery: every Nth object key gets one response that sends the real status and
	// headers and part of the body, then sends nothing more until the client gives up (or
	// the proxy is closed).
	StallEvery int
	// HangEvery: every Nth object key gets one request that is never answered: the proxy
	// reads the request and sends nothing back, no status, no reset, until the client gives
	// up (or the proxy is closed). It comes after the key's other faults.
	HangEvery int
	// DenyWrites: a PUT, POST or DELETE whose path (/BUCKET/KEY) starts with one of these
	// (say "/lake-bucket/tables/") is answered 403 AccessDenied, as S3 answers an identity
	// that may not write there, and never reaches the server.
	DenyWrites []string
	// CutAfter is how many body bytes a reset or stalled response sends; 0 means half the
	// body. A response with an empty body, or that is not a 200, is forwarded whole.
	CutAfter int64
	// RST makes a reset close the connection with a TCP RST (SO_LINGER 0) rather than a
	// plain close. A plain close is a clean truncation: the client always gets the headers
	// and the partial body, then an unexpected EOF. With RST the client's kernel may throw
	// away data it had not read yet, so the client may see the reset before the headers.
	RST bool
	// ListSlowDownEvery: the first request of every Nth distinct listing (a GET of a bucket,
	// such as ListObjectsV2, one per page) is answered 503 SlowDown.
	ListSlowDownEvery int
	// Archived: a GET of an object whose key contains one of these strings is answered, every
	// time, 403 InvalidObjectState with storage class GLACIER, as S3 answers for an object
	// archived to Glacier Flexible Retrieval or Deep Archive.
	Archived []string

	// ConflictEvery: every Nth conditional write (a PUT or DELETE carrying If-Match or
	// If-None-Match), counted over all keys, is answered 409 ConditionalRequestConflict
	// and never reaches the server, as AWS S3 answers a conditional write that races another
	// (a server that serialises them, like versitygw, never does).
	ConflictEvery int
	// LoseAnswerEvery: every Nth conditional PUT (counted with ConflictEvery's) is forwarded
	// and done by the server, but the client gets 500 InternalError instead of its answer, so
	// the client retries a write that already happened.
	LoseAnswerEvery int
	// WriteDelay holds every PUT this long before forwarding it: a slow destination.
	WriteDelay time.Duration
	// Latency holds every request this long before the proxy acts on it (forwards it or
	// answers a fault), as S3 from inside a region answers in tens of milliseconds. Requests
	// wait concurrently, so it adds latency, not a limit on throughput. A request whose
	// client gives up, or that the proxy's Close finds waiting, is dropped unanswered.
	Latency time.Duration

	// RecordHeaders: the proxy records every request it receives, with the values of these
	// headers as the client sent them (see Proxy.Recorded).
	RecordHeaders []string
	// BucketOwners plays S3's expected-bucket-owner check: it maps a bucket to the AWS
	// account (12 digits) that owns it. A request to such a bucket whose
	// x-amz-expected-bucket-owner names another account is answered 403 AccessDenied, as S3
	// answers it, and never reaches the server. One that names the right account is
	// forwarded without the header, re-signed with Resign: the server's bucket owners are not
	// AWS accounts (versitygw's is the access key id that created the bucket, and versitygw
	// checks the header against that itself), and SigV4 signs the header, so it cannot be
	// dropped without signing again. Requests without the header are forwarded unchanged.
	BucketOwners map[string]string
	// Resign is the identity the proxy signs the requests it changes with: the server's
	// credentials. BucketOwners needs it.
	Resign *Credentials
}

// Credentials sign the requests the proxy changes (SigV4, service s3).
type Credentials struct {
	AccessKey, SecretKey string
	Region               string // "" means us-east-1
}

// Request is one request the proxy received, as the client sent it.
type Request struct {
	Method, Path, RawQuery string
	Header                 map[string]string // the Config.RecordHeaders it carried, by canonical name
}

// Proxy is a running fault-injecting proxy. Its counters say what it did.
type Proxy struct {
	// URL is the proxy's endpoint, http://127.0.0.1:PORT: give it to the S3 client.
	URL string

	Requests       atomic.Int64 // requests received
	ObjectGets     atomic.Int64 // GETs of objects, faulted or not
	SlowDowns      atomic.Int64 // 503 SlowDown answers to object GETs
	InternalErrors atomic.Int64 // 500 InternalError answers
	Resets         atomic.Int64 // responses cut off mid-body by closing the connection
	Stalls         atomic.Int64 // responses that stalled mid-body
	Archived       atomic.Int64 // 403 InvalidObjectState answers
	ListSlowDowns  atomic.Int64 // 503 SlowDown answers to listings
	Hangs          atomic.Int64 // requests never answered
	WritesDenied   atomic.Int64 // 403 AccessDenied answers to writes (Config.DenyWrites)
	OwnerDenied    atomic.Int64 // 403 AccessDenied answers for a wrong expected bucket owner
	Resigned       atomic.Int64 // requests forwarded without their expected owner, re-signed
	Listings       atomic.Int64 // GETs of a bucket (ListObjectsV2 pages and the like)
	MaxInFlight    atomic.Int64 // the most requests the proxy was serving at once
	Conditional    atomic.Int64 // conditional writes received (If-Match or If-None-Match)
	Conflicts      atomic.Int64 // 409 ConditionalRequestConflict answers
	LostAnswers    atomic.Int64 // conditional PUTs done by the server whose answer became a 500

	inFlight atomic.Int64

	cfg       Config
	srv       *httptest.Server
	transport *http.Transport
	proxy     *httputil.ReverseProxy
	closing   chan struct{}
	closeOnce sync.Once

	mu       sync.Mutex
	keys     map[string]*seen // object GETs by bucket/key
	lists    map[string]*seen // listings by bucket?query
	recorded []Request
}

// Recorded returns the requests received so far, in order (with Config.RecordHeaders).
func (p *Proxy) Recorded() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Request(nil), p.recorded...)
}

// seen is what the proxy knows of one object key or listing.
type seen struct {
	num      int // 1, 2, 3… in the order of first requests
	requests int
}

// fault is what the proxy does to one request.
type fault int

const (
	none fault = iota
	slowDown
	internalError
	reset
	stall
	archived
	listSlowDown
	hang
)

type faultKey struct{}

// resignKey marks a request whose expected bucket owner the proxy checked: it is forwarded
// without the header, signed again.
type resignKey struct{}

const expectedOwnerHeader = "X-Amz-Expected-Bucket-Owner"

// New starts a proxy in front of upstream (the S3 server's endpoint URL) on 127.0.0.1.
// Close it when done.
func New(upstream string, cfg Config) (*Proxy, error) {
	target, err := url.Parse(upstream)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: upstream %q: %w", upstream, err)
	}
	if target.Scheme == "" || target.Host == "" {
		return nil, fmt.Errorf("faultproxy: upstream %q is not an http(s) URL", upstream)
	}
	if len(cfg.BucketOwners) > 0 && cfg.Resign == nil {
		return nil, errors.New("faultproxy: BucketOwners needs Resign credentials")
	}
	p := &Proxy{
		cfg:       cfg,
		transport: http.DefaultTransport.(*http.Transport).Clone(),
		closing:   make(chan struct{}),
		keys:      map[string]*seen{},
		lists:     map[string]*seen{},
	}
	p.proxy = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host // SigV4 signs the Host header: keep the client's
			if r.In.Context().Value(resignKey{}) != nil {
				r.Out.Header.Del(expectedOwnerHeader)
				p.resign(r.Out)
			}
		},
		Transport:      p.transport,
		FlushInterval:  -1, // flush every write, so a cut response's partial body reaches the client
		ModifyResponse: p.modifyResponse,
		ErrorLog:       log.New(io.Discard, "", 0),
	}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	p.URL = p.srv.URL
	return p, nil
}

// Close stops the proxy, ending stalled responses.
func (p *Proxy) Close() {
	p.closeOnce.Do(func() {
		close(p.closing)
		p.srv.CloseClientConnections()
		p.srv.Close()
		p.transport.CloseIdleConnections()
	})
}

// String summarises the counters, for test logs.
func (p *Proxy) String() string {
	return fmt.Sprintf("requests %d, object GETs %d, SlowDown %d, InternalError %d, resets %d, stalls %d, archived %d, listing SlowDown %d, hangs %d, writes denied %d",
		p.Requests.Load(), p.ObjectGets.Load(), p.SlowDowns.Load(), p.InternalErrors.Load(), p.Resets.Load(),
		p.Stalls.Load(), p.Archived.Load(), p.ListSlowDowns.Load(), p.Hangs.Load(), p.WritesDenied.Load())
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	p.Requests.Add(1)
	n := p.inFlight.Add(1)
	defer p.inFlight.Add(-1)
	for m := p.MaxInFlight.Load(); n > m && !p.MaxInFlight.CompareAndSwap(m, n); m = p.MaxInFlight.Load() {
	}
	if r.Method == http.MethodGet && isBucketRequest(r) {
		p.Listings.Add(1)
	}
	p.record(r)
	if p.cfg.Latency > 0 && !p.wait(r, p.cfg.Latency) {
		return
	}
	if owner := r.Header.Get(expectedOwnerHeader); owner != "" {
		bucket, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		if want, ok := p.cfg.BucketOwners[bucket]; ok {
			if owner != want {
				p.OwnerDenied.Add(1)
				writeError(w, http.StatusForbidden, "AccessDenied", "Access Denied", "")
				return
			}
			r = r.WithContext(context.WithValue(r.Context(), resignKey{}, true))
		}
	}
	if r.Method == http.MethodPut || r.Method == http.MethodPost || r.Method == http.MethodDelete {
		for _, d := range p.cfg.DenyWrites {
			if d != "" && strings.HasPrefix(r.URL.Path, d) {
				p.WritesDenied.Add(1)
				writeError(w, http.StatusForbidden, "AccessDenied", "Access Denied", "")
				return
			}
		}
	}
	if r.Method == http.MethodPut && p.cfg.WriteDelay > 0 {
		p.wait(r, p.cfg.WriteDelay)
	}
	if (r.Method == http.MethodPut || r.Method == http.MethodDelete) && (r.Header.Get("If-Match") != "" || r.Header.Get("If-None-Match") != "") {
		n := p.Conditional.Add(1)
		switch {
		case p.cfg.ConflictEvery > 0 && n%int64(p.cfg.ConflictEvery) == 0:
			p.Conflicts.Add(1)
			io.Copy(io.Discard, r.Body)
			writeError(w, http.StatusConflict, "ConditionalRequestConflict", "A conflicting conditional operation is currently in progress against this resource. Please try again.", "")
			return
		case r.Method == http.MethodPut && p.cfg.LoseAnswerEvery > 0 && n%int64(p.cfg.LoseAnswerEvery) == 0:
			rec := httptest.NewRecorder()
			p.proxy.ServeHTTP(rec, r)
			if rec.Code/100 == 2 {
				p.LostAnswers.Add(1)
				writeError(w, http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again.", "")
				return
			}
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			w.Write(rec.Body.Bytes())
			return
		}
	}
	f := p.decide(r)
	switch f {
	case hang:
		p.Hangs.Add(1)
		select {
		case <-r.Context().Done():
		case <-p.closing:
		}
		return
	case slowDown, listSlowDown:
		if f == slowDown {
			p.SlowDowns.Add(1)
		} else {
			p.ListSlowDowns.Add(1)
		}
		writeError(w, http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate.", "")
		return
	case internalError:
		p.InternalErrors.Add(1)
		writeError(w, http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again.", "")
		return
	case archived:
		p.Archived.Add(1)
		writeError(w, http.StatusForbidden, "InvalidObjectState", "The operation is not valid for the object's storage class", "GLACIER")
		return
	case reset, stall:
		r = r.WithContext(context.WithValue(r.Context(), faultKey{}, f))
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler && f == reset && p.cfg.RST {
				if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
					if tc, ok := conn.(*net.TCPConn); ok {
						tc.SetLinger(0)
					}
					conn.Close()
					return
				}
			}
			panic(v) // http.ErrAbortHandler: the server closes the connection quietly
		}()
	}
	p.proxy.ServeHTTP(w, r)
}

// wait holds r for d and reports whether d passed: false if the client gave up or the
// proxy is closing first.
func (p *Proxy) wait(r *http.Request, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.closing:
		return false
	case <-r.Context().Done():
		return false
	}
}

// record keeps r's method, path and recorded headers.
func (p *Proxy) record(r *http.Request) {
	if len(p.cfg.RecordHeaders) == 0 {
		return
	}
	rec := Request{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: map[string]string{}}
	for _, h := range p.cfg.RecordHeaders {
		if v := r.Header.Values(h); len(v) > 0 {
			rec.Header[http.CanonicalHeaderKey(h)] = strings.Join(v, ",")
		}
	}
	p.mu.Lock()
	p.recorded = append(p.recorded, rec)
	p.mu.Unlock()
}

// resign signs out again with Config.Resign (SigV4 for S3: no double escaping of the path),
// keeping the client's payload hash (x-amz-content-sha256). A failure leaves the request
// unsigned, which the server refuses.
func (p *Proxy) resign(out *http.Request) {
	p.Resigned.Add(1)
	c := p.cfg.Resign
	region := c.Region
	if region == "" {
		region = "us-east-1"
	}
	out.Header.Del("Authorization")
	out.Header.Del("X-Amz-Date")
	out.Header.Del("X-Amz-Security-Token")
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	creds := aws.Credentials{AccessKeyID: c.AccessKey, SecretAccessKey: c.SecretKey}
	signer.SignHTTP(out.Context(), creds, out, out.Header.Get("X-Amz-Content-Sha256"), "s3", region, time.Now())
}

// decide picks the fault for a request and counts the request.
// isBucketRequest reports whether r addresses a bucket rather than an object (path-style:
// /BUCKET with no key), as listings do.
func isBucketRequest(r *http.Request) bool {
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	return bucket != "" && key == ""
}

func (p *Proxy) decide(r *http.Request) fault {
	if r.Method != http.MethodGet {
		return none
	}
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if bucket == "" {
		return none // ListBuckets
	}
	if key == "" {
		if p.cfg.ListSlowDownEvery <= 0 {
			return none
		}
		s := p.count(p.lists, bucket+"?"+r.URL.RawQuery)
		if s.requests == 1 && s.num%p.cfg.ListSlowDownEvery == 0 {
			return listSlowDown
		}
		return none
	}
	if !isGetObject(r.URL.Query()) {
		return none
	}
	p.ObjectGets.Add(1)
	for _, a := range p.cfg.Archived {
		if a != "" && strings.Contains(key, a) {
			return archived
		}
	}
	s := p.count(p.keys, bucket+"/"+key)
	var plan []fault
	for _, c := range []struct {
		every int
		f     fault
	}{{p.cfg.SlowDownEvery, slowDown}, {p.cfg.InternalErrorEvery, internalError}, {p.cfg.ResetEvery, reset}, {p.cfg.StallEvery, stall}, {p.cfg.HangEvery, hang}} {
		if c.every > 0 && s.num%c.every == 0 {
			plan = append(plan, c.f)
		}
	}
	if i := s.requests - 1; i < len(plan) {
		return plan[i]
	}
	return none
}

// isGetObject tells a GetObject request from GETs of an object's sub-resources (acl,
// tagging, attributes…).
func isGetObject(q url.Values) bool {
	for k := range q {
		switch {
		case k == "x-id", k == "versionId", k == "partNumber", strings.HasPrefix(k, "response-"), strings.HasPrefix(k, "X-Amz-"):
		default:
			return false
		}
	}
	return q.Get("x-id") == "" || q.Get("x-id") == "GetObject"
}

// count records one request for name and returns its state after it.
func (p *Proxy) count(m map[string]*seen, name string) seen {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := m[name]
	if s == nil {
		s = &seen{num: len(m) + 1}
		m[name] = s
	}
	s.requests++
	return *s
}

// modifyResponse cuts the body of a response chosen for a reset or a stall.
func (p *Proxy) modifyResponse(resp *http.Response) error {
	f, _ := resp.Request.Context().Value(faultKey{}).(fault)
	if (f != reset && f != stall) || resp.StatusCode != http.StatusOK || resp.ContentLength <= 0 {
		return nil
	}
	n := p.cfg.CutAfter
	if n <= 0 || n >= resp.ContentLength {
		n = resp.ContentLength / 2
	}
	// Counted now, before any of the body goes out: a client that has read the part it
	// gets must find the fault counted.
	if f == stall {
		p.Stalls.Add(1)
	} else {
		p.Resets.Add(1)
	}
	resp.Body = &cutBody{r: resp.Body, left: n, p: p, f: f, ctx: resp.Request.Context()}
	return nil
}

var errCut = errors.New("faultproxy: response cut off")

// cutBody passes left bytes through, then fails (a reset) or waits for
// the client to give up first (a stall).
type cutBody struct {
	r    io.ReadCloser
	left int64
	p    *Proxy
	f    fault
	ctx  context.Context
	done bool
}

func (c *cutBody) Read(b []byte) (int, error) {
	if c.left > 0 {
		if int64(len(b)) > c.left {
			b = b[:c.left]
		}
		n, err := c.r.Read(b)
		c.left -= int64(n)
		if err == io.EOF && c.left > 0 {
			err = io.ErrUnexpectedEOF
		}
		if err != nil || n > 0 {
			return n, err
		}
	}
	if !c.done {
		c.done = true
		if c.f == stall {
			select {
			case <-c.ctx.Done():
			case <-c.p.closing:
			}
		}
	}
	return 0, errCut
}

func (c *cutBody) Close() error { return c.r.Close() }

// writeError answers an S3 error document.
func writeError(w http.ResponseWriter, status int, code, message, storageClass string) {
	body := `<?xml version="1.0" encoding="UTF-8"?>` + "\n<Error><Code>" + code + "</Code><Message>" + message + "</Message>"
	if storageClass != "" {
		body += "<StorageClass>" + storageClass + "</StorageClass>"
	}
	body += "<RequestId>faultproxy</RequestId></Error>"
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(status)
	io.WriteString(w, body)
}
