package digest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
)

// TestFetchPublicKeys drives the real CloudTrail client of aws-sdk-go-v2 against a local
// HTTP server that answers ListPublicKeys in CloudTrail's JSON 1.1 protocol, in two pages:
// the keys come back by fingerprint, the time range is sent as asked, and a key whose
// fingerprint is not the MD5 of its value is refused.
func TestFetchPublicKeys(t *testing.T) {
	second, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	ders := [][]byte{x509.MarshalPKCS1PublicKey(&testKey(t).PublicKey), x509.MarshalPKCS1PublicKey(&second.PublicKey)}
	start, end := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 6, 4, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name       string
		corrupt    bool
		wantErrSub string
	}{{"two pages", false, ""}, {"wrong fingerprint", true, "is not the MD5 of its Value"}} {
		t.Run(tc.name, func(t *testing.T) {
			var calls int
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if got := r.Header.Get("X-Amz-Target"); !strings.HasSuffix(got, ".ListPublicKeys") {
					t.Errorf("X-Amz-Target %q", got)
				}
				body, _ := io.ReadAll(r.Body)
				var in struct {
					StartTime, EndTime float64
					NextToken          string
				}
				json.Unmarshal(body, &in)
				if int64(in.StartTime) != start.Unix() || int64(in.EndTime) != end.Unix() {
					t.Errorf("asked for %v..%v, want %v..%v", in.StartTime, in.EndTime, start.Unix(), end.Unix())
				}
				page := 0
				if in.NextToken == "page2" {
					page = 1
				}
				calls++
				fp := Fingerprint(ders[page])
				if tc.corrupt {
					fp = strings.Repeat("0", 32)
				}
				out := map[string]any{"PublicKeyList": []map[string]any{{
					"Value": base64.StdEncoding.EncodeToString(ders[page]), "Fingerprint": fp,
					"ValidityStartTime": float64(start.Unix()), "ValidityEndTime": float64(end.Unix()),
				}}}
				if page == 0 {
					out["NextToken"] = "page2"
				}
				w.Header().Set("Content-Type", "application/x-amz-json-1.1")
				json.NewEncoder(w).Encode(out)
			}))
			defer srv.Close()
			client := cloudtrail.New(cloudtrail.Options{
				Region: "us-east-2", BaseEndpoint: aws.String(srv.URL),
				Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "test-secret", ""),
			})
			keys, err := FetchPublicKeys(context.Background(), client, start, end)
			if tc.wantErrSub != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErrSub) {
					t.Fatalf("got %v, want an error containing %q", err, tc.wantErrSub)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if calls != 2 || len(keys) != 2 {
				t.Fatalf("%d calls, %d keys; want 2 and 2", calls, len(keys))
			}
			for i, der := range ders {
				k, ok := keys[Fingerprint(der)]
				if !ok || fmt.Sprint(x509.MarshalPKCS1PublicKey(k.Key)) != fmt.Sprint(der) || !k.ValidityStart.Equal(start) || !k.ValidityEnd.Equal(end) {
					t.Errorf("key %d: %+v", i, k)
				}
			}
		})
	}
}
