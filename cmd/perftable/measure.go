package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// sample is one measured run.
type sample struct {
	wall   time.Duration
	maxRSS int64         // bytes; 0 when not measured
	cpu    time.Duration // user and system time of the command and the children it waited for
	// others is the CPU time the S3 server and perftable itself (the latency regime's
	// proxy) spent during the run; 0 when not measured.
	others time.Duration
}

// contender is one line of the table and its samples.
type contender struct {
	name    string
	cores   int
	workers int // for the S3 runs; 0 means marketrail's default
	run     func(context.Context) (sample, error)
	samples []sample
}

func (c *contender) label() string {
	l := fmt.Sprintf("%s, %d core", c.name, c.cores)
	if c.cores > 1 {
		l += "s"
	}
	return l
}

// median returns the median wall time and the largest peak RSS of samples.
func median(samples []sample) (time.Duration, int64) {
	if len(samples) == 0 {
		return 0, 0
	}
	walls := make([]time.Duration, len(samples))
	var rss int64
	for i, s := range samples {
		walls[i] = s.wall
		rss = max(rss, s.maxRSS)
	}
	slices.Sort(walls)
	n := len(walls)
	if n%2 == 1 {
		return walls[n/2], rss
	}
	return (walls[n/2-1] + walls[n/2]) / 2, rss
}

// suite runs the contenders.
type suite struct {
	bin     string // the marketrail binary
	rsswrap string // the rsswrap binary
	inflate string // the inflate binary
	work    string
	srv     *server
	// destBucket, when set, is a bucket of the S3 server that marketrail's runs write
	// their lakes to (a new prefix each run), as a production run writes to S3, instead of
	// a local folder.
	destBucket string
	runs       int // marketrail runs so far, naming their destinations
	// mrIDs are the event ids the last marketrail run on a local archive wrote, which
	// DuckDB's runs on the same archive must match.
	mrIDs map[*trailArchive][]string
}

// rssPrefix and cpuPrefix start the lines rsswrap writes last on standard error.
const (
	rssPrefix = "rsswrap-maxrss-kb:"
	cpuPrefix = "rsswrap-cpu-us:"
)

// medianCPU returns the median CPU time of samples.
func medianCPU(samples []sample) time.Duration {
	cpu := make([]sample, len(samples))
	for i, s := range samples {
		cpu[i].wall = s.cpu
	}
	t, _ := median(cpu)
	return t
}

// child runs a command, pinned to cpus with taskset when cpus is set, and measures its wall
// time and (through rsswrap) its CPU time and peak RSS. stdout is returned for the caller's checks.
func (s *suite) child(ctx context.Context, env []string, cpus string, argv ...string) (sample, []byte, error) {
	if cpus != "" {
		argv = append([]string{"taskset", "-c", cpus}, argv...)
	}
	argv = append([]string{s.rsswrap}, argv...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	began := time.Now()
	err := cmd.Run()
	wall := time.Since(began)
	if err != nil {
		return sample{}, nil, fmt.Errorf("%s: %v\n%s", strings.Join(argv, " "), err, tail(errb.String(), 2000))
	}
	var rss int64
	if i := strings.LastIndex(errb.String(), rssPrefix); i >= 0 {
		fmt.Sscan(errb.String()[i+len(rssPrefix):], &rss)
		rss *= 1024 // Linux reports kilobytes
	}
	var cpuUS int64
	if i := strings.LastIndex(errb.String(), cpuPrefix); i >= 0 {
		fmt.Sscan(errb.String()[i+len(cpuPrefix):], &cpuUS)
	}
	return sample{wall: wall, maxRSS: rss, cpu: time.Duration(cpuUS) * time.Microsecond}, out.Bytes(), nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// zcatGrep is the baseline: gzip's zcat and grep in one pipeline on one core.
func (s *suite) zcatGrep(ctx context.Context, a *trailArchive) (sample, error) {
	script := `for f in "$@"; do zcat "$f"; echo; done | grep -c marketplace`
	smp, out, err := s.child(ctx, []string{"LC_ALL=C"}, "0", append([]string{"sh", "-c", script, "sh"}, a.logFiles...)...)
	if err != nil {
		return smp, err
	}
	if n, _ := strconv.Atoi(strings.TrimSpace(string(out))); n != len(a.logFiles) {
		return smp, fmt.Errorf("zcat|grep counted %s lines with marketplace, want one per file (%d)", out, len(a.logFiles))
	}
	smp.maxRSS = 0 // the shell's, not the pipeline's
	return smp, nil
}

// runSummary is what the checks read of marketrail's run summary.
type runSummary struct {
	ExitCode int `json:"exit_code"`
	Totals   struct {
		LogFilesRead      int64            `json:"log_files_read"`
		BytesDecompressed int64            `json:"bytes_decompressed"`
		EventsMatched     int64            `json:"events_matched"`
		RowsWritten       map[string]int64 `json:"rows_written"`
	} `json:"totals"`
}

// marketrail runs marketrail into a fresh destination and checks it read the whole archive.
func (s *suite) marketrail(ctx context.Context, a *trailArchive, env []string, cpus, source string, extra ...string) (sample, error) {
	dest, err := os.MkdirTemp(s.work, "out-")
	if err != nil {
		return sample{}, err
	}
	defer os.RemoveAll(dest)
	if s.destBucket != "" {
		s.runs++
		dest = fmt.Sprintf("s3://%s/lake-%d", s.destBucket, s.runs)
	}
	args := append([]string{s.bin, "run", "--source", source, "--dest", dest, "--from", a.from, "--to", a.to,
		"--progress", "off", "--log-format", "json"}, extra...)
	smp, out, err := s.child(ctx, env, cpus, args...)
	if err != nil {
		return smp, err
	}
	var sum runSummary
	if err := json.Unmarshal(out, &sum); err != nil {
		return smp, fmt.Errorf("marketrail's summary: %v", err)
	}
	if sum.ExitCode != 0 || sum.Totals.LogFilesRead != int64(len(a.logFiles)) || sum.Totals.EventsMatched != int64(a.copies) {
		return smp, fmt.Errorf("marketrail read %d of %d log files and matched %d of %d events (exit %d)",
			sum.Totals.LogFilesRead, len(a.logFiles), sum.Totals.EventsMatched, a.copies, sum.ExitCode)
	}
	if source == a.dir {
		ids, err := parquetIDs(filepath.Join(dest, "events", "*", "*.parquet"))
		if err != nil {
			return smp, err
		}
		if err := sameIDs(ids, a.eventIDs); err != nil {
			return smp, fmt.Errorf("marketrail's events table against the archive's Marketplace records: %w", err)
		}
		if s.mrIDs == nil {
			s.mrIDs = map[*trailArchive][]string{}
		}
		s.mrIDs[a] = ids
	}
	return smp, nil
}

func (s *suite) marketrailLocal(ctx context.Context, a *trailArchive, cpus string, procs int) (sample, error) {
	return s.marketrail(ctx, a, []string{"GOMAXPROCS=" + strconv.Itoa(procs)}, cpus, a.dir)
}

func (s *suite) marketrailS3(ctx context.Context, a *trailArchive, bucket string, workers int) (sample, error) {
	var extra []string
	if workers > 0 { // the floor's requests in flight: marketrail's --requests
		extra = []string{"--requests", strconv.Itoa(workers)}
	}
	return s.marketrail(ctx, a, s.srv.env(), "", "s3://"+bucket, extra...)
}

// duckdb runs the DuckDB job in a child process of this command.
func (s *suite) duckdb(ctx context.Context, a *trailArchive, cpus string, threads int) (sample, error) {
	dest, err := os.MkdirTemp(s.work, "duck-")
	if err != nil {
		return sample{}, err
	}
	defer os.RemoveAll(dest)
	self, err := os.Executable()
	if err != nil {
		return sample{}, err
	}
	list := filepath.Join(s.work, "duck-files.txt")
	if err := os.WriteFile(list, []byte(strings.Join(a.logFiles, "\n")), 0o644); err != nil {
		return sample{}, err
	}
	smp, out, err := s.child(ctx, nil, cpus, self, "duckdb-job", "-threads", strconv.Itoa(threads), "-files", list, "-dest", filepath.Join(dest, "events"))
	if err != nil {
		return smp, err
	}
	if n, _ := strconv.Atoi(strings.TrimSpace(string(out))); n != a.copies {
		return smp, fmt.Errorf("DuckDB wrote %s rows, want %d", out, a.copies)
	}
	ids, err := parquetIDs(filepath.Join(dest, "events", "*", "*.parquet"))
	if err != nil {
		return smp, err
	}
	if err := sameIDs(ids, a.eventIDs); err != nil {
		return smp, fmt.Errorf("DuckDB's output against the archive's Marketplace records: %w", err)
	}
	if mr, ok := s.mrIDs[a]; ok {
		if err := sameIDs(ids, mr); err != nil {
			return smp, fmt.Errorf("DuckDB's output against marketrail's events table: %w", err)
		}
	}
	return smp, nil
}

// inflateOnly runs the plain parallel inflate of the archive's files (cmd/perftable/inflate)
// with GOMAXPROCS procs on cpus, and checks it inflated all of their JSON.
func (s *suite) inflateOnly(ctx context.Context, a *trailArchive, cpus string, procs int) (sample, error) {
	list := filepath.Join(s.work, "inflate-files.txt")
	if err := os.WriteFile(list, []byte(strings.Join(a.logFiles, "\n")), 0o644); err != nil {
		return sample{}, err
	}
	smp, out, err := s.child(ctx, []string{"GOMAXPROCS=" + strconv.Itoa(procs)}, cpus, s.inflate, list)
	if err != nil {
		return smp, err
	}
	if n, _ := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); n != a.jsonBytes {
		return smp, fmt.Errorf("the inflate inflated %s bytes, want %d", out, a.jsonBytes)
	}
	return smp, nil
}

// fetch runs the fetch-only floor in a child process of this command.
func (s *suite) fetch(ctx context.Context, a *trailArchive, bucket string, workers int) (sample, error) {
	self, err := os.Executable()
	if err != nil {
		return sample{}, err
	}
	smp, out, err := s.child(ctx, s.srv.env(), "", self, "fetch-job", "-bucket", bucket, "-workers", strconv.Itoa(workers))
	if err != nil {
		return smp, err
	}
	if n, _ := strconv.Atoi(strings.TrimSpace(string(out))); n != len(a.logFiles) {
		return smp, fmt.Errorf("the fetch floor read %s log files, want %d", out, len(a.logFiles))
	}
	return smp, nil
}

// scalePoint is one worker count of the S3 sweep.
type scalePoint struct {
	workers           int
	fetch, marketrail []sample
}
