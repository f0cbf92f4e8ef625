package main

// Bucket ownership and encryption of writes, end to end: the binary runs against the real S3
// server through internal/faultproxy, which records the headers of every request and plays
// S3's expected-bucket-owner check for buckets owned by AWS accounts.
//
// versitygw itself enforces x-amz-expected-bucket-owner, but its bucket owners are access
// key ids, not 12-digit accounts: a wrong owner is tested against versitygw directly
// (TestBucketOwnerWrongFailsClosed), a right one through the proxy, which checks the account
// and forwards the request without the header, signed again. versitygw accepts (and
// ignores) x-amz-server-side-encryption AES256 and aws:kms with a key id, so those requests
// go to the server unchanged: what is checked is what marketrail sends.

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/marketrail/marketrail/internal/faultproxy"
	"github.com/marketrail/marketrail/internal/s3test"
)

const (
	sourceAccount = "111111111111"
	destAccount   = "222222222222"
	strayAccount  = "999999999999"
	testKMSKey    = "arn:aws:kms:us-east-1:222222222222:key/66666666-7777-8888-9999-000000000000"
)

var recordedHeaders = []string{"X-Amz-Expected-Bucket-Owner", "X-Amz-Server-Side-Encryption", "X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id"}

// ownedBuckets uploads the sample trail to a new source bucket, makes a destination bucket
// and starts a proxy that plays sourceAccount and destAccount owning them.
func ownedBuckets(t *testing.T) (c *s3.Client, srv s3test.Server, src, dst string, p *faultproxy.Proxy) {
	t.Helper()
	c, srv = s3test.Client(t)
	src, dst = s3test.Bucket(t, c), s3test.Bucket(t, c)
	upload(t, c, sampleTrail, src, "logs/")
	p, err := faultproxy.New(srv.Endpoint, faultproxy.Config{
		BucketOwners:  map[string]string{src: sourceAccount, dst: destAccount},
		Resign:        &faultproxy.Credentials{AccessKey: srv.AccessKey, SecretKey: srv.SecretKey},
		RecordHeaders: recordedHeaders,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return c, srv, src, dst, p
}

// checkRequests checks every request the proxy saw: it carries its bucket's owner, and
// every PUT the encryption asked for. It returns how many PUTs there were per bucket.
func checkRequests(t *testing.T, reqs []faultproxy.Request, owners map[string]string, sse, kmsKey string) map[string]int {
	t.Helper()
	if len(reqs) == 0 {
		t.Fatal("the proxy saw no request")
	}
	puts := map[string]int{}
	for _, r := range reqs {
		bucket, _, _ := strings.Cut(strings.TrimPrefix(r.Path, "/"), "/")
		what := r.Method + " " + r.Path + "?" + r.RawQuery
		if got, want := r.Header["X-Amz-Expected-Bucket-Owner"], owners[bucket]; got != want || want == "" {
			t.Errorf("%s: expected bucket owner %q, want %q", what, got, want)
		}
		if r.Method == http.MethodPut {
			puts[bucket]++
			if got := r.Header["X-Amz-Server-Side-Encryption"]; got != sse {
				t.Errorf("%s: server-side encryption %q, want %q", what, got, sse)
			}
			if got := r.Header["X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id"]; got != kmsKey {
				t.Errorf("%s: KMS key %q, want %q", what, got, kmsKey)
			}
		} else if r.Header["X-Amz-Server-Side-Encryption"] != "" {
			t.Errorf("%s carries server-side encryption", what)
		}
	}
	return puts
}

// TestBucketOwnerAndSSE: a run from one bucket to another, with both owners and SSE-KMS,
// sends the right owner with every request to each bucket (listings, GETs, PUTs, DELETEs,
// the report) and the encryption with every PUT, and writes exactly the manifest's rows. A
// second run (--force, which replaces and deletes files) with SSE-S3 sends AES256 and no key.
func TestBucketOwnerAndSSE(t *testing.T) {
	m := readManifest(t, sampleManifest)
	c, srv, src, dst, p := ownedBuckets(t)
	owners := map[string]string{src: sourceAccount, dst: destAccount}
	args := []string{"run", "--source", "s3://" + src + "/logs", "--dest", "s3://" + dst + "/lake",
		"--from", m.Window.From, "--to", m.Window.To, "--endpoint-url", p.URL,
		"--source-bucket-owner", sourceAccount, "--dest-bucket-owner", destAccount, "--report", "s3://" + dst + "/runs/run.json"}

	r := marketrail(t, srv.Env(), append(slices.Clone(args), "--sse", "aws:kms", "--sse-kms-key-id", testKMSKey)...)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	got, _ := written(t, download(t, c, dst, "lake/"))
	diff(t, "owned buckets, SSE-KMS", got, m.expected(m.Window.From, m.Window.To))
	reqs := p.Recorded()
	puts := checkRequests(t, reqs, owners, "aws:kms", testKMSKey)
	if puts[dst] < 3 || puts[src] != 0 {
		t.Errorf("PUTs per bucket %v: want the tables, manifests and marker in %s, nothing in %s", puts, dst, src)
	}
	var report bool
	for _, q := range reqs {
		report = report || q.Method == http.MethodPut && q.Path == "/"+dst+"/runs/run.json"
	}
	if !report {
		t.Errorf("the --report PUT did not go through the proxy")
	}
	if p.Resigned.Load() != int64(len(reqs)) || p.OwnerDenied.Load() != 0 {
		t.Errorf("proxy: %d requests, %d checked and forwarded, %d denied", len(reqs), p.Resigned.Load(), p.OwnerDenied.Load())
	}

	// Again, forced, with SSE-S3 and smaller files: the days' files are replaced (PUTs of
	// the split files, DELETEs of the first run's) under the same checks.
	r = marketrail(t, srv.Env(), append(slices.Clone(args), "--force", "--sse", "AES256", "--max-rows-per-file", "2")...)
	if r.code != 0 {
		t.Fatalf("second run: exit %d\n%s", r.code, r.stderr)
	}
	checkRequests(t, p.Recorded()[len(reqs):], owners, "AES256", "")
	got, _ = written(t, download(t, c, dst, "lake/"))
	diff(t, "owned buckets, second run", got, m.expected(m.Window.From, m.Window.To))
	methods := map[string]bool{}
	for _, q := range p.Recorded() {
		methods[q.Method] = true
	}
	if !methods[http.MethodGet] || !methods[http.MethodPut] || !methods[http.MethodDelete] {
		t.Errorf("methods seen %v: the runs did not exercise GET, PUT and DELETE", methods)
	}
	t.Logf("methods seen %v; proxy: %s", methods, p)
}

// fatalLine checks a run failed with exit 1 and exactly one "marketrail: " line on standard
// error, containing want, and returns it.
func fatalLine(t *testing.T, what string, r result, want string) string {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(r.stderr, "\n") {
		if strings.HasPrefix(l, "marketrail: ") {
			lines = append(lines, l)
		}
	}
	if r.code != 1 || len(lines) != 1 || !strings.Contains(lines[0], want) {
		t.Errorf("%s: exit %d, want 1 and one line with %q; stderr:\n%s", what, r.code, want, r.stderr)
		return ""
	}
	return lines[0]
}

// TestBucketOwnerWrongFailsClosed: with a bucket owned by another account than the one
// expected, the run stops with exit 1 and one line saying so, and writes nothing there.
func TestBucketOwnerWrongFailsClosed(t *testing.T) {
	m := readManifest(t, sampleManifest)
	c, srv, src, dst, p := ownedBuckets(t)
	window := []string{"--from", m.Window.From, "--to", m.Window.To}

	// versitygw itself: it refuses any 12-digit account, its owners being access key ids.
	r := marketrail(t, srv.Env(), append([]string{"run", "--source", "s3://" + src + "/logs", "--dest", t.TempDir(),
		"--source-bucket-owner", sourceAccount}, window...)...)
	l := fatalLine(t, "versitygw, source", r, "not owned by the expected account "+sourceAccount)
	t.Logf("versitygw: %s", l)

	// Through the proxy (S3's behaviour for accounts). The destination's owner is wrong:
	// nothing is read from the source, nothing written.
	r = marketrail(t, srv.Env(), append([]string{"run", "--source", "s3://" + src + "/logs", "--dest", "s3://" + dst + "/lake",
		"--endpoint-url", p.URL, "--source-bucket-owner", sourceAccount, "--dest-bucket-owner", strayAccount}, window...)...)
	fatalLine(t, "proxy, destination", r, "bucket "+dst+" is not owned by the expected account "+strayAccount)
	for _, q := range p.Recorded() {
		if strings.HasPrefix(q.Path, "/"+src+"/") && q.Method == http.MethodGet && !strings.Contains(q.RawQuery, "list-type") {
			t.Errorf("a log file was read although the destination is not the expected account's: %s %s", q.Method, q.Path)
		}
	}
	out, err := c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: &dst})
	if err != nil || len(out.Contents) != 0 {
		t.Errorf("the destination bucket was written to (%v): %d objects", err, len(out.Contents))
	}

	// The source's owner is wrong (the destination is claimed, with its marker, first).
	r = marketrail(t, srv.Env(), append([]string{"run", "--source", "s3://" + src + "/logs", "--dest", "s3://" + dst + "/lake",
		"--endpoint-url", p.URL, "--source-bucket-owner", strayAccount, "--dest-bucket-owner", destAccount}, window...)...)
	fatalLine(t, "proxy, source", r, "bucket "+src+" is not owned by the expected account "+strayAccount)

	// A --report in the destination's bucket is refused too (a second line, after the
	// run's own error).
	r = marketrail(t, srv.Env(), append([]string{"run", "--source", sampleTrail, "--dest", "s3://" + dst + "/lake",
		"--endpoint-url", p.URL, "--dest-bucket-owner", strayAccount, "--report", "s3://" + dst + "/runs/run.json"}, window...)...)
	if r.code != 1 || !strings.Contains(r.stderr, "marketrail: write report: put s3://"+dst+"/runs/run.json: access denied (AccessDenied): bucket "+dst+" is not owned by the expected account "+strayAccount) {
		t.Errorf("report to a bucket of another owner: exit %d\n%s", r.code, r.stderr)
	}
	if p.OwnerDenied.Load() == 0 {
		t.Errorf("the proxy denied nothing: %s", p)
	}
}

// TestBucketOwnerAndSSEUsage: malformed or misplaced owner and encryption flags are usage
// errors (exit 2).
func TestBucketOwnerAndSSEUsage(t *testing.T) {
	base := []string{"run", "--source", "s3://trail", "--dest", "s3://lake/x"}
	for _, extra := range [][]string{
		{"--source-bucket-owner", "12345"},
		{"--dest-bucket-owner", "12345678901a"},
		{"--sse", "aes256"},
		{"--sse", "AES256", "--sse-kms-key-id", "k"},
		{"--sse-kms-key-id", "k"},
	} {
		if r := marketrail(t, nil, append(slices.Clone(base), extra...)...); r.code != 2 || !strings.Contains(r.stderr, extra[0]) {
			t.Errorf("%q: exit %d, stderr %q; want 2 naming %s", extra, r.code, r.stderr, extra[0])
		}
	}
	for _, args := range [][]string{
		{"run", "--source", "trail", "--dest", "s3://lake/x", "--source-bucket-owner", sourceAccount},
		{"run", "--source", "s3://trail", "--dest", "lake", "--dest-bucket-owner", destAccount},
		{"run", "--source", "s3://trail", "--dest", "lake", "--sse", "AES256"},
		{"run", "--source", "s3://b/trail", "--dest", "s3://b/lake", "--source-bucket-owner", sourceAccount, "--dest-bucket-owner", destAccount},
	} {
		if r := marketrail(t, nil, args...); r.code != 2 || r.stderr == "" {
			t.Errorf("%q: exit %d, stderr %q; want 2 and a message", args, r.code, r.stderr)
		}
	}
	r := marketrail(t, nil, "run", "--help")
	for _, want := range []string{"--source-bucket-owner", "--dest-bucket-owner", "--sse", "--sse-kms-key-id", "aws:kms"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("run --help does not explain %s", want)
		}
	}
}
