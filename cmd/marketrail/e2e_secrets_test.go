package main

// Secrets: whatever goes wrong, marketrail never writes its credentials, or signed request
// material, anywhere. The binary runs with recognisable fake credentials (refused by the S3
// server: the error path) and with panics injected by MARKETRAIL_TEST_PANIC (recovered in a
// worker: exit 1 and a clean error; unrecovered elsewhere: Go's trace), and every byte each
// run produced is searched: standard output and error, the --report file, and every file
// under the destination (gzip files decompressed, Parquet rows read back as JSON).

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/marketrail/marketrail/internal/duckcheck"
	"github.com/marketrail/marketrail/internal/s3test"
)

// Fake credentials, distinctive enough that any piece of them found in an output is a leak.
const (
	fakeAccessKey    = "AKIAFAKESECRETMARKER1"
	fakeSecretKey    = "fake-secret-marker-Q7vT2mXk9LpR4wZs8NbY3cHd"
	fakeSessionToken = "FwoGZXIvYXdzEFAKESESSIONTOKENMARKER//////////wEaDKq3ZpUe8rVxN2mT5yKrAbLfJ9wQ4sT6uH1oP3xY7cR2vE5nM8kA0bZ" +
		"dG4fJ6hL9sW2qT5yU8iO1pA3zX7cV0bN4mK6jH9gF2dS5aQ8wE1rT4yU7iO0pL3kJ6hG9fD2sA5zX8cV1bN4mQ7wE0rT3yU6iO9pL2kJ5h" +
		"G8fD1sA4zX7cV0bN3mFAKESESSIONTOKENMARKEREND"
)

// signedMaterial are the names of signed request parts: a signed URL's query parameters
// and the Authorization header.
var signedMaterial = []string{"X-Amz-Signature", "X-Amz-Credential", "Authorization", "X-Amz-Security-Token"}

// needles returns what must never appear: each secret whole, every 12-byte piece of it
// (a secret cut short or wrapped is still a leak), and signedMaterial. extra are secrets
// checked whole only (the test server's real secret, which may be short or common words).
func needles(extra ...string) []string {
	var n []string
	for _, s := range []string{fakeAccessKey, fakeSecretKey, fakeSessionToken} {
		n = append(n, s)
		for i := 0; i+12 <= len(s); i++ {
			n = append(n, s[i:i+12])
		}
	}
	for _, s := range extra {
		if s != "" {
			n = append(n, s)
		}
	}
	return append(n, signedMaterial...)
}

// leaks returns, for each blob (named), the needles found in it, case-insensitively.
func leaks(blobs map[string][]byte, needles []string) []string {
	var found []string
	for name, b := range blobs {
		lower := bytes.ToLower(b)
		for _, n := range needles {
			if bytes.Contains(lower, bytes.ToLower([]byte(n))) {
				found = append(found, name+" contains "+n)
			}
		}
	}
	return found
}

// outputs gathers every byte a run produced: its standard output and error, the report
// file, and every file under dest, recursively (gzip files decompressed too; the rows of
// Parquet files as JSON, since their pages are compressed).
func outputs(t *testing.T, r result, report, dest string) map[string][]byte {
	t.Helper()
	blobs := map[string][]byte{"stdout": []byte(r.stdout), "stderr": []byte(r.stderr)}
	if report != "" {
		if b, err := os.ReadFile(report); err == nil {
			blobs["report"] = b
		}
	}
	var parquet bool
	err := filepath.WalkDir(dest, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		blobs[p] = b
		if strings.HasSuffix(p, ".gz") {
			if zr, err := gzip.NewReader(bytes.NewReader(b)); err == nil {
				plain, _ := io.ReadAll(zr)
				blobs[p+" (gunzipped)"] = plain
			}
		}
		parquet = parquet || strings.HasSuffix(p, ".parquet")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if parquet {
		db := duckcheck.Open(t)
		var rows bytes.Buffer
		for _, table := range []string{"events", "metering_records"} {
			if _, err := os.Stat(filepath.Join(dest, table)); err != nil {
				continue
			}
			for _, row := range duckcheck.Strings(t, db, `SELECT to_json(t)::VARCHAR FROM `+duckcheck.Table(dest, table)+` t`) {
				rows.WriteString(row[0] + "\n")
			}
		}
		blobs["parquet rows"] = rows.Bytes()
	}
	return blobs
}

// TestSecretsLeakCheckCanFail: the search finds a secret's piece in a gzip file under the
// destination, in standard error, and signed-URL material, so the test below can fail.
func TestSecretsLeakCheckCanFail(t *testing.T) {
	dest := t.TempDir()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(`{"note":"` + fakeSecretKey[3:20] + `"}`))
	zw.Close()
	os.MkdirAll(filepath.Join(dest, "a", "b"), 0o755)
	os.WriteFile(filepath.Join(dest, "a", "b", "x.json.gz"), gz.Bytes(), 0o644)
	r := result{stderr: "GET https://b.s3.amazonaws.com/k?x-amz-signature=abc\ntoken " + fakeSessionToken[40:60]}
	found := leaks(outputs(t, r, "", dest), needles())
	var gzFound, sigFound, tokFound bool
	for _, f := range found {
		gzFound = gzFound || strings.Contains(f, "(gunzipped) contains "+fakeSecretKey[3:15])
		sigFound = sigFound || f == "stderr contains X-Amz-Signature"
		tokFound = tokFound || strings.HasPrefix(f, "stderr contains "+fakeSessionToken[40:52])
	}
	if !gzFound || !sigFound || !tokFound {
		t.Errorf("planted leaks not all found (gzip %v, signature %v, token %v): %q", gzFound, sigFound, tokFound, found)
	}
}

// TestSecrets runs the binary where credentials could leak and searches everything it wrote.
func TestSecrets(t *testing.T) {
	m := readManifest(t, sampleManifest)
	c, srv := s3test.Client(t)
	bucket := s3test.Bucket(t, c)
	upload(t, c, sampleTrail, bucket, "logs/")
	window := []string{"--from", m.Window.From, "--to", m.Window.To}
	fakeKeys := append(srv.Env(), "AWS_ACCESS_KEY_ID="+fakeAccessKey, "AWS_SECRET_ACCESS_KEY="+fakeSecretKey)
	fake := append(cloneEnv(fakeKeys), "AWS_SESSION_TOKEN="+fakeSessionToken)
	// The runs that must get past the first request use the server's own credentials (whose
	// secret is searched for too): versitygw refuses any session token (400 InvalidToken).
	real := srv.Env()

	for _, tc := range []struct {
		name     string
		env      []string
		source   string
		s3Dest   bool
		wantCode int
		want     string // in standard error
	}{
		// The pre-flight check finds refused credentials before any work.
		{"refused credentials, S3 source", fake, "s3://" + bucket + "/logs", false, 1, "marketrail: S3 refused the AWS credentials (InvalidToken)"},
		// versitygw answers an unknown access key 404 XAdminUserNotFound (S3: 403 InvalidAccessKeyId).
		{"refused keys without a token, S3 source", fakeKeys, "s3://" + bucket + "/logs", false, 1, "marketrail: S3 refused the AWS credentials (XAdminUserNotFound)"},
		{"refused credentials, S3 destination", fake, sampleTrail, true, 1, "marketrail: S3 refused the AWS credentials (InvalidToken) for s3://" + bucket + "/lake-refused-credentials,-S3-destination/ (--dest)"},
		{"panic in a worker, recovered", append(cloneEnv(real), panicEnv+"="+"read:3"), "s3://" + bucket + "/logs", false, 1, "internal error (a bug in marketrail): panic while reading"},
		{"panic in a worker, fake credentials", append(cloneEnv(fake), panicEnv+"="+"read"), sampleTrail, false, 1, "internal error (a bug in marketrail): panic while reading"},
		{"panic after publishing, unrecovered", append(cloneEnv(real), panicEnv+"="+"published"), "s3://" + bucket + "/logs", false, 2, "goroutine "},
		{"panic while uploading, unrecovered", append(cloneEnv(real), panicEnv+"="+"upload:2"), "s3://" + bucket + "/logs", true, 2, "goroutine "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dest := t.TempDir()
			destArg := dest
			if tc.s3Dest {
				destArg = "s3://" + bucket + "/lake-" + strings.ReplaceAll(tc.name, " ", "-")
			}
			report := filepath.Join(t.TempDir(), "report.json")
			args := append([]string{"run", "--source", tc.source, "--dest", destArg, "--report", report, "--log-format", "text"}, window...)
			r := marketrail(t, tc.env, args...)
			if r.code != tc.wantCode || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, want %d with %q on standard error:\n%s", r.code, tc.wantCode, tc.want, r.stderr)
			}
			if tc.s3Dest {
				dest = download(t, c, bucket, strings.TrimPrefix(destArg, "s3://"+bucket+"/")+"/")
			}
			blobs := outputs(t, r, report, dest)
			for _, f := range leaks(blobs, needles(srv.SecretKey)) {
				t.Errorf("leak: %s", f)
			}
			var n int
			for _, b := range blobs {
				n += len(b)
			}
			t.Logf("searched %d outputs, %d bytes; standard error's first line: %s", len(blobs), n, firstLine(r.stderr))
		})
	}
}

func cloneEnv(env []string) []string { return append([]string(nil), env...) }

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
