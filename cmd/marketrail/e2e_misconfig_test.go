package main

// Misconfiguration tests: a run that cannot do its job says so in one line that names the
// fix, with its own exit status, quickly, and writes nothing it should not.

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/marketrail/marketrail/internal/faultproxy"
	"github.com/marketrail/marketrail/internal/s3test"
)

// oneLine checks that r exited with code and printed exactly one "marketrail: " line on
// standard error, which contains want; it returns the line.
func oneLine(t *testing.T, what string, r result, code int, want string) string {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(r.stderr, "\n") {
		if strings.HasPrefix(l, "marketrail: ") {
			lines = append(lines, l)
		}
	}
	if r.code != code || len(lines) != 1 || !strings.Contains(lines[0], want) {
		t.Errorf("%s: exit %d, want %d and one line with %q; stderr:\n%s", what, r.code, code, want, r.stderr)
		return ""
	}
	return lines[0]
}

// TestNoTrailLocal: a source with no trail where the run looks exits 5 (status no_trail)
// with one line that says what was looked for, where, and the fix, and writes nothing to
// the destination: not even the folder.
func TestNoTrailLocal(t *testing.T) {
	window := []string{"--from", "2024-03-01", "--to", "2024-03-03"}
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"AWSLogs given", []string{"--source", sampleTrail + "/AWSLogs"},
			"marketrail: no trail found: no AWSLogs/ folder in ../../testdata/trail/AWSLogs, which is the AWSLogs/ folder itself (or inside it): use the folder that holds it, --source ../../testdata/trail"},
		{"region typo", []string{"--source", sampleTrail, "--regions", "us-east1"},
			"marketrail: no trail found: --regions us-east1 matches no trail folder (AWSLogs/[o-ORGID/]ACCOUNT/CloudTrail/us-east1/) in ../../testdata/trail: regions found: us-east-1, us-west-2"},
		{"account not found", []string{"--source", sampleTrail, "--accounts", "570192456347,000000000000"},
			"marketrail: no trail found: --accounts 000000000000 matches no account folder in ../../testdata/trail/AWSLogs/: accounts found: 457861071773, 570192456347, 877502434466"},
		{"missing folder", []string{"--source", sampleTrail + "/nope"},
			"marketrail: no trail found: the --source folder ../../testdata/trail/nope does not exist"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dest := filepath.Join(t.TempDir(), "lake")
			r := marketrail(t, nil, append(append([]string{"run", "--dest", dest}, tt.args...), window...)...)
			l := oneLine(t, tt.name, r, 5, "")
			if l != tt.want {
				t.Errorf("line\n%q, want\n%q", l, tt.want)
			}
			if rep := runReport(t, r); rep["status"] != "no_trail" || rep["exit_code"] != 5.0 {
				t.Errorf("report status %v, exit_code %v; want no_trail, 5", rep["status"], rep["exit_code"])
			}
			if _, err := os.Stat(dest); !os.IsNotExist(err) {
				t.Errorf("the destination was made or written (%v): %v", err, listAll(t, dest))
			}
		})
	}
	// An existing, empty destination stays empty (no marker).
	dest := t.TempDir()
	r := marketrail(t, nil, append([]string{"run", "--source", sampleTrail + "/AWSLogs", "--dest", dest}, window...)...)
	oneLine(t, "existing destination", r, 5, "use the folder that holds it")
	if got := listAll(t, dest); len(got) != 0 {
		t.Errorf("the destination was written: %v", got)
	}
}

// TestEmptyWindow: a delivery day whose folders hold no log file is flagged in the report
// and the log, and the exit status stays 0; a window where every day is empty exits 5.
func TestEmptyWindow(t *testing.T) {
	r := marketrail(t, nil, "run", "--source", sampleTrail, "--dest", t.TempDir(), "--from", "2024-03-04", "--to", "2024-03-05")
	if r.code != 0 {
		t.Fatalf("one empty day of two: exit %d, want 0\n%s", r.code, r.stderr)
	}
	rep := runReport(t, r)
	if got := rep["empty_days"]; !slices.Equal(anyStrings(got), []string{"2024-03-05"}) {
		t.Errorf("empty_days %v, want [2024-03-05]", got)
	}
	for _, d := range rep["days"].([]any) {
		day := d.(map[string]any)
		if want := day["delivery_day"] == "2024-03-05"; day["empty"] != want {
			t.Errorf("day %v: empty %v, want %v", day["delivery_day"], day["empty"], want)
		}
	}
	if !strings.Contains(r.stderr, `"msg":"no log file in any trail folder of the delivery day","delivery_day":"2024-03-05"`) {
		t.Errorf("the empty day is not logged:\n%s", r.stderr)
	}

	for range 2 { // the second time, the days are unchanged: still empty, still exit 5
		dest := t.TempDir()
		r = marketrail(t, nil, "run", "--source", sampleTrail, "--dest", dest, "--from", "2025-01-01", "--to", "2025-01-02")
		oneLine(t, "every day empty", r, 5, "marketrail: no trail found: no log file in any of the 8 trail folders of ../../testdata/trail on any delivery day from 2025-01-01 to 2025-01-02")
		if got := anyStrings(runReport(t, r)["empty_days"]); !slices.Equal(got, []string{"2025-01-01", "2025-01-02"}) {
			t.Errorf("empty_days %v", got)
		}
	}
}

func anyStrings(v any) []string {
	var out []string
	l, _ := v.([]any)
	for _, x := range l {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// TestNoTrailS3: an S3 source given as its AWSLogs/ prefix exits 5 naming the prefix to
// use, and the destination bucket is not written to.
func TestNoTrailS3(t *testing.T) {
	c, srv := s3test.Client(t)
	bucket := s3test.Bucket(t, c)
	upload(t, c, sampleTrail, bucket, "logs/")
	r := marketrail(t, srv.Env(), "run", "--source", "s3://"+bucket+"/logs/AWSLogs", "--dest", "s3://"+bucket+"/lake",
		"--from", "2024-03-01", "--to", "2024-03-03")
	oneLine(t, "S3 AWSLogs given", r, 5, "marketrail: no trail found: no AWSLogs/ folder in s3://"+bucket+"/logs/AWSLogs, which is the AWSLogs/ folder itself (or inside it): use the folder that holds it, --source s3://"+bucket+"/logs")
	out, err := c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: ptr("lake/")})
	if err != nil || len(out.Contents) != 0 {
		t.Errorf("the destination was written to (%v): %d objects", err, len(out.Contents))
	}
	r = marketrail(t, srv.Env(), "run", "--source", "s3://"+bucket+"/logs", "--dest", "s3://"+bucket+"/lake",
		"--from", "2024-03-01", "--to", "2024-03-03", "--regions", "eu-west-1")
	oneLine(t, "S3 region", r, 5, "--regions eu-west-1 matches no trail folder (AWSLogs/[o-ORGID/]ACCOUNT/CloudTrail/eu-west-1/) in s3://"+bucket+"/logs/: regions found: us-east-1, us-west-2")
}

func ptr(s string) *string { return &s }

// refusedAddr returns 127.0.0.1:PORT where nothing listens.
func refusedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// noS3Env is an AWS environment with credentials and no configuration files or instance
// metadata: nothing leaves 127.0.0.1.
var noS3Env = []string{"AWS_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null"}

func withKeys(env ...string) []string {
	return append(slices.Clone(noS3Env), append([]string{"AWS_ACCESS_KEY_ID=AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY=secret"}, env...)...)
}

// TestPreflight: credential and endpoint problems are found before any work, in one line
// each that names the fix, within seconds (a refused connection or failed DNS lookup gets
// one retry, not the client's ten), and nothing is written to a local destination.
func TestPreflight(t *testing.T) {
	refused := "http://" + refusedAddr(t)
	denied := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message><RequestId>x</RequestId></Error>`))
	}))
	defer denied.Close()
	window := []string{"--from", "2024-03-01", "--to", "2024-03-01"}
	for _, tt := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"no credentials", noS3Env, []string{"--source", "s3://trail/logs", "--endpoint-url", refused},
			"marketrail: no AWS credentials found; set AWS_PROFILE, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run with a role (EC2 instance profile, ECS task role, EKS service account)"},
		{"refused", withKeys(), []string{"--source", "s3://trail/logs", "--endpoint-url", refused},
			"marketrail: cannot reach S3 endpoint " + refused + ": connection refused — check --endpoint-url / AWS_ENDPOINT_URL_S3"},
		{"refused, from the environment", withKeys("AWS_ENDPOINT_URL_S3=" + refused), []string{"--source", "s3://trail/logs"},
			"marketrail: cannot reach S3 endpoint " + refused + ": connection refused — check --endpoint-url / AWS_ENDPOINT_URL_S3"},
		{"DNS", withKeys(), []string{"--source", "s3://trail/logs", "--endpoint-url", "http://s3.marketrail.invalid:9000"},
			"marketrail: cannot reach S3 endpoint http://s3.marketrail.invalid:9000: DNS cannot resolve s3.marketrail.invalid ("},
		{"access denied", withKeys(), []string{"--source", "s3://trail/logs", "--endpoint-url", denied.URL},
			"marketrail: access denied to s3://trail/logs/ (--source): this identity may not list it (s3:ListBucket) — check the IAM policy of the role or user, and the bucket policy"},
		{"unknown profile", append(slices.Clone(noS3Env), "AWS_PROFILE=nope"), []string{"--source", "s3://trail/logs", "--endpoint-url", refused},
			"marketrail: AWS profile nope is not in the shared config files"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dest := filepath.Join(t.TempDir(), "lake")
			start := time.Now()
			r := marketrail(t, tt.env, append(append([]string{"run", "--dest", dest}, tt.args...), window...)...)
			took := time.Since(start)
			l := oneLine(t, tt.name, r, 1, tt.want)
			t.Logf("%.2fs: %s", took.Seconds(), l)
			if took > 5*time.Second {
				t.Errorf("took %v to fail, want seconds", took)
			}
			if _, err := os.Stat(dest); !os.IsNotExist(err) {
				t.Errorf("the destination was made or written: %v", err)
			}
		})
	}
}

// TestPreflightS3: against the real server, a missing bucket and refused keys are found
// by the pre-flight check, for the source and for the destination.
func TestPreflightS3(t *testing.T) {
	c, srv := s3test.Client(t)
	bucket := s3test.Bucket(t, c)
	upload(t, c, sampleTrail, bucket, "logs/")
	window := []string{"--from", "2024-03-01", "--to", "2024-03-01"}
	r := marketrail(t, srv.Env(), append([]string{"run", "--source", "s3://" + bucket + "-nope/logs", "--dest", t.TempDir()}, window...)...)
	oneLine(t, "no such source bucket", r, 1, "marketrail: no such bucket: "+bucket+"-nope: check the bucket name in --source")
	r = marketrail(t, srv.Env(), append([]string{"run", "--source", "s3://" + bucket + "/logs", "--dest", "s3://" + bucket + "-nope/lake"}, window...)...)
	oneLine(t, "no such destination bucket", r, 1, "marketrail: no such bucket: "+bucket+"-nope: check the bucket name in --dest")
	env := slices.DeleteFunc(slices.Clone(srv.Env()), func(kv string) bool { return strings.HasPrefix(kv, "AWS_SECRET_ACCESS_KEY=") })
	r = marketrail(t, append(env, "AWS_SECRET_ACCESS_KEY=wrong"), append([]string{"run", "--source", "s3://" + bucket + "/logs", "--dest", t.TempDir()}, window...)...)
	oneLine(t, "wrong secret", r, 1, "marketrail: S3 refused the AWS credentials (SignatureDoesNotMatch) for s3://"+bucket+"/logs/ (--source): check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the profile's keys")
}

// TestDestNotWritableS3: a destination this identity may not write to is found before any
// log file is read (the writes are refused by the fault proxy, as S3 refuses them).
func TestDestNotWritableS3(t *testing.T) {
	c, srv := s3test.Client(t)
	bucket := s3test.Bucket(t, c)
	upload(t, c, sampleTrail, bucket, "logs/")
	p, err := faultproxy.New(srv.Endpoint, faultproxy.Config{DenyWrites: []string{"/" + bucket + "/lake/"}, RecordHeaders: []string{"Host"}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	r := marketrail(t, srv.Env(), "run", "--source", "s3://"+bucket+"/logs", "--dest", "s3://"+bucket+"/lake",
		"--from", "2024-03-01", "--to", "2024-03-03", "--endpoint-url", p.URL)
	oneLine(t, "destination not writable", r, 1, "marketrail: cannot write to destination s3://"+bucket+"/lake/: put s3://"+bucket+"/lake/_marketrail/marker.json: access denied (AccessDenied)")
	for _, q := range p.Recorded() {
		if q.Method == http.MethodGet && strings.HasPrefix(q.Path, "/"+bucket+"/logs/") {
			t.Errorf("a log file was read before the destination was found unwritable: %s", q.Path)
		}
	}
	if p.WritesDenied.Load() == 0 {
		t.Errorf("the proxy denied no write: %s", p)
	}
}

// TestDestNotWritableLocal: a read-only local destination fails the run before any log
// file is read (a read would panic the worker through the test hook, and fail the run
// another way).
func TestDestNotWritableLocal(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes to read-only folders; TestDestNotWritableS3 and pkg/pipeline's TestOrderOfEffects cover the order")
	}
	dest := t.TempDir()
	if err := os.Chmod(dest, 0o555); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dest, 0o755)
	r := marketrail(t, []string{panicEnv + "=read"}, "run", "--source", sampleTrail, "--dest", dest, "--from", "2024-03-01", "--to", "2024-03-03")
	oneLine(t, "read-only destination", r, 1, "marketrail: cannot write to destination "+dest+": ")
}

// TestHungRequestRetried: requests that are never answered (no response, no reset) time out
// after the response-header deadline and are retried, each retry is logged, and the run
// completes with every row.
func TestHungRequestRetried(t *testing.T) {
	m := readManifest(t, sampleManifest)
	c, srv := s3test.Client(t)
	bucket := s3test.Bucket(t, c)
	upload(t, c, sampleTrail, bucket, "logs/")
	p, err := faultproxy.New(srv.Endpoint, faultproxy.Config{HangEvery: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	start := time.Now()
	r := marketrail(t, append(srv.Env(), headerTimeoutEnv+"=1s"), "run", "--source", "s3://"+bucket+"/logs", "--dest", "s3://"+bucket+"/lake",
		"--from", m.Window.From, "--to", m.Window.To, "--endpoint-url", p.URL)
	t.Logf("%.1fs; proxy: %s", time.Since(start).Seconds(), p)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if p.Hangs.Load() == 0 {
		t.Fatalf("the proxy hung no request: %s", p)
	}
	retries := strings.Count(r.stderr, `"msg":"S3 request failed: retrying","operation":"GetObject"`)
	if int64(retries) != p.Hangs.Load() || !strings.Contains(r.stderr, `"attempt":1,"max_attempts":10,"error":`) ||
		!strings.Contains(r.stderr, "timeout awaiting response headers") {
		t.Errorf("%d retries logged for %d hung requests, want one each, with attempt and error:\n%s", retries, p.Hangs.Load(), r.stderr)
	}
	got, _ := written(t, download(t, c, bucket, "lake/"))
	diff(t, "with hung requests", got, m.expected(m.Window.From, m.Window.To))
}

// TestExamplesFailJobOnNoTrail: the Kubernetes examples fail the Job at once on the exit
// statuses a retry cannot cure: 2 (usage) and 5 (no trail found).
func TestExamplesFailJobOnNoTrail(t *testing.T) {
	files, _ := filepath.Glob("../../docs/examples/*.yaml")
	found := 0
	for _, f := range files {
		for _, d := range yamlDocs(t, f) {
			spec := dig(d, "spec")
			if str(dig(d, "kind")) == "CronJob" {
				spec = dig(d, "spec", "jobTemplate", "spec")
			}
			rules, _ := dig(spec, "podFailurePolicy", "rules").([]any)
			if str(dig(d, "kind")) != "CronJob" && str(dig(d, "kind")) != "Job" {
				continue
			}
			found++
			var codes []int
			for _, r := range rules {
				if str(dig(r, "action")) != "FailJob" || str(dig(r, "onExitCodes", "operator")) != "In" {
					continue
				}
				vals, _ := dig(r, "onExitCodes", "values").([]any)
				for _, v := range vals {
					if n, ok := v.(int); ok {
						codes = append(codes, n)
					}
				}
			}
			slices.Sort(codes)
			if !slices.Equal(codes, []int{2, 5}) {
				t.Errorf("%s: %s %s fails the Job on exit codes %v, want [2 5]", f, dig(d, "kind"), dig(d, "metadata", "name"), codes)
			}
		}
	}
	if found == 0 {
		t.Fatal("no Job or CronJob in docs/examples")
	}
}
