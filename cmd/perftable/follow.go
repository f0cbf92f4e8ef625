package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/marketrail/marketrail/internal/faultproxy"
	"github.com/marketrail/marketrail/internal/gentrail"
	"github.com/marketrail/marketrail/pkg/follow"
	"github.com/marketrail/marketrail/pkg/lake"
	"github.com/marketrail/marketrail/pkg/storage"
)

// The follow regime (-only follow, issue 13): marketrail follow at its default settings
// (--interval 1m) on a delivery day that already has a manifest, as in steady state; new
// log files of the day arrive at random moments, each announced by one S3 event
// notification; the lag is from the notification's SendMessage to the day's manifest
// listing the file, complete.

// followSamples is how many new log files each archive gets when -runs is not given.
const followSamples = 4

// followSpread is how long the new log files' arrivals are spread over: about 3 intervals.
const followSpread = 3 * follow.DefaultInterval

// followTarget is issue 13's target: a file's rows are published within --interval + 10 s
// of its notification at the default interval.
const followTarget = follow.DefaultInterval + 10*time.Second

// quietConfig is the archive of a quiet delivery day: one day of 20 trail folders (4
// accounts in 4 regions; the management account's are delivered by both trails) of 24 log
// files each, 1 % of the records Marketplace events (largeConfig's ratio): 2 per file on
// average, many files with none.
func quietConfig() gentrail.Config {
	c := gentrail.Large(0)
	c.Days = 1
	c.Accounts, c.Regions = 4, 4
	c.DigestAccounts, c.DigestRegions = 4, 4
	c.FilesPerFolder = 24
	c.RecordsPerFile = 200
	c.MarketplaceRatio = 0.01
	return c
}

// followRun is one archive of the follow regime, measured.
type followRun struct {
	name, heading string
	a             *trailArchive
	day           string
	lags          []time.Duration
	batches       []batchLine // follow's batches during the samples
	requests      int64       // S3 requests follow made during the samples
	events        int64       // the day's events in follow's lake (its manifest's rows)
	runEvents     int64       // the day's events written by a fresh marketrail run
	initialEvents int64       // the day's events before the samples (the first run)
	exit          int         // follow's exit status after SIGTERM
}

// batchLine is follow's "batch published" log line.
type batchLine struct {
	Msg      string  `json:"msg"`
	Days     int     `json:"days"`
	Done     int     `json:"messages_done"`
	Kept     int     `json:"messages_kept"`
	Events   int64   `json:"events"`
	Elapsed  float64 `json:"elapsed_seconds"`
	received time.Time
}

// sqsServer is goaws on 127.0.0.1, built by scripts/goaws.sh.
type sqsServer struct {
	endpoint string
	cmd      *exec.Cmd
	dir      string
}

// startGoaws builds goaws if need be (scripts/goaws.sh) and starts it on a free port of
// 127.0.0.1 with the configuration scripts/test.sh gives it.
func startGoaws(ctx context.Context, work string) (*sqsServer, error) {
	script := exec.CommandContext(ctx, "bash", filepath.Join(moduleRoot(), "scripts", "goaws.sh"))
	script.Stderr = os.Stderr
	out, err := script.Output()
	if err != nil {
		return nil, fmt.Errorf("scripts/goaws.sh: %w", err)
	}
	bin := string(trimNL(out))
	dir, err := os.MkdirTemp(work, "goaws-")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	_, p, _ := net.SplitHostPort(port)
	conf := fmt.Sprintf("Local:\n  Host: 127.0.0.1\n  Port: %q\n  AccountId: \"100010001000\"\n  LogToFile: false\n  QueueAttributeDefaults:\n    VisibilityTimeout: 30\n    ReceiveMessageWaitTimeSeconds: 0\n", p)
	if err := os.WriteFile(filepath.Join(dir, "goaws.yaml"), []byte(conf), 0o644); err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(dir, "goaws.log"))
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	s := &sqsServer{endpoint: "http://" + port, dir: dir}
	s.cmd = exec.Command(bin, "-config", filepath.Join(dir, "goaws.yaml"), "-host", "127.0.0.1", "Local")
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	for range 100 { // goaws answers 200 on /health once it is ready
		if resp, err := http.Get(s.endpoint + "/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				logf("goaws on %s (pid %d)", s.endpoint, s.cmd.Process.Pid)
				return s, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.stop()
	b, _ := os.ReadFile(filepath.Join(dir, "goaws.log"))
	return nil, fmt.Errorf("goaws did not start:\n%s", b)
}

func (s *sqsServer) stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
	os.RemoveAll(s.dir)
}

// freePort is a free address of 127.0.0.1 (host:port).
func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// followRegime holds what every archive's measurement shares.
type followRegime struct {
	s       *suite
	srv     *server
	proxy   *faultproxy.Proxy
	sqsEP   string
	s3c     *s3.Client
	sqsc    *sqs.Client
	bucket  string
	samples int
}

// runFollow measures the follow regime alone (-only follow).
func runFollow(ctx context.Context, o options) error {
	samples := followSamples
	if o.runsSet {
		samples = o.runs
	}
	if samples < 1 {
		return fmt.Errorf("-runs %d: follow needs at least one new log file per day", samples)
	}
	s, err := newSuite(ctx, o.work)
	if err != nil {
		return err
	}
	quiet, err := archive(quietConfig(), filepath.Join(o.work, "quiet-day"))
	if err != nil {
		return err
	}
	busy, err := archive(busyConfig(false), filepath.Join(o.work, "busy"))
	if err != nil {
		return err
	}
	srv, err := s3Server(ctx, o.work)
	if err != nil {
		return err
	}
	defer srv.stop()
	s.srv = srv
	sq, err := startGoaws(ctx, o.work)
	if err != nil {
		return err
	}
	defer sq.stop()
	// follow's S3 requests go through a proxy that only counts them.
	p, err := faultproxy.New(srv.endpoint, faultproxy.Config{})
	if err != nil {
		return err
	}
	defer p.Close()
	for _, kv := range srv.env() {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}
	s3c, err := storage.NewS3Client(ctx, storage.S3Options{})
	if err != nil {
		return err
	}
	r := &followRegime{s: s, srv: srv, proxy: p, sqsEP: sq.endpoint, s3c: s3c, samples: samples,
		sqsc: sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(sq.endpoint),
			Credentials: credentials.NewStaticCredentialsProvider("perftable", "perftable", "")})}
	var b [6]byte
	rand.Read(b[:])
	r.bucket = "perftable-follow-" + hex.EncodeToString(b[:])
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(r.bucket)}); err != nil {
		return err
	}
	var runs []*followRun
	for _, fa := range []struct {
		name, heading string
		a             *trailArchive
	}{
		{"quiet", "A quiet day", quiet},
		{"busy", "A busy day", busy},
	} {
		fr, err := r.measure(ctx, fa.name, fa.heading, fa.a)
		if err != nil {
			return fmt.Errorf("follow, %s day: %w", fa.name, err)
		}
		runs = append(runs, fr)
	}
	fmt.Fprintf(o.out, "Measured by `go run ./cmd/perftable -only follow` on %s.\n", machine())
	reportFollow(o.out, runs, samples)
	return nil
}

// putDir uploads the files under dir to the regime's bucket under prefix.
func (r *followRegime) putDir(ctx context.Context, dir, prefix string) error {
	logf("uploading %s to s3://%s/%s", dir, r.bucket, prefix)
	return putDir(ctx, r.s3c, dir, r.bucket, prefix)
}

// runDay runs marketrail run over day from source into dest (straight to the S3 server) and
// returns the events it wrote.
func (r *followRegime) runDay(ctx context.Context, source, dest, day string) (int64, error) {
	_, out, err := r.s.child(ctx, r.srv.env(), "", r.s.bin, "run", "--source", source, "--dest", dest, "--from", day, "--to", day,
		"--progress", "off", "--log-format", "json")
	if err != nil {
		return 0, err
	}
	var sum runSummary
	if err := json.Unmarshal(out, &sum); err != nil {
		return 0, fmt.Errorf("marketrail's summary: %v", err)
	}
	if sum.ExitCode != 0 {
		return 0, fmt.Errorf("marketrail run over %s exited %d", day, sum.ExitCode)
	}
	return sum.Totals.RowsWritten["events"], nil
}

// manifest reads the day's manifest under prefix of the bucket; nil when there is none.
func (r *followRegime) manifest(ctx context.Context, prefix, day string) (*lake.Manifest, error) {
	out, err := r.s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(r.bucket), Key: aws.String(prefix + lake.ManifestDir + day + ".json")})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	var m lake.Manifest
	if err := json.NewDecoder(out.Body).Decode(&m); err != nil {
		return nil, err
	}
	return &m, nil
}

// measure runs follow on one archive: first run over its day, follow started, the samples,
// the check, follow stopped.
func (r *followRegime) measure(ctx context.Context, name, heading string, a *trailArchive) (*followRun, error) {
	fr := &followRun{name: name, heading: heading, a: a, day: a.from}
	if a.from != a.to {
		return nil, fmt.Errorf("the archive covers %s to %s, want one delivery day", a.from, a.to)
	}
	logsPrefix := name + "/logs/"
	source := "s3://" + r.bucket + "/" + name + "/logs"
	destPrefix := name + "/lake/"
	dest := "s3://" + r.bucket + "/" + name + "/lake"
	if err := r.putDir(ctx, a.dir, logsPrefix); err != nil {
		return nil, err
	}
	logf("follow, %s day: marketrail run over %s (the day's manifest, as in steady state)", name, fr.day)
	var err error
	if fr.initialEvents, err = r.runDay(ctx, source, dest, fr.day); err != nil {
		return nil, err
	}
	// The day's log files with Marketplace events: the new files are copies of them.
	gm, err := gentrail.ReadManifest(a.dir + ".manifest.json")
	if err != nil {
		return nil, err
	}
	var bearing []gentrail.Object
	for _, ob := range gm.Objects {
		if ob.Kind == gentrail.KindLog && ob.DeliveryDay == fr.day && ob.Marketplace > 0 {
			bearing = append(bearing, ob)
		}
	}
	if len(bearing) == 0 {
		return nil, errors.New("no log file of the day has Marketplace events")
	}
	q, err := r.sqsc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("perftable-follow-" + name)})
	if err != nil {
		return nil, fmt.Errorf("create queue: %w", err)
	}
	queueURL := aws.ToString(q.QueueUrl)
	metrics, err := freePort()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(r.s.work, "follow-"+name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(r.s.bin, "follow", "--queue", queueURL, "--source", source, "--dest", dest,
		"--metrics-addr", metrics, "--log-format", "json")
	env := append(os.Environ(), r.srv.env()...)
	cmd.Env = append(env, "AWS_ENDPOINT_URL_S3="+r.proxy.URL, "AWS_ENDPOINT_URL_SQS="+r.sqsEP) // the last value of a key wins
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	defer func() {
		select {
		case <-exited:
		default:
			cmd.Process.Kill()
			<-exited
		}
	}()
	followLog := func() string { b, _ := os.ReadFile(logPath); return string(b) }
	for began := time.Now(); !strings.Contains(followLog(), `"msg":"following"`); {
		select {
		case <-exited:
			return nil, fmt.Errorf("follow exited before following:\n%s", tail(followLog(), 2000))
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Since(began) > time.Minute {
			return nil, fmt.Errorf("follow is not following after a minute:\n%s", tail(followLog(), 2000))
		}
	}
	logf("follow, %s day: following (pid %d); %d new log files over %s", name, cmd.Process.Pid, r.samples, followSpread)

	// The samples: the moments, then a loop that sends each at its moment and polls the
	// manifest every 200 ms.
	offsets := make([]time.Duration, r.samples)
	for i := range offsets {
		offsets[i] = time.Duration(mrand.Int64N(int64(followSpread)))
	}
	slices.Sort(offsets)
	requestsBefore := r.proxy.Requests.Load()
	start := time.Now()
	sent := map[string]time.Time{} // key relative to the source → t0
	var pending []string
	next := 0
	deadline := start.Add(followSpread + 2*follow.DefaultInterval + 3*time.Minute)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for next < len(offsets) || len(pending) > 0 {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-exited:
			return nil, fmt.Errorf("follow exited during the samples:\n%s", tail(followLog(), 2000))
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%d of the new log files not published by %s after the first was sent:\n%s", len(pending), deadline.Sub(start), tail(followLog(), 3000))
		}
		if next < len(offsets) && time.Since(start) >= offsets[next] {
			key, err := r.newLogFile(ctx, a, bearing[mrand.IntN(len(bearing))], fr.day, logsPrefix, queueURL)
			if err != nil {
				return nil, err
			}
			sent[key] = time.Now()
			pending = append(pending, key)
			next++
			logf("follow, %s day: sample %d/%d sent at %s: %s", name, next, len(offsets), time.Since(start).Round(time.Second), key)
		}
		if len(pending) == 0 {
			continue
		}
		m, err := r.manifest(ctx, destPrefix, fr.day)
		if err != nil || m.State != lake.StateComplete {
			continue // mid-publish, or an error; the next poll looks again
		}
		now := time.Now()
		pending = slices.DeleteFunc(pending, func(k string) bool {
			if !slices.ContainsFunc(m.Inputs, func(in lake.Input) bool { return in.Key == k }) {
				return false
			}
			lag := now.Sub(sent[k])
			fr.lags = append(fr.lags, lag)
			logf("follow, %s day: %s published after %s", name, k, lag.Round(100*time.Millisecond))
			return true
		})
	}
	// The last batch's messages are deleted, and the batch logged, after its manifest.
	for {
		done := 0
		for _, b := range batchLines(followLog()) {
			done += b.Done
		}
		if done >= r.samples {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("follow logged %d of %d messages done:\n%s", done, r.samples, tail(followLog(), 3000))
		}
		time.Sleep(200 * time.Millisecond)
	}
	fr.requests = r.proxy.Requests.Load() - requestsBefore
	fr.batches = batchLines(followLog())

	// Did the rows land: follow's lake against a fresh run over the same day.
	m, err := r.manifest(ctx, destPrefix, fr.day)
	if err != nil {
		return nil, fmt.Errorf("follow's manifest: %w", err)
	}
	for _, n := range m.Rows["events"] {
		fr.events += n
	}
	logf("follow, %s day: marketrail run over %s into a fresh prefix, to check follow's lake", name, fr.day)
	if fr.runEvents, err = r.runDay(ctx, source, "s3://"+r.bucket+"/"+name+"/check", fr.day); err != nil {
		return nil, err
	}
	if fr.events != fr.runEvents {
		return nil, fmt.Errorf("follow's lake holds %d events of %s, a fresh run wrote %d", fr.events, fr.day, fr.runEvents)
	}

	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(time.Minute):
		return nil, fmt.Errorf("follow did not stop within a minute of SIGTERM:\n%s", tail(followLog(), 2000))
	}
	fr.exit = cmd.ProcessState.ExitCode()
	if fr.exit != 0 {
		return nil, fmt.Errorf("follow exited %d after SIGTERM, want 0:\n%s", fr.exit, tail(followLog(), 2000))
	}
	return fr, nil
}

// newLogFile uploads a copy of log file ob under a new CloudTrail name in its day folder
// (a time of day before 23:00, so that the next day's tail is not involved) and announces
// it with one S3 event notification. It returns the new key, relative to the source.
func (r *followRegime) newLogFile(ctx context.Context, a *trailArchive, ob gentrail.Object, day, prefix, queueURL string) (string, error) {
	body, err := os.ReadFile(filepath.Join(a.dir, filepath.FromSlash(ob.Key)))
	if err != nil {
		return "", err
	}
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	u := make([]byte, 16)
	for i := range u {
		u[i] = chars[mrand.IntN(len(chars))]
	}
	key := fmt.Sprintf("%s/%s_CloudTrail_%s_%sT%02d%02dZ_%s.json.gz", path.Dir(ob.Key), ob.Account, ob.Region,
		strings.ReplaceAll(day, "-", ""), mrand.IntN(23), mrand.IntN(60), u)
	if _, err := r.s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(r.bucket), Key: aws.String(prefix + key), Body: bytes.NewReader(body)}); err != nil {
		return "", err
	}
	if _, err := r.sqsc.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String(s3Event(r.bucket, prefix+key, len(body)))}); err != nil {
		return "", fmt.Errorf("send the notification: %w", err)
	}
	return key, nil
}

// s3Event is an S3 event notification of one object's creation, as S3 sends it (the key
// URL-encoded).
func s3Event(bucket, key string, size int) string {
	now := time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	b, _ := json.Marshal(map[string]any{"Records": []any{map[string]any{
		"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
		"eventTime": now, "eventName": "ObjectCreated:Put",
		"s3": map[string]any{"s3SchemaVersion": "1.0", "configurationId": "trail",
			"bucket": map[string]any{"name": bucket, "arn": "arn:aws:s3:::" + bucket},
			"object": map[string]any{"key": url.QueryEscape(key), "size": size, "eTag": "0123456789abcdef0123456789abcdef", "sequencer": "0055AED6DCD90281E5"}},
	}}})
	return string(b)
}

// batchLines are follow's "batch published" lines in log (JSON lines).
func batchLines(log string) []batchLine {
	var out []batchLine
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var b batchLine
		if json.Unmarshal(sc.Bytes(), &b) == nil && b.Msg == "batch published" {
			out = append(out, b)
		}
	}
	return out
}

// durMedian is the median of d (0 when empty).
func durMedian(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// reportFollow prints the follow regime's tables in markdown.
func reportFollow(w io.Writer, runs []*followRun, samples int) {
	fmt.Fprintf(w, "\n### Follow: lag from notification to published rows (issue 13)\n\n")
	fmt.Fprintf(w, "`marketrail follow` at its default settings (--interval %s) on the local S3 server (its S3 requests through a proxy that counts them, no latency added) and goaws, following a delivery day that a `marketrail run` published first, as in steady state. %d new log files per day, at random moments over %s: each a copy of one of the day's log files with Marketplace events under a new CloudTrail name in the same day folder, uploaded, then announced by one S3 event notification. Lag: from SendMessage's return to the first poll (every 200 ms) that finds the day's manifest complete and listing the file. A batch is due an interval less the last batch's time (at most half an interval less) after the first message it holds was received, so a file's lag is about an interval once a batch's time is known.\n",
		follow.DefaultInterval, samples, followSpread)
	for _, fr := range runs {
		var single []time.Duration
		var all []time.Duration
		for _, b := range fr.batches {
			d := time.Duration(b.Elapsed * float64(time.Second))
			all = append(all, d)
			if b.Done == 1 {
				single = append(single, d)
			}
		}
		lagMax := slices.Max(fr.lags)
		met := "met"
		if lagMax > followTarget {
			met = "not met"
		}
		lags := make([]string, len(fr.lags))
		for i, l := range fr.lags {
			lags[i] = fmt.Sprintf("%.1f", l.Seconds())
		}
		batchCell := func(d []time.Duration) string {
			if len(d) == 0 {
				return "–"
			}
			return fmt.Sprintf("%s / %s", secs(durMedian(d)), secs(slices.Max(d)))
		}
		fmt.Fprintf(w, "\n**%s**: %d log files in %d trail folders, %s, %d events in the day\n\n", fr.heading, len(fr.a.logFiles), folders(fr.a), fr.day, fr.events)
		fmt.Fprintln(w, "| measure | value |")
		fmt.Fprintln(w, "|---|---:|")
		fmt.Fprintf(w, "| samples (new log files) | %d |\n", len(fr.lags))
		fmt.Fprintf(w, "| lag median / max (s) | %s / %s |\n", secs(durMedian(fr.lags)), secs(lagMax))
		fmt.Fprintf(w, "| lags (s, in order of publication) | %s |\n", strings.Join(lags, ", "))
		fmt.Fprintf(w, "| target: lag ≤ interval + 10 s (%s) | %s |\n", secs(followTarget), met)
		fmt.Fprintf(w, "| batches during the samples | %d |\n", len(fr.batches))
		fmt.Fprintf(w, "| batch time, batches of one new log file, median / max (s) | %s |\n", batchCell(single))
		fmt.Fprintf(w, "| batch time, every batch, median / max (s) | %s |\n", batchCell(all))
		fmt.Fprintf(w, "| S3 requests per batch (%d requests / %d batches) | %.0f |\n", fr.requests, len(fr.batches), float64(fr.requests)/float64(max(len(fr.batches), 1)))
		fmt.Fprintf(w, "| events in the day: follow's lake / a fresh run's (before the samples) | %d / %d (%d) |\n", fr.events, fr.runEvents, fr.initialEvents)
		fmt.Fprintf(w, "| follow's exit status after SIGTERM | %d |\n", fr.exit)
	}
}

// folders is how many day folders a's log files are in.
func folders(a *trailArchive) int {
	seen := map[string]bool{}
	for _, f := range a.logFiles {
		seen[filepath.Dir(f)] = true
	}
	return len(seen)
}
