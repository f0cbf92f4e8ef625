package faultproxy

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// TestRecordAndBucketOwners: requests are recorded with the chosen headers as sent; a wrong
// expected owner is answered 403 AccessDenied without reaching the upstream; a right one is
// forwarded without the header and signed again; other requests go through unchanged.
func TestRecordAndBucketOwners(t *testing.T) {
	var mu sync.Mutex
	var seen []http.Header
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Clone())
		mu.Unlock()
	}))
	defer up.Close()
	p, err := New(up.URL, Config{
		RecordHeaders: []string{"x-amz-expected-bucket-owner", "X-Amz-Server-Side-Encryption"},
		BucketOwners:  map[string]string{"owned": "111122223333"},
		Resign:        &Credentials{AccessKey: "AK", SecretKey: "SK"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	do := func(method, path, owner string) int {
		req, _ := http.NewRequest(method, p.URL+path, nil)
		req.Header.Set("Authorization", "original")
		req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
		if owner != "" {
			req.Header.Set("X-Amz-Expected-Bucket-Owner", owner)
		}
		if method == http.MethodPut {
			req.Header.Set("X-Amz-Server-Side-Encryption", "AES256")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := do(http.MethodGet, "/owned/k", "444455556666"); c != http.StatusForbidden {
		t.Errorf("wrong owner: %d", c)
	}
	if c := do(http.MethodPut, "/owned/k", "111122223333"); c != http.StatusOK {
		t.Errorf("right owner: %d", c)
	}
	if c := do(http.MethodGet, "/other/k", "444455556666"); c != http.StatusOK {
		t.Errorf("a bucket the proxy does not own: %d", c)
	}
	if len(seen) != 2 {
		t.Fatalf("upstream saw %d requests, want 2", len(seen))
	}
	if h := seen[0]; h.Get("X-Amz-Expected-Bucket-Owner") != "" || h.Get("Authorization") == "original" || h.Get("Authorization") == "" {
		t.Errorf("checked request forwarded with owner %q, Authorization %q", h.Get("X-Amz-Expected-Bucket-Owner"), h.Get("Authorization"))
	}
	if h := seen[1]; h.Get("X-Amz-Expected-Bucket-Owner") != "444455556666" || h.Get("Authorization") != "original" {
		t.Errorf("unchecked request changed: %v", h)
	}
	recs := p.Recorded()
	if len(recs) != 3 || recs[0].Header["X-Amz-Expected-Bucket-Owner"] != "444455556666" ||
		recs[1].Method != http.MethodPut || recs[1].Header["X-Amz-Server-Side-Encryption"] != "AES256" || recs[2].Path != "/other/k" {
		t.Errorf("recorded %+v", recs)
	}
	if p.OwnerDenied.Load() != 1 || p.Resigned.Load() != 1 {
		t.Errorf("counters: %d denied, %d re-signed", p.OwnerDenied.Load(), p.Resigned.Load())
	}
	if _, err := New(up.URL, Config{BucketOwners: map[string]string{"b": "1"}}); err == nil {
		t.Errorf("BucketOwners without Resign accepted")
	}
}
