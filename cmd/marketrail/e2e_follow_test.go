package main

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/marketrail/marketrail/internal/s3test"
	"github.com/marketrail/marketrail/internal/sqstest"
)

// The shapes in which AWS announces a new object to a queue, as documented (see
// pkg/notify): each builds one message body.

// ctBody is CloudTrail's own notification: the bucket and the keys of the log files
// delivered.
func ctBody(bucket string, keys ...string) string {
	b, _ := json.Marshal(map[string]any{"s3Bucket": bucket, "s3ObjectKey": keys})
	return string(b)
}

// viaSNS is a message as SNS delivers it to SQS without raw delivery: the original in the
// envelope's Message, as a JSON string.
func viaSNS(inner string) string {
	b, _ := json.Marshal(map[string]any{
		"Type": "Notification", "MessageId": "5b0c0a4b-0000-4000-8000-000000000001",
		"TopicArn": "arn:aws:sns:us-east-1:123456789012:trail-files", "Message": inner,
		"Timestamp": "2024-03-01T00:05:00.000Z", "SignatureVersion": "1", "Signature": "EXAMPLE",
		"SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000.pem",
		"UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
	})
	return string(b)
}

// s3Event is an S3 event notification of object creations; keys are URL-encoded, as S3
// sends them.
func s3Event(bucket string, keys ...string) string {
	var recs []any
	for _, k := range keys {
		recs = append(recs, map[string]any{
			"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
			"eventTime": "2024-03-01T00:05:00.000Z", "eventName": "ObjectCreated:Put",
			"s3": map[string]any{"s3SchemaVersion": "1.0", "configurationId": "trail",
				"bucket": map[string]any{"name": bucket, "arn": "arn:aws:s3:::" + bucket},
				"object": map[string]any{"key": url.QueryEscape(k), "size": 1024, "eTag": "0123456789abcdef0123456789abcdef", "sequencer": "0055AED6DCD90281E5"}},
		})
	}
	b, _ := json.Marshal(map[string]any{"Records": recs})
	return string(b)
}

// ebEvent is an EventBridge "Object Created" event.
func ebEvent(bucket, key string) string {
	b, _ := json.Marshal(map[string]any{
		"version": "0", "id": "17793124-05d4-b198-2fde-7ededc63b103", "detail-type": "Object Created",
		"source": "aws.s3", "account": "123456789012", "time": "2024-03-01T00:05:00Z", "region": "us-east-1",
		"resources": []string{"arn:aws:s3:::" + bucket},
		"detail": map[string]any{"version": "0", "bucket": map[string]any{"name": bucket},
			"object":     map[string]any{"key": key, "size": 1024, "etag": "0123456789abcdef0123456789abcdef", "sequencer": "00617F08299329D189"},
			"request-id": "N4N7GDK58NMKJ12R", "requester": "cloudtrail.amazonaws.com", "reason": "PutObject"},
	})
	return string(b)
}

// s3TestEvent is what S3 sends once when notifications are configured.
func s3TestEvent(bucket string) string {
	b, _ := json.Marshal(map[string]any{"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2024-03-01T00:00:00.000Z",
		"Bucket": bucket, "RequestId": "5582815E1AEA5ADF", "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE"})
	return string(b)
}

// objectKeys lists the keys of every file under dir, relative to it, sorted.
func objectKeys(t *testing.T, dir string) []string {
	t.Helper()
	var keys []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			keys = append(keys, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	return keys
}

// announceAll sends a message for every object of the trail under prefix in bucket, in
// every shape in turn (some messages announce several log files), plus a test event, an
// object of another bucket, a duplicate and one message that is not a notification at all.
// It returns the garbage body.
func announceAll(t *testing.T, c *sqs.Client, queueURL, bucket, prefix string, keys []string) string {
	t.Helper()
	var bodies []string
	full := func(k string) string { return prefix + k }
	for i := 0; i < len(keys); {
		k := full(keys[i])
		switch i % 6 {
		case 0: // CloudTrail's notification through SNS, two log files at once
			ks := []string{k}
			if i+1 < len(keys) {
				ks = append(ks, full(keys[i+1]))
				i++
			}
			bodies = append(bodies, viaSNS(ctBody(bucket, ks...)))
		case 1:
			bodies = append(bodies, ctBody(bucket, k)) // raw delivery
		case 2:
			bodies = append(bodies, s3Event(bucket, k))
		case 3:
			bodies = append(bodies, viaSNS(s3Event(bucket, k)))
		case 4:
			bodies = append(bodies, ebEvent(bucket, k))
		case 5:
			bodies = append(bodies, viaSNS(ebEvent(bucket, k)))
		}
		i++
	}
	garbage := `{"this is": "not a notification"}`
	bodies = append(bodies,
		s3TestEvent(bucket),
		s3Event("someone-elses-bucket", full(keys[0])),
		bodies[2], // the same notification twice
		garbage,
	)
	sqstest.Send(t, c, queueURL, bodies...)
	return garbage
}

// follower is a running 'marketrail follow'.
type follower struct {
	cmd     *exec.Cmd
	logFile string // its standard error
}

// log is what follow has logged so far.
func (f *follower) log() string {
	b, _ := os.ReadFile(f.logFile)
	return string(b)
}

func startFollow(t *testing.T, env []string, args ...string) *follower {
	t.Helper()
	f := &follower{cmd: exec.Command(binary, append([]string{"follow"}, args...)...), logFile: filepath.Join(t.TempDir(), "follow.log")}
	f.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "TMPDIR=" + os.TempDir()}, env...)
	stderr, err := os.Create(f.logFile)
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close() // the process has its own descriptor
	f.cmd.Stderr = stderr
	if err := f.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if f.cmd.ProcessState == nil {
			f.cmd.Process.Kill()
			f.cmd.Wait()
		}
	})
	return f
}

// stop sends SIGTERM and returns the exit status.
func (f *follower) stop(t *testing.T) int {
	t.Helper()
	f.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- f.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		f.cmd.Process.Kill()
		t.Fatalf("follow did not stop within a minute of SIGTERM\n%s", f.log())
	}
	return f.cmd.ProcessState.ExitCode()
}

// drained waits until follow is following and the queue holds no message (visible or
// being worked on).
func drained(t *testing.T, c *sqs.Client, queueURL string, f *follower, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !strings.Contains(f.log(), `"msg":"following"`) || sqstest.Depth(t, c, queueURL) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the queue still holds %d messages after %s\nfollow's log:\n%s", sqstest.Depth(t, c, queueURL), within, f.log())
		}
		if f.cmd.ProcessState != nil {
			t.Fatalf("follow exited\n%s", f.log())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// followFixture is the sample trail in a bucket of the S3 server, and a queue of the SQS
// server announcing its files.
type followFixture struct {
	sc       *s3.Client
	qc       *sqs.Client
	srv      s3test.Server
	bucket   string
	queueURL string
	env      []string // for follow: the S3 server's, and the SQS endpoint
	keys     []string
	from, to string
}

func newFollowFixture(t *testing.T) *followFixture {
	t.Helper()
	fx := &followFixture{}
	fx.sc, fx.srv = s3test.Client(t)
	var sqsEndpoint string
	fx.qc, sqsEndpoint = sqstest.Client(t)
	fx.bucket = s3test.Bucket(t, fx.sc)
	upload(t, fx.sc, sampleTrail, fx.bucket, "logs/")
	fx.keys = objectKeys(t, sampleTrail)
	fx.from, fx.to = sampleDays(t, fx.keys)
	fx.queueURL = sqstest.Queue(t, fx.qc)
	fx.env = append(fx.srv.Env(), "AWS_ENDPOINT_URL_SQS="+sqsEndpoint)
	return fx
}

// follow starts 'marketrail follow' on the fixture's queue, writing under prefix, with
// short leases (a restarted follower takes over a killed one's days in seconds).
func (fx *followFixture) follow(t *testing.T, prefix string, env ...string) *follower {
	t.Helper()
	return startFollow(t, append(append(env, leaseEnv+"=3s:20s"), fx.env...), "--queue", fx.queueURL, "--source", "s3://"+fx.bucket+"/logs",
		"--dest", "s3://"+fx.bucket+"/"+prefix, "--interval", "1s", "--visibility", "5s", "--log-format", "json")
}

// run runs 'marketrail run' over the fixture's window, writing under prefix, and fails the
// test unless it exits 0 or (when another run held a day) 3.
func (fx *followFixture) run(t *testing.T, prefix string, env ...string) result {
	t.Helper()
	r := marketrail(t, append(env, fx.srv.Env()...), "run", "--source", "s3://"+fx.bucket+"/logs", "--dest", "s3://"+fx.bucket+"/"+prefix,
		"--from", fx.from, "--to", fx.to)
	if r.code != 0 && r.code != 3 {
		t.Fatalf("run into %s: exit %d\n%s", prefix, r.code, r.stderr)
	}
	return r
}

// unchanged checks that a run over the window into prefix finds every day unchanged.
func (fx *followFixture) unchanged(t *testing.T, prefix string) {
	t.Helper()
	r := fx.run(t, prefix)
	for _, d := range runReport(t, r)["days"].([]any) {
		day := d.(map[string]any)
		if day["action"] != "unchanged" {
			t.Errorf("a run after follow found delivery day %v %v (%v), want unchanged", day["delivery_day"], day["action"], day["reason"])
		}
	}
}

// sameLakes checks that the lakes under two prefixes of bucket hold the same Parquet
// files, byte for byte, and the same rows (read by DuckDB); it returns the first one's rows.
func sameLakes(t *testing.T, c *s3.Client, bucket, got, want string) []row {
	t.Helper()
	a, b := download(t, c, bucket, got), download(t, c, bucket, want)
	if fa, fb := parquetFiles(t, a), parquetFiles(t, b); !slices.Equal(fa, fb) {
		t.Fatalf("%s holds files\n%q\n%s holds\n%q", got, fa, want, fb)
	}
	for _, p := range parquetFiles(t, b) {
		x, _ := os.ReadFile(filepath.Join(a, p))
		y, _ := os.ReadFile(filepath.Join(b, p))
		if !bytes.Equal(x, y) {
			t.Errorf("%s: the file in %s differs from the one in %s", p, got, want)
		}
	}
	gotRows, gotFull := written(t, a)
	wantRows, wantFull := written(t, b)
	diff(t, got+" against "+want, gotRows, wantRows)
	if !slices.Equal(gotFull, wantFull) {
		t.Errorf("the rows of %s differ from those of %s in some column", got, want)
	}
	return gotRows
}

// TestFollowDrainsToRunTables: a queue announcing the sample trail's files in every shape
// (with a test event, a foreign object, a duplicate and a garbage message) drains into
// tables identical to one run over the same days; the garbage is kept; a nightly run
// afterwards finds every day unchanged; SIGTERM exits 0.
func TestFollowDrainsToRunTables(t *testing.T) {
	fx := newFollowFixture(t)
	sc, srv, qc, bucket, queueURL := fx.sc, fx.srv, fx.qc, fx.bucket, fx.queueURL
	garbage := announceAll(t, qc, queueURL, bucket, "logs/", fx.keys)

	// A short --visibility: now and then goaws drops the connection a ReceiveMessage is
	// answered on (after a DeleteMessageBatch on it); the SDK retries, and the messages of
	// the lost answer come back only when their visibility timeout ends (pkg/queue/doc.go).
	f := startFollow(t, fx.env, "--queue", queueURL, "--source", "s3://"+bucket+"/logs", "--dest", "s3://"+bucket+"/follow",
		"--interval", "2s", "--visibility", "5s", "--log-format", "json")
	drained(t, qc, queueURL, f, 30*time.Second)
	if code := f.stop(t); code != 0 {
		t.Fatalf("follow exited %d after SIGTERM, want 0\n%s", code, f.log())
	}
	log := f.log()
	for _, want := range []string{`"msg":"message not understood: kept and deleted"`, `"msg":"stopped following"`} {
		if !strings.Contains(log, want) {
			t.Errorf("follow's log lacks %s\n%s", want, log)
		}
	}

	// The days follow published, and one run over the same days.
	from, to := fx.from, fx.to
	if r := marketrail(t, srv.Env(), "run", "--source", "s3://"+bucket+"/logs", "--dest", "s3://"+bucket+"/run", "--from", from, "--to", to); r.code != 0 {
		t.Fatalf("run: exit %d\n%s", r.code, r.stderr)
	}
	gotRows := sameLakes(t, sc, bucket, "follow/", "run/")
	m := readManifest(t, sampleManifest)
	diff(t, "follow against the generator's manifest", gotRows, m.expected(from, to))

	// The garbage message, kept raw.
	kept := download(t, sc, bucket, "follow/_marketrail/messages/")
	var bodies []string
	for _, k := range objectKeys(t, kept) {
		b, _ := os.ReadFile(filepath.Join(kept, k))
		bodies = append(bodies, string(b))
	}
	if !slices.Equal(bodies, []string{garbage}) {
		t.Errorf("kept messages %q, want the garbage one alone", bodies)
	}

	// A nightly run afterwards finds every day follow kept unchanged.
	r := marketrail(t, srv.Env(), "run", "--source", "s3://"+bucket+"/logs", "--dest", "s3://"+bucket+"/follow", "--from", from, "--to", to)
	if r.code != 0 {
		t.Fatalf("nightly run: exit %d\n%s", r.code, r.stderr)
	}
	for _, d := range runReport(t, r)["days"].([]any) {
		day := d.(map[string]any)
		if day["action"] != "unchanged" {
			t.Errorf("the nightly run found delivery day %v %v (%v), want unchanged", day["delivery_day"], day["action"], day["reason"])
		}
	}
}
