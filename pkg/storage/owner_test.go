package storage_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/marketrail/marketrail/internal/faultproxy"
	"github.com/marketrail/marketrail/internal/s3test"
	"github.com/marketrail/marketrail/pkg/storage"
)

const (
	ownerAccount = "111122223333"
	otherAccount = "444455556666"
)

// ownerProxy starts a faultproxy in front of the test server that plays an AWS account
// owning bucket (versitygw's bucket owner is an access key id, not an account) and records
// the headers that matter here; client is an S3 client that talks to the proxy.
func ownerProxy(t *testing.T, bucket string) (*faultproxy.Proxy, *s3.Client) {
	t.Helper()
	srv := s3test.Need(t)
	p, err := faultproxy.New(srv.Endpoint, faultproxy.Config{
		BucketOwners:  map[string]string{bucket: ownerAccount},
		Resign:        &faultproxy.Credentials{AccessKey: srv.AccessKey, SecretKey: srv.SecretKey},
		RecordHeaders: []string{"X-Amz-Expected-Bucket-Owner", "X-Amz-Server-Side-Encryption", "X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	c, err := storage.NewS3Client(context.Background(), storage.S3Options{Endpoint: p.URL})
	if err != nil {
		t.Fatal(err)
	}
	return p, c
}

// TestS3ExpectedBucketOwner: every call of an S3 storage with an expected owner carries it;
// with the right owner everything works (the storage conformance checks pass through the
// proxy), with a wrong one every call fails as access denied, naming the expected account.
func TestS3ExpectedBucketOwner(t *testing.T) {
	direct, _ := s3test.Client(t)
	bucket := s3test.Bucket(t, direct)
	p, c := ownerProxy(t, bucket)

	conformance(t, storage.NewS3(c, bucket, "owned", storage.WithExpectedBucketOwner(ownerAccount)))
	recs := p.Recorded()
	methods := map[string]bool{}
	for _, r := range recs {
		methods[r.Method] = true
		if got := r.Header["X-Amz-Expected-Bucket-Owner"]; got != ownerAccount {
			t.Errorf("%s %s?%s: expected owner %q, want %q", r.Method, r.Path, r.RawQuery, got, ownerAccount)
		}
	}
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
		if !methods[m] {
			t.Errorf("conformance made no %s request: the check covers too little (%d requests)", m, len(recs))
		}
	}
	if p.Resigned.Load() == 0 || p.OwnerDenied.Load() != 0 {
		t.Errorf("proxy: %d re-signed, %d denied", p.Resigned.Load(), p.OwnerDenied.Load())
	}

	// The wrong owner: every call fails, and says why.
	ctx := context.Background()
	wrong := storage.NewS3(c, bucket, "owned", storage.WithExpectedBucketOwner(otherAccount))
	check := func(op string, err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), "not owned by the expected account "+otherAccount) || errors.Is(err, storage.ErrNotExist) {
			t.Errorf("%s with the wrong owner: %v", op, err)
		}
	}
	for _, err := range wrong.List(ctx, "", true) {
		check("List", err)
		break
	}
	check("Load", wrong.Load(ctx, "missing", func(io.Reader) error { return nil }))
	check("Put", wrong.Put(ctx, "x", strings.NewReader("x"), 1))
	check("Delete", wrong.Delete(ctx, "x"))
	if n := p.OwnerDenied.Load(); n < 4 {
		t.Errorf("the proxy denied %d requests, want at least 4", n)
	}
}

// TestS3ExpectedBucketOwnerVersitygw: versitygw itself enforces x-amz-expected-bucket-owner
// (against the access key id that owns the bucket): a wrong owner fails every call, with
// no proxy involved.
func TestS3ExpectedBucketOwnerVersitygw(t *testing.T) {
	c, srv := s3test.Client(t)
	bucket := s3test.Bucket(t, c)
	ctx := context.Background()
	right := storage.NewS3(c, bucket, "", storage.WithExpectedBucketOwner(srv.AccessKey))
	if err := right.Put(ctx, "k", strings.NewReader("v"), 1); err != nil {
		t.Fatalf("the owning access key as expected owner: %v", err)
	}
	wrong := storage.NewS3(c, bucket, "", storage.WithExpectedBucketOwner(otherAccount))
	err := wrong.Load(ctx, "k", func(io.Reader) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "not owned by the expected account") {
		t.Errorf("versitygw, wrong owner: %v", err)
	}
}

// TestS3SSE: every PutObject carries the requested encryption (and the KMS key with
// aws:kms), and the server accepts it. versitygw v1.8.0 accepts both AES256 and aws:kms
// (with or without a key id) and ignores them: HeadObject reports no encryption, so what
// is checked is what marketrail sends, at the proxy.
func TestS3SSE(t *testing.T) {
	direct, _ := s3test.Client(t)
	bucket := s3test.Bucket(t, direct)
	p, c := ownerProxy(t, bucket)
	ctx := context.Background()
	const key = "arn:aws:kms:us-east-1:111122223333:key/11111111-2222-3333-4444-555555555555"
	for _, tc := range []struct{ mode, key string }{{"AES256", ""}, {"aws:kms", key}, {"aws:kms", ""}} {
		s := storage.NewS3(c, bucket, "sse", storage.WithSSE(tc.mode, tc.key))
		before := len(p.Recorded())
		if err := s.Put(ctx, "obj", strings.NewReader("data"), 4); err != nil {
			t.Fatalf("%s: %v", tc.mode, err)
		}
		recs := p.Recorded()[before:]
		if len(recs) != 1 || recs[0].Method != http.MethodPut {
			t.Fatalf("%s: requests %+v", tc.mode, recs)
		}
		h := recs[0].Header
		if h["X-Amz-Server-Side-Encryption"] != tc.mode || h["X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id"] != tc.key {
			t.Errorf("%s %q: PUT headers %v", tc.mode, tc.key, h)
		}
		out, err := direct.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String("sse/obj")})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("versitygw reports %s as %q", tc.mode, out.ServerSideEncryption)
	}
	// Without --sse, nothing is asked for (the bucket's default applies).
	before := len(p.Recorded())
	if err := storage.NewS3(c, bucket, "sse").Put(ctx, "plain", strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	if h := p.Recorded()[before].Header; len(h) != 0 {
		t.Errorf("a plain PUT carries %v", h)
	}
}
