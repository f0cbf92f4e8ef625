package main

// End-to-end tests: they build the real marketrail binary, run it against the sample trail
// and generated archives, from a local folder and from the real S3 server (versitygw, started
// by scripts/test.sh), and read the output back with DuckDB. Expected rows come from the
// generator's manifest, never from marketrail's own code.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/marketrail/marketrail/internal/duckcheck"
	"github.com/marketrail/marketrail/internal/s3test"
)

// binary is the marketrail binary built by TestMain.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "marketrail-e2e-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "marketrail")
	build := exec.Command("go", "build", "-ldflags", "-X main.version=v0.0.0-e2e", "-o", binary, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build marketrail:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is one run of the binary.
type result struct {
	code           int
	stdout, stderr string
}

// marketrail runs the binary with args; env adds to a clean environment (no AWS settings
// of the machine leak in).
func marketrail(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "TMPDIR=" + os.TempDir()}, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, out.String(), errb.String()}
}

// manifest is the generator's record of what it injected (testdata/trail-manifest.json).
type manifest struct {
	Window struct {
		From string `json:"from"`
		To   string `json:"to"`
	} `json:"window"`
	Copies []struct {
		EventID     string `json:"event_id"`
		EventSource string `json:"event_source"`
		EventName   string `json:"event_name"`
		EventTime   string `json:"event_time"`
		EventDate   string `json:"event_date"`
		DeliveryDay string `json:"delivery_day"`
		SourceKey   string `json:"source_key"`
		RecordIndex int    `json:"record_index"`
	} `json:"copies"`
	Decoys []struct {
		EventID   string `json:"event_id"`
		SourceKey string `json:"source_key"`
	} `json:"decoys"`
}

func readManifest(t *testing.T, path string) *manifest {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(m.Copies) == 0 {
		t.Fatalf("%s lists no events", path)
	}
	return &m
}

// row identifies one written event: partition, id, source, name, time, file.
type row = string

func rowOf(date, id, source, name, key string) row {
	return strings.Join([]string{date, id, source, name, key}, " | ")
}

// expected computes, from the manifest alone, the rows a run over delivery days
// [from, to] must write: per delivery day, one copy per eventID (from the smallest source
// key, then the first record), every copy without an eventID, less the copies whose
// eventID the day before delivered in a file stamped 23:00 or later (or not stamped).
func (m *manifest) expected(from, to string) []row {
	type copy struct {
		key string
		idx int
		r   row
		id  string
	}
	stamp := regexp.MustCompile(`.*(\d{8}T\d{4}Z)`)
	tail := map[string]bool{} // day + eventID
	for _, c := range m.Copies {
		st := stamp.FindStringSubmatch(path.Base(c.SourceKey))
		if st == nil || st[1] >= strings.ReplaceAll(c.DeliveryDay, "-", "")+"T2300Z" {
			tail[c.DeliveryDay+c.EventID] = true
		}
	}
	byDay := map[string][]copy{}
	for _, c := range m.Copies {
		if c.DeliveryDay < from || c.DeliveryDay > to {
			continue
		}
		if d, _ := time.Parse(time.DateOnly, c.DeliveryDay); c.EventID != "" && tail[d.AddDate(0, 0, -1).Format(time.DateOnly)+c.EventID] {
			continue
		}
		id := c.EventID
		if id == "" {
			id = "NULL"
		}
		byDay[c.DeliveryDay] = append(byDay[c.DeliveryDay], copy{c.SourceKey, c.RecordIndex, rowOf(c.EventDate, id, c.EventSource, c.EventName, c.SourceKey), c.EventID})
	}
	var rows []row
	for _, copies := range byDay {
		sort.Slice(copies, func(i, j int) bool {
			if copies[i].key != copies[j].key {
				return copies[i].key < copies[j].key
			}
			return copies[i].idx < copies[j].idx
		})
		seen := map[string]bool{}
		for _, c := range copies {
			if c.id != "" {
				if seen[c.id] {
					continue
				}
				seen[c.id] = true
			}
			rows = append(rows, c.r)
		}
	}
	slices.Sort(rows)
	return rows
}

// written reads the events table under dir with DuckDB and returns its rows, plus the full
// content of every row (all columns) for comparing two outputs.
func written(t *testing.T, dir string) (rows []row, full []string) {
	t.Helper()
	db := duckcheck.Open(t)
	from := duckcheck.Table(dir, "events")
	for _, r := range duckcheck.Strings(t, db, `SELECT event_date::VARCHAR, coalesce(event_id, 'NULL'), event_source, event_name, source_key,
		strftime(event_time, '%Y-%m-%d') = event_date::VARCHAR FROM `+from) {
		if r[5] != "true" {
			t.Errorf("event %s is in partition %s, not its event_time's date", r[1], r[0])
		}
		rows = append(rows, rowOf(r[0], r[1], r[2], r[3], r[4]))
	}
	for _, r := range duckcheck.Strings(t, db, `SELECT to_json(t)::VARCHAR FROM (SELECT * EXCLUDE (filename) FROM `+from+`) t`) {
		full = append(full, r[0])
	}
	slices.Sort(rows)
	slices.Sort(full)
	return rows, full
}

// diff fails the test with the rows missing from got and the rows it should not have.
func diff(t *testing.T, what string, got, want []row) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	count := func(rs []row) map[row]int {
		m := map[row]int{}
		for _, r := range rs {
			m[r]++
		}
		return m
	}
	g, w := count(got), count(want)
	var missing, extra []string
	for r, n := range w {
		if g[r] < n {
			missing = append(missing, fmt.Sprintf("%s (×%d)", r, n-g[r]))
		}
	}
	for r, n := range g {
		if w[r] < n {
			extra = append(extra, fmt.Sprintf("%s (×%d)", r, n-w[r]))
		}
	}
	slices.Sort(missing)
	slices.Sort(extra)
	limit := func(s []string) []string { return s[:min(len(s), 10)] }
	t.Fatalf("%s: %d rows, want %d\nmissing %d: %s\nextra %d: %s", what, len(got), len(want),
		len(missing), strings.Join(limit(missing), "\n  "), len(extra), strings.Join(limit(extra), "\n  "))
}

func runReport(t *testing.T, r result) map[string]any {
	t.Helper()
	var rep map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("stdout is not the JSON summary: %v\n%s\nstderr:\n%s", err, r.stdout, r.stderr)
	}
	return rep
}

func totals(rep map[string]any) map[string]any { return rep["totals"].(map[string]any) }

const sampleTrail = "../../testdata/trail"

// sampleCopy copies the sample trail into a new folder and returns it and the folder of a log
// file delivered on the window's first day, for tests that add objects to the sample.
func sampleCopy(t *testing.T, m *manifest) (src, folder string) {
	t.Helper()
	src = t.TempDir()
	if err := os.CopyFS(src, os.DirFS(sampleTrail)); err != nil {
		t.Fatal(err)
	}
	for _, c := range m.Copies {
		if c.DeliveryDay == m.Window.From {
			return src, filepath.Dir(filepath.Join(src, filepath.FromSlash(c.SourceKey)))
		}
	}
	t.Fatal("the sample has no event delivered on its window's first day")
	return "", ""
}

const sampleManifest = "../../testdata/trail-manifest.json"

func TestSampleLocal(t *testing.T) {
	m := readManifest(t, sampleManifest)
	dest := t.TempDir()
	reportFile := filepath.Join(t.TempDir(), "report.json")
	args := []string{"run", "--source", sampleTrail, "--dest", dest, "--from", m.Window.From, "--to", m.Window.To, "--report", reportFile}
	r := marketrail(t, nil, args...)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	want := m.expected(m.Window.From, m.Window.To)
	got, full := written(t, dest)
	diff(t, "sample, local", got, want)

	// The printed summary and the --report file are the same document, and agree with the data.
	rep := runReport(t, r)
	fileRep, err := os.ReadFile(reportFile)
	if err != nil || string(fileRep) != r.stdout {
		t.Errorf("--report file differs from the printed summary (%v)", err)
	}
	if n := totals(rep)["rows_written"].(map[string]any)["events"].(float64); int(n) != len(want) {
		t.Errorf("report says %v event rows, want %d", n, len(want))
	}
	if rep["exit_code"].(float64) != 0 || rep["status"] != "ok" {
		t.Errorf("report status %v exit %v", rep["status"], rep["exit_code"])
	}
	var inWindow int
	for _, c := range m.Copies {
		if c.DeliveryDay >= m.Window.From && c.DeliveryDay <= m.Window.To {
			inWindow++
		}
	}
	dup, redelivered := totals(rep)["duplicates_dropped"].(float64), totals(rep)["redeliveries_dropped"].(float64)
	if int(dup+redelivered) != inWindow-len(want) || dup == 0 || redelivered == 0 {
		t.Errorf("report says %v duplicates and %v redeliveries dropped, want %d in all (each > 0: the sample holds both)", dup, redelivered, inWindow-len(want))
	}
	if skipped := totals(rep)["objects_skipped"].(map[string]any); len(skipped) == 0 {
		t.Errorf("the sample's non-log objects were not reported as skipped")
	}
	// Decoys (events that only mention Marketplace, or sit in digest/insight folders) never land.
	for _, d := range m.Decoys {
		for _, g := range got {
			if d.EventID != "" && strings.Contains(g, " | "+d.EventID+" | ") {
				t.Errorf("decoy %s (%s) was written", d.EventID, d.SourceKey)
			}
		}
	}

	// A second run of the same window leaves identical rows and the same files.
	filesBefore := parquetFiles(t, dest)
	r2 := marketrail(t, nil, args...)
	if r2.code != 0 {
		t.Fatalf("second run: exit %d\n%s", r2.code, r2.stderr)
	}
	_, full2 := written(t, dest)
	if !slices.Equal(full, full2) {
		t.Errorf("second run changed the rows")
	}
	if after := parquetFiles(t, dest); !slices.Equal(filesBefore, after) {
		t.Errorf("second run changed the files:\n%q\n%q", filesBefore, after)
	}

	// Different worker counts give identical rows.
	dest1 := t.TempDir()
	if r := marketrail(t, nil, "run", "--source", sampleTrail, "--dest", dest1, "--from", m.Window.From, "--to", m.Window.To, "--workers", "1"); r.code != 0 {
		t.Fatalf("--workers 1: exit %d\n%s", r.code, r.stderr)
	}
	if _, full1 := written(t, dest1); !slices.Equal(full, full1) {
		t.Errorf("--workers 1 wrote different rows")
	}
}

// parquetFiles lists the Parquet files below dir, relative to it.
func parquetFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".parquet") {
			rel, _ := filepath.Rel(dir, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return err
	})
	slices.Sort(files)
	return files
}

// upload copies the folder dir into bucket under prefix.
func upload(t *testing.T, c *s3.Client, dir, bucket, prefix string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(prefix + filepath.ToSlash(rel)), Body: f})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// download copies everything in bucket under prefix into a new folder and returns it.
func download(t *testing.T, c *s3.Client, bucket, prefix string) string {
	t.Helper()
	dir := t.TempDir()
	pages := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: &prefix})
	for pages.HasMorePages() {
		page, err := pages.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &bucket, Key: o.Key})
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(*o.Key, prefix)))
			os.MkdirAll(filepath.Dir(p), 0o755)
			b, err := io.ReadAll(out.Body)
			out.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(p, b, 0o644)
		}
	}
	return dir
}

// checkS3MatchesLocal runs the binary over trail from a local folder and from the S3 server,
// checks both against the manifest, and checks they wrote identical rows.
func checkS3MatchesLocal(t *testing.T, trail string, m *manifest) {
	c, srv := s3test.Client(t)
	bucket := s3test.Bucket(t, c)
	upload(t, c, trail, bucket, "logs/")
	from, to := m.Window.From, m.Window.To
	want := m.expected(from, to)

	local := t.TempDir()
	if r := marketrail(t, nil, "run", "--source", trail, "--dest", local, "--from", from, "--to", to); r.code != 0 {
		t.Fatalf("local run: exit %d\n%s", r.code, r.stderr)
	}
	gotLocal, fullLocal := written(t, local)
	diff(t, "local source", gotLocal, want)

	r := marketrail(t, srv.Env(), "run", "--source", "s3://"+bucket+"/logs", "--dest", "s3://"+bucket+"/lake", "--from", from, "--to", to,
		"--report", "s3://"+bucket+"/reports/run.json")
	if r.code != 0 {
		t.Fatalf("S3 run: exit %d\n%s", r.code, r.stderr)
	}
	lake := download(t, c, bucket, "lake/")
	gotS3, fullS3 := written(t, lake)
	diff(t, "S3 source", gotS3, want)
	if !slices.Equal(fullLocal, fullS3) {
		t.Errorf("the S3 run wrote different rows from the local run")
	}
	if files := parquetFiles(t, lake); !slices.Equal(files, parquetFiles(t, local)) {
		t.Errorf("the S3 run wrote different files from the local run")
	}
	rep := download(t, c, bucket, "reports/")
	if b, err := os.ReadFile(filepath.Join(rep, "run.json")); err != nil || string(b) != r.stdout {
		t.Errorf("--report s3://… was not written as printed (%v)", err)
	}
}

func TestSampleS3(t *testing.T) {
	checkS3MatchesLocal(t, sampleTrail, readManifest(t, sampleManifest))
}

func TestUsageAndHelp(t *testing.T) {
	r := marketrail(t, nil, "run", "--help")
	for _, want := range []string{"--source", "--dest", "--from", "--endpoint-url", "--report", "--lookback", "--force", "--dry-run", "--shards", "JOB_COMPLETION_INDEX", "Exit status", "143"} {
		if r.code != 0 || !strings.Contains(r.stdout, want) {
			t.Errorf("run --help (exit %d) does not explain %q", r.code, want)
		}
	}
	for _, args := range [][]string{
		{"run"},
		{"run", "--source", "x"},
		{"run", "--source", "x", "--dest", "y", "--from", "2024-13-01"},
		{"run", "--source", "x", "--dest", "y", "--from", "2024-03-02", "--to", "2024-03-01"},
		{"run", "--source", "x", "--dest", "y", "--accounts", "12345"},
		{"run", "--source", "x", "--dest", "y", "--bogus"},
		{"run", "--source", "x", "--dest", "y", "--shard", "3/3"},
		{"run", "--source", "x", "--dest", "y", "--shard", "1/2", "--shards", "2"},
		{"run", "--source", "x", "--dest", "y", "--shards", "2"}, // no JOB_COMPLETION_INDEX
		{"run", "--source", "x", "--dest", "y", "--lookback", "-1"},
		{"run", "--source", "x", "--dest", "x"},
		{"ddl", "--location", "/tmp/lake"},
		{"frobnicate"},
	} {
		if r := marketrail(t, nil, args...); r.code != 2 || r.stderr == "" {
			t.Errorf("%q: exit %d, stderr %q; want 2 and a message", args, r.code, r.stderr)
		}
	}
	if r := marketrail(t, nil, "version"); r.code != 0 || strings.TrimSpace(r.stdout) != "marketrail v0.0.0-e2e" {
		t.Errorf("version: %d %q", r.code, r.stdout)
	}
}

func TestFatalIsOneClearLine(t *testing.T) {
	// A source folder that does not exist: no trail found (exit 5).
	r := marketrail(t, nil, "run", "--source", filepath.Join(t.TempDir(), "missing"), "--dest", t.TempDir(), "--from", "2024-03-01", "--to", "2024-03-01")
	if r.code != 5 || !strings.Contains(r.stderr, "marketrail: no trail found: the --source folder ") {
		t.Errorf("missing source: exit %d, stderr %q", r.code, r.stderr)
	}
	// A destination that holds someone else's data is refused, and left alone.
	dest := t.TempDir()
	os.WriteFile(filepath.Join(dest, "precious.csv"), []byte("x"), 0o644)
	r = marketrail(t, nil, "run", "--source", sampleTrail, "--dest", dest, "--from", "2024-03-01", "--to", "2024-03-01")
	if r.code != 1 || !strings.Contains(r.stderr, "no marketrail marker") {
		t.Errorf("foreign destination: exit %d, stderr %q", r.code, r.stderr)
	}
	if ents, _ := os.ReadDir(dest); len(ents) != 1 {
		t.Errorf("foreign destination was written to")
	}
	// S3: a bucket that does not exist.
	_, srv := s3test.Client(t)
	r = marketrail(t, srv.Env(), "run", "--source", "s3://no-such-bucket-marketrail", "--dest", t.TempDir(), "--from", "2024-03-01", "--to", "2024-03-01")
	if r.code != 1 || !strings.Contains(r.stderr, "no such bucket") {
		t.Errorf("missing bucket: exit %d, stderr %q", r.code, r.stderr)
	}
	// S3: wrong credentials.
	env := append(srv.Env(), "AWS_SECRET_ACCESS_KEY=wrong")
	r = marketrail(t, env, "run", "--source", "s3://whatever", "--dest", t.TempDir(), "--from", "2024-03-01", "--to", "2024-03-01")
	if r.code != 1 || !strings.Contains(r.stderr, "marketrail: S3 refused the AWS credentials (SignatureDoesNotMatch)") {
		t.Errorf("bad credentials: exit %d, stderr %q", r.code, r.stderr)
	}
	var lines int
	for _, l := range strings.Split(r.stderr, "\n") {
		if strings.HasPrefix(l, "marketrail: ") {
			lines++
		}
	}
	if lines != 1 {
		t.Errorf("want exactly one error line, got:\n%s", r.stderr)
	}
}

// TestBinaryHasNoDuckDB: DuckDB is a test-only dependency.
func TestBinaryHasNoDuckDB(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "duckdb") {
		t.Errorf("cmd/marketrail depends on DuckDB")
	}
	if !strings.Contains(string(out), "github.com/parquet-go/parquet-go") {
		t.Errorf("go list -deps looks wrong:\n%s", out)
	}
}

// TestStaticBuild: the run path has no cgo, so the container's CGO_ENABLED=0 build works
// and stamps the version as the Dockerfile does.
func TestStaticBuild(t *testing.T) {
	out := filepath.Join(t.TempDir(), "marketrail")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version=v9.9.9-static", "-o", out, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 build: %v\n%s", err, b)
	}
	v, err := exec.Command(out, "version").Output()
	if err != nil || strings.TrimSpace(string(v)) != "marketrail v9.9.9-static" {
		t.Errorf("version: %q %v", v, err)
	}
}
