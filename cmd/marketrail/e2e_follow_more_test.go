package main

// More end-to-end tests of 'marketrail follow' (see e2e_follow_test.go for the message
// builders and the follower helpers): a queue that does not exist, usage errors, the metrics
// and health endpoints, a log file that cannot be read, and SIGTERM while a batch is being
// published.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/marketrail/marketrail/internal/s3test"
	"github.com/marketrail/marketrail/internal/sqstest"
	"github.com/marketrail/marketrail/pkg/lake"
)

// sampleDays returns the first and last delivery day of the log files among keys (keys of
// the sample trail, relative to its root).
func sampleDays(t *testing.T, keys []string) (from, to string) {
	t.Helper()
	var days []string
	for _, k := range keys {
		parts := strings.Split(k, "/")
		if i := slices.Index(parts, "CloudTrail"); i > 0 && len(parts) > i+4 {
			days = append(days, strings.Join(parts[i+2:i+5], "-"))
		}
	}
	if len(days) == 0 {
		t.Fatal("no log file among the keys")
	}
	slices.Sort(days)
	return days[0], days[len(days)-1]
}

// manifestStates returns the state of every delivery day's manifest under prefix in bucket
// (prefix ends with '/'), by delivery day.
func manifestStates(t *testing.T, c *s3.Client, bucket, prefix string) map[string]string {
	t.Helper()
	dir := download(t, c, bucket, prefix+lake.ManifestDir)
	states := map[string]string{}
	for _, k := range objectKeys(t, dir) {
		if !strings.HasSuffix(k, ".json") || strings.Contains(k, "/") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, k))
		if err != nil {
			t.Fatal(err)
		}
		var m struct {
			State string `json:"state"`
		}
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("manifest %s: %v\n%s", k, err, b)
		}
		states[strings.TrimSuffix(k, ".json")] = m.State
	}
	return states
}

// waitExit waits up to within for f to exit and returns its exit status and how long it
// took; it fails the test if it does not exit.
func (f *follower) waitExit(t *testing.T, within time.Duration) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- f.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(within):
		f.cmd.Process.Kill()
		<-done
		t.Fatalf("follow did not exit within %s\n%s", within, f.log())
	}
	return f.cmd.ProcessState.ExitCode(), time.Since(start)
}

// TestFollowFatalQueue: a queue URL that does not exist makes follow exit 1 with one line
// naming the queue, at once; a bad --interval or a missing --queue exits 2 with a usage
// line.
func TestFollowFatalQueue(t *testing.T) {
	sc, srv := s3test.Client(t)
	_, sqsEndpoint := sqstest.Client(t)
	bucket := s3test.Bucket(t, sc)
	upload(t, sc, sampleTrail, bucket, "logs/")
	env := append(srv.Env(), "AWS_ENDPOINT_URL_SQS="+sqsEndpoint)
	queueURL := strings.TrimSuffix(sqsEndpoint, "/") + "/100010001000/no-such-queue"

	start := time.Now()
	f := startFollow(t, env, "--queue", queueURL, "--source", "s3://"+bucket+"/logs", "--dest", "s3://"+bucket+"/follow", "--interval", "1s")
	code, _ := f.waitExit(t, 60*time.Second)
	stderr := f.log()
	if code != 1 {
		t.Errorf("follow with a queue that does not exist: exit %d, want 1\n%s", code, stderr)
	}
	if el := time.Since(start); el > 30*time.Second {
		t.Errorf("follow took %s to find that the queue does not exist", el)
	}
	var lines []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	switch {
	case len(lines) == 0:
		t.Errorf("follow with a queue that does not exist wrote nothing on stderr")
	case len(lines) > 2:
		t.Errorf("follow with a queue that does not exist wrote %d lines on stderr, want one (or two)\n%s", len(lines), stderr)
	}
	if len(lines) > 0 {
		last := lines[len(lines)-1]
		if !strings.HasPrefix(last, "marketrail:") {
			t.Errorf("last line %q does not start with \"marketrail:\"", last)
		}
		if !strings.Contains(last, "no-such-queue") {
			t.Errorf("last line %q does not name the queue", last)
		}
		for _, soup := range []string{"goroutine ", "panic", `{"`, "RequestID", "StatusCode", "https response error"} {
			if strings.Contains(last, soup) {
				t.Errorf("last line %q holds %q: not one plain line", last, soup)
			}
		}
	}
	if keys := objectKeys(t, download(t, sc, bucket, "follow/")); len(keys) > 0 {
		t.Logf("the destination holds %q after the failed start", keys)
	}

	// Usage errors: exit 2, a usage line, nothing tried.
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"interval 0s", []string{"follow", "--queue", queueURL, "--source", "s3://" + bucket + "/logs", "--dest", "s3://" + bucket + "/follow", "--interval", "0s"}, "--interval"},
		{"no queue", []string{"follow", "--source", "s3://" + bucket + "/logs", "--dest", "s3://" + bucket + "/follow"}, "--queue"},
	} {
		r := marketrail(t, env, tc.args...)
		if r.code != 2 {
			t.Errorf("%s: exit %d, want 2\n%s", tc.name, r.code, r.stderr)
		}
		if !strings.HasPrefix(r.stderr, "marketrail follow: ") || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%s: stderr %q does not say what is wrong with %s", tc.name, r.stderr, tc.want)
		}
		if !strings.Contains(r.stderr, "marketrail follow --help") {
			t.Errorf("%s: stderr %q has no usage line", tc.name, r.stderr)
		}
		if n := strings.Count(strings.TrimSpace(r.stderr), "\n") + 1; n > 2 {
			t.Errorf("%s: %d lines on stderr, want 2\n%s", tc.name, n, r.stderr)
		}
	}
}

// freePort returns a TCP address on 127.0.0.1 nothing listens on (it did a moment ago).
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// promValues parses the Prometheus text format: the value of every sample, by its name and
// labels as written ("name" or `name{label="value"}`).
func promValues(t *testing.T, text string) map[string]float64 {
	t.Helper()
	vals := map[string]float64{}
	for _, l := range strings.Split(text, "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		if i < 0 {
			t.Fatalf("metrics line %q has no value", l)
		}
		v, err := strconv.ParseFloat(l[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", l, err)
		}
		vals[l[:i]] = v
	}
	return vals
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// TestFollowMetricsAndHealth: with --metrics-addr, once the sample's notifications are
// drained, /healthz answers 200 "ok" and /metrics counts every message deleted (all of them:
// the queue's depth before follow started), the garbage message, the test event and the
// object of another bucket; the log files published are the sample's log files; SIGTERM
// exits 0.
func TestFollowMetricsAndHealth(t *testing.T) {
	fx := newFollowFixture(t)
	qc, bucket, keys, queueURL := fx.qc, fx.bucket, fx.keys, fx.queueURL
	// One message per object (in turn CloudTrail's, S3's and EventBridge's), then a test
	// event, an object of another bucket and a garbage message.
	var bodies []string
	var logFiles, digests int
	for i, k := range keys {
		switch {
		case strings.Contains(k, "/CloudTrail/"):
			logFiles++
		case strings.Contains(k, "/CloudTrail-Digest/"):
			digests++
		}
		bodies = append(bodies, []func() string{
			func() string { return viaSNS(ctBody(bucket, "logs/"+k)) },
			func() string { return s3Event(bucket, "logs/"+k) },
			func() string { return ebEvent(bucket, "logs/"+k) },
		}[i%3]())
	}
	bodies = append(bodies, s3TestEvent(bucket), s3Event("someone-elses-bucket", "logs/"+keys[0]), `{"this is": "not a notification"}`)
	sqstest.Send(t, qc, queueURL, bodies...)
	sent := sqstest.Depth(t, qc, queueURL)
	if sent != len(bodies) || logFiles == 0 || digests == 0 {
		t.Fatalf("the queue holds %d messages after %d were sent (%d log files, %d digests)", sent, len(bodies), logFiles, digests)
	}

	addr := freePort(t)
	f := startFollow(t, fx.env, "--queue", queueURL, "--source", "s3://"+bucket+"/logs", "--dest", "s3://"+bucket+"/follow",
		"--interval", "1s", "--visibility", "5s", "--log-format", "json", "--metrics-addr", addr)
	drained(t, qc, queueURL, f, 2*time.Minute)

	// The last deletions and the metrics are in the same process: wait until the counter
	// catches up with the queue (it is incremented right after the delete call returns).
	var vals map[string]float64
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := httpGet(t, "http://"+addr+"/metrics")
		if code != http.StatusOK {
			t.Fatalf("GET /metrics: %d\n%s", code, body)
		}
		vals = promValues(t, body)
		if vals["marketrail_follow_messages_deleted_total"] >= float64(sent) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	code, body := httpGet(t, "http://"+addr+"/healthz")
	if code != http.StatusOK || strings.TrimSpace(body) != "ok" {
		t.Errorf("GET /healthz: %d %q, want 200 \"ok\"", code, body)
	}
	for name, want := range map[string]float64{
		"marketrail_follow_messages_deleted_total":                         float64(sent),
		"marketrail_follow_messages_unreadable_total":                      1,
		"marketrail_follow_test_events_total":                              1,
		`marketrail_follow_objects_skipped_total{reason="other_bucket"}`:   1,
		"marketrail_follow_files_given_up_total":                           0,
		"marketrail_follow_batch_errors_total":                             0,
		`marketrail_follow_objects_skipped_total{reason="outside_prefix"}`: 0,
		`marketrail_follow_objects_skipped_total{reason="not_selected"}`:   0,
		"marketrail_follow_files_published_total":                          float64(logFiles),
	} {
		got, ok := vals[name]
		if !ok && want == 0 {
			continue // a labelled counter never incremented is not exported
		}
		if !ok {
			t.Errorf("/metrics has no %s", name)
			continue
		}
		if got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if vals["marketrail_follow_messages_received_total"] < float64(sent) {
		t.Errorf("marketrail_follow_messages_received_total = %v, want at least %d", vals["marketrail_follow_messages_received_total"], sent)
	}
	if vals["marketrail_follow_batches_total"] < 1 || vals["marketrail_follow_events_written_total"] < 1 {
		t.Errorf("batches_total %v, events_written_total %v: want both > 0", vals["marketrail_follow_batches_total"], vals["marketrail_follow_events_written_total"])
	}
	if n := vals["marketrail_follow_lag_seconds_count"]; n < 1 {
		t.Errorf("marketrail_follow_lag_seconds_count = %v, want > 0", n)
	}
	if code := f.stop(t); code != 0 {
		t.Fatalf("follow exited %d after SIGTERM, want 0\n%s", code, f.log())
	}
}

// TestFollowCorruptFileGivenUp: a log file that is not gzip, announced with the sample, is
// tried --max-receives times and its message then deleted; the log names it; its delivery
// day is left partial; every row equals those of one run over the same days (which reads
// the same corrupt file and exits 3) and the generator's manifest.
func TestFollowCorruptFileGivenUp(t *testing.T) {
	fx := newFollowFixture(t)
	sc, srv, qc, bucket, queueURL := fx.sc, fx.srv, fx.qc, fx.bucket, fx.queueURL
	keys := slices.Clone(fx.keys)

	// The corrupt file, in an existing folder of delivery day 2024-03-01.
	var folder string
	for _, k := range keys {
		if strings.Contains(k, "/CloudTrail/") && strings.Contains(k, "/2024/03/01/") {
			folder = k[:strings.LastIndexByte(k, '/')]
			break
		}
	}
	if folder == "" {
		t.Fatal("the sample has no log file delivered on 2024-03-01")
	}
	parts := strings.Split(folder, "/") // AWSLogs/ACCOUNT/CloudTrail/REGION/2024/03/01
	account, region := parts[len(parts)-6], parts[len(parts)-4]
	corrupt := folder + "/" + account + "_CloudTrail_" + region + "_20240301T1200Z_abcdefghijklmnop.json.gz"
	body := "not gzip at all"
	if _, err := sc.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("logs/" + corrupt),
		Body: strings.NewReader(body), ContentLength: aws.Int64(int64(len(body)))}); err != nil {
		t.Fatal(err)
	}
	keys = append(keys, corrupt)
	slices.Sort(keys)

	announceAll(t, qc, queueURL, bucket, "logs/", keys)
	f := startFollow(t, fx.env, "--queue", queueURL, "--source", "s3://"+bucket+"/logs", "--dest", "s3://"+bucket+"/follow",
		"--interval", "1s", "--visibility", "5s", "--max-receives", "2", "--log-format", "json")
	drained(t, qc, queueURL, f, 2*time.Minute)
	if code := f.stop(t); code != 0 {
		t.Fatalf("follow exited %d after SIGTERM, want 0\n%s", code, f.log())
	}
	log := f.log()
	// Every message announcing the corrupt file (the sample's notifications may announce it
	// more than once) is given up after 2 receives, and no other.
	var givenUp int
	for _, l := range strings.Split(log, "\n") {
		if !strings.Contains(l, "could not be published after several receives") {
			continue
		}
		givenUp++
		var e struct {
			Receives int      `json:"receives"`
			Files    []string `json:"files"`
		}
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if e.Receives != 2 || len(e.Files) != 1 || !strings.HasPrefix(e.Files[0], corrupt+": ") {
			t.Errorf("given up after %d receives (want 2): %q, want %s alone", e.Receives, e.Files, corrupt)
		}
	}
	if givenUp == 0 {
		t.Errorf("no line of follow's log gives up %s\n%s", corrupt, log)
	}

	from, to := sampleDays(t, keys)
	r := marketrail(t, srv.Env(), "run", "--source", "s3://"+bucket+"/logs", "--dest", "s3://"+bucket+"/run", "--from", from, "--to", to)
	if r.code != 3 {
		t.Fatalf("run over the corrupt file: exit %d, want 3\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, corrupt) {
		t.Errorf("run's log does not name %s", corrupt)
	}

	followed, ran := manifestStates(t, sc, bucket, "follow/"), manifestStates(t, sc, bucket, "run/")
	if followed["2024-03-01"] != lake.StatePartial {
		t.Errorf("follow left delivery day 2024-03-01 %q, want %q (all: %v)", followed["2024-03-01"], lake.StatePartial, followed)
	}
	if fmt.Sprint(followed) != fmt.Sprint(ran) {
		t.Errorf("follow's manifests are in states %v, run's in %v", followed, ran)
	}
	for d, s := range followed {
		if d != "2024-03-01" && s != lake.StateComplete {
			t.Errorf("follow left delivery day %s %q, want %q", d, s, lake.StateComplete)
		}
	}

	rows := sameLakes(t, sc, bucket, "follow/", "run/")
	m := readManifest(t, sampleManifest)
	diff(t, "follow against the generator's manifest", rows, m.expected(from, to))
}

// TestFollowSIGTERMMidBatch: SIGTERM while a delivery day is being published (the delay
// hook holds each day between its files' publication and its manifest's).
//
// With a --grace long enough, the batch is finished: follow exits 0 within the grace, no
// manifest says "publishing", and the tables are those of a run. With --grace 1ms, the
// batch is abandoned: follow still exits 0 soon; the messages of the batch are still in the
// queue; a follower started again on the same queue publishes everything, into the tables
// of a run.
func TestFollowSIGTERMMidBatch(t *testing.T) {
	const delay = 2 * time.Second
	for _, tc := range []struct {
		name  string
		grace time.Duration
	}{
		{"finished within grace", 60 * time.Second},
		{"abandoned after grace", time.Millisecond},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			fx := newFollowFixture(t)
			sc, srv, qc, bucket, queueURL, env := fx.sc, fx.srv, fx.qc, fx.bucket, fx.queueURL, fx.env
			announceAll(t, qc, queueURL, bucket, "logs/", fx.keys)
			from, to := fx.from, fx.to

			args := []string{"--queue", queueURL, "--source", "s3://" + bucket + "/logs", "--dest", "s3://" + bucket + "/follow",
				"--interval", "2s", "--visibility", "5s", "--log-format", "json"}
			f := startFollow(t, append(env, delayEnv+"=published:"+delay.String()), append(args, "--grace", tc.grace.String())...)

			// Wait until a day is being published: its manifest says so.
			deadline := time.Now().Add(90 * time.Second)
			for {
				states := manifestStates(t, sc, bucket, "follow/")
				if slices.Contains(slices.Collect(maps.Values(states)), lake.StatePublishing) {
					t.Logf("SIGTERM with the manifests in states %v", states)
					break
				}
				if f.cmd.ProcessState != nil || time.Now().After(deadline) {
					t.Fatalf("no day was ever being published\n%s", f.log())
				}
				time.Sleep(50 * time.Millisecond)
			}
			f.cmd.Process.Signal(syscall.SIGTERM)
			code, took := f.waitExit(t, tc.grace+delay+30*time.Second)
			if code != 0 {
				t.Fatalf("follow exited %d after SIGTERM mid-batch, want 0\n%s", code, f.log())
			}
			log := f.log()
			if !strings.Contains(log, `"msg":"stopped following"`) {
				t.Errorf("follow's log lacks its stop\n%s", log)
			}
			states := manifestStates(t, sc, bucket, "follow/")
			depth := sqstest.Depth(t, qc, queueURL)
			t.Logf("follow exited %d %s after the signal; the lake holds manifests %v; the queue %d messages", code, took.Round(time.Millisecond), states, depth)

			if tc.grace > time.Millisecond {
				if took > tc.grace {
					t.Errorf("follow took %s to stop, more than --grace %s", took, tc.grace)
				}
				if !strings.Contains(log, `"msg":"batch published"`) {
					t.Errorf("the batch under way at the signal was not finished\n%s", log)
				}
				for d, s := range states {
					if s == lake.StatePublishing {
						t.Errorf("the batch was finished within grace, yet delivery day %s's manifest says %q", d, s)
					}
				}
			} else {
				if took > delay+10*time.Second {
					t.Errorf("follow took %s to stop with --grace 1ms", took)
				}
				if strings.Contains(log, `"msg":"batch published"`) {
					t.Errorf("the batch was published despite --grace 1ms\n%s", log)
				}
				var returned int
				for _, l := range strings.Split(log, "\n") {
					var e struct {
						Msg      string `json:"msg"`
						Returned int    `json:"messages_returned"`
					}
					if json.Unmarshal([]byte(l), &e) == nil && e.Msg == "stopped following" {
						returned = e.Returned
					}
				}
				if returned == 0 || depth < returned {
					t.Errorf("the queue holds %d messages after the abandoned batch, follow handed %d back: want them all still there (> 0)", depth, returned)
				}
				if !slices.Contains(slices.Collect(maps.Values(states)), lake.StatePublishing) {
					t.Logf("no manifest left publishing after the abandoned batch: %v", states)
				}
			}

			// What is left (if anything) is published by the next follower on the queue.
			g := startFollow(t, env, args...)
			drained(t, qc, queueURL, g, 2*time.Minute)
			if code := g.stop(t); code != 0 {
				t.Fatalf("the second follow exited %d after SIGTERM, want 0\n%s", code, g.log())
			}
			for d, s := range manifestStates(t, sc, bucket, "follow/") {
				if s != lake.StateComplete {
					t.Errorf("after the second follow, delivery day %s's manifest says %q, want %q", d, s, lake.StateComplete)
				}
			}
			r := marketrail(t, srv.Env(), "run", "--source", "s3://"+bucket+"/logs", "--dest", "s3://"+bucket+"/run", "--from", from, "--to", to)
			if r.code != 0 {
				t.Fatalf("run: exit %d\n%s", r.code, r.stderr)
			}
			rows := sameLakes(t, sc, bucket, "follow/", "run/")
			diff(t, "follow against the generator's manifest", rows, readManifest(t, sampleManifest).expected(from, to))
		})
	}
}
