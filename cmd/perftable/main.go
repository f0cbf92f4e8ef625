// Command perftable measures marketrail against its baselines on this machine and prints the
// table of docs/performance.md. Every measurement runs as its own process (pinned to cores
// with taskset where the core count matters), the measurements are interleaved round by
// round, and the table shows medians, so a slow moment of the machine hits every contender
// alike.
//
//	go run ./cmd/perftable              # the full measurement (a few minutes)
//	go run ./cmd/perftable -quick       # tiny archives, one round: checks the harness works
//	go run ./cmd/perftable -only latency     # the latency regime alone
//	go run ./cmd/perftable -only memory      # peak RSS at default settings on every archive
//	go run ./cmd/perftable -only follow      # follow's lag and batch cost (~10 min; not in the full run)
//	go run ./cmd/perftable -only escaped     # the escaped archive alone, no S3
//	go run ./cmd/perftable -only local       # the large and the escaped archives, no S3
//	go run ./cmd/perftable -only iceberg     # --table-format iceberg against hive per delivery day
//	go run ./cmd/perftable -only hive-build  # the Hive path, standard build against -tags noiceberg
//	go run ./cmd/perftable sizes -lake DIR   # a lake's Parquet bytes per table and column
//
// It generates its archives with the repository's generator (internal/gentrail), cached in
// -work, and uses the S3 server of scripts/test.sh when MARKETRAIL_TEST_S3_ENDPOINT is set,
// else starts versitygw itself (installing it with go install the first time), on
// 127.0.0.1. DuckDB, the peer, comes from the tests' dependency (duckdb-go); it is linked
// into this command only, never into marketrail.
//
// Contenders:
//   - zcat|grep: `for f in FILES; do zcat $f; echo; done | grep -c marketplace`, one core.
//     CloudTrail files are one line each with no final newline; GNU grep over the plain
//     `zcat FILES |` concatenation, one line of hundreds of MB, is quadratic, so each file
//     is given its own line.
//   - marketrail run on a local folder, GOMAXPROCS=1 on one core, and on both cores.
//   - DuckDB: read_json of the same .json.gz files with Records declared as a STRUCT of the
//     job's fields, unnest Records, filter on eventSource, COPY … (FORMAT parquet,
//     PARTITION_BY event_date), with 1 and 2 threads on as many cores. Its event ids, and
//     marketrail's, are checked against the archive's and each other's after every run.
//   - the plain inflate (cmd/perftable/inflate): the same files inflated and discarded, one
//     file per core, GOMAXPROCS=1 on one core and 2 on both; its 2-core/1-core ratio is what
//     the machine allows, and marketrail's is held to 95 % of it.
//   - the same on the escaped archive (not with -quick): large files whose JSON is
//     about 10 % backslashes, policy documents and templates logged as JSON text.
//   - for many tiny objects on the S3 server: the fetch-only floor (list, then GetObject and
//     discard every log file through aws-sdk-go-v2, with marketrail's concurrency) and
//     marketrail run against the bucket, at several worker counts.
//   - the latency regime (not with -quick): the same bucket behind a faultproxy that holds
//     every request 20 ms, as S3 answers from inside a region; the fetch floor at 64, 128 and
//     256 requests in flight (the best is the floor) and marketrail with default settings.
//   - memory: marketrail's peak RSS at default settings on every archive, and on one more
//     (busyConfig): a single delivery day of about 100,000 Marketplace events.
//   - follow (-only follow alone, never in the full run: it takes minutes of wall time at
//     the default --interval of 1m): marketrail follow at default settings on a quiet day
//     and on the busy day, each published first by a run, with goaws (scripts/goaws.sh)
//     as the queue; the lag from a new log file's notification to its day's manifest
//     listing it (-runs new files per day, 4 by default), each batch's time and S3 requests.
//   - iceberg (also -only iceberg; under a minute): marketrail run --table-format hive and
//     iceberg on a week's archive into a fresh local folder (the default SQLite catalog) and
//     a fresh prefix of the S3 server (through a proxy that counts requests; a SQLite catalog
//     file), then again with nothing changed: time per delivery day, iceberg's extra time
//     per day, metadata bytes per day, snapshots per table (one per day; none from the run
//     again).
//   - hive-build (-only hive-build alone; about 12 s a round, after a second build): the Hive path of marketrail
//     built as is against the same tree built with -tags noiceberg (without iceberg-go,
//     whose packages cost every process ~100 ms and ~45 MB at start-up), alternately in each
//     round: on the large archive on both cores, on the tiny objects from the S3 server at
//     default settings, and `marketrail version` started 20 times; and the binaries' sizes.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// options are perftable's flags.
type options struct {
	work    string
	runs    int
	quick   bool
	workers int
	sweep   string
	plot    string
	only    string
	runsSet bool // -runs was given (-only follow's samples default to followSamples otherwise)
	out     io.Writer
}

func main() {
	if code, ok := subcommand(os.Args[1:]); ok {
		os.Exit(code)
	}
	var o options
	fs := flag.NewFlagSet("perftable", flag.ExitOnError)
	fs.StringVar(&o.work, "work", filepath.Join(os.TempDir(), "marketrail-perf"), "folder for the archives (kept between runs) and scratch output")
	fs.IntVar(&o.runs, "runs", 5, "rounds of the interleaved measurements; the table shows medians (-only follow: new log files per day, default 4)")
	fs.BoolVar(&o.quick, "quick", false, "tiny archives and one round: checks that the harness works, measures nothing useful")
	fs.IntVar(&o.workers, "workers", 32, "requests in flight for the tiny-object comparison (marketrail --requests and the fetch floor's concurrency)")
	fs.StringVar(&o.sweep, "sweep", "1,2,4,8,32,128", "requests in flight (marketrail --requests, the floor's concurrency) of the S3 scaling table")
	fs.StringVar(&o.plot, "plot", "", "also draw the S3 scaling table as a PNG to this file")
	fs.StringVar(&o.only, "only", "", "measure only this part: latency (the latency regime, issue 12), memory (peak RSS at default settings on every archive, issue 12), large or escaped (an archive of large files and its targets), local (both), follow (marketrail follow's lag from notification to published rows and its batches' cost at the default --interval, issue 13; about 10 minutes, so never part of the full run), iceberg (--table-format iceberg's cost per delivery day against hive, local and on the S3 server), hive-build (the Hive path and start-up of the standard build against -tags noiceberg, which leaves iceberg-go out)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: go run ./cmd/perftable [flags]\n\nMeasures marketrail against zcat|grep, DuckDB and the S3 fetch floor; prints a markdown table.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.Parse(os.Args[1:])
	fs.Visit(func(f *flag.Flag) { o.runsSet = o.runsSet || f.Name == "runs" })
	o.out = os.Stdout
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "perftable:", err)
		os.Exit(1)
	}
}

// subcommand runs the jobs perftable starts as its own child processes (the DuckDB peer
// and the fetch floor), and the sizes report, when args name one.
func subcommand(args []string) (int, bool) {
	if len(args) > 0 {
		switch args[0] {
		case "duckdb-job":
			return duckdbJob(args[1:]), true
		case "fetch-job":
			return fetchJob(args[1:]), true
		case "sizes":
			return sizesJob(args[1:]), true
		}
	}
	return 0, false
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "perftable: "+format+"\n", args...)
}

func run(ctx context.Context, o options) error {
	if o.quick {
		o.runs = 1
		o.sweep = "1,8"
	}
	sweep, err := parseInts(o.sweep)
	if err != nil {
		return fmt.Errorf("-sweep: %w", err)
	}
	switch {
	case o.only != "" && o.quick:
		return fmt.Errorf("-only %s: -quick runs everything, once, on tiny archives", o.only)
	case o.only == "latency":
		return runLatency(ctx, o)
	case o.only == "memory":
		return runMemory(ctx, o)
	case o.only == "follow":
		return runFollow(ctx, o)
	case o.only == "iceberg":
		return runIceberg(ctx, o)
	case o.only == "hive-build":
		return runHiveBuild(ctx, o)
	case o.only != "" && o.only != "large" && o.only != "escaped" && o.only != "local":
		return fmt.Errorf("-only %q: the parts that run alone are latency, memory, follow, iceberg, hive-build, large, escaped and local (large and escaped)", o.only)
	}
	s, err := newSuite(ctx, o.work)
	if err != nil {
		return err
	}
	cores := runtime.NumCPU()
	both := "0"
	if cores > 1 {
		both = "0,1"
	}
	var locals []*localResult
	if o.only != "escaped" {
		large, err := archive(largeConfig(o.quick), filepath.Join(o.work, "large"+suffix(o.quick)))
		if err != nil {
			return err
		}
		locals = append(locals, &localResult{heading: "**Large log files, local folder**", a: large, runs: s.localContenders(large, both), zcatMin: 1.7, rss: true})
	}
	// The escaped archive is measured in the full run only: -quick (the test suite's run)
	// checks the harness, and the large archive's contenders already do that.
	if !o.quick && o.only != "large" {
		escaped, err := archive(escapedConfig(o.quick), filepath.Join(o.work, "escaped"))
		if err != nil {
			return err
		}
		locals = append(locals, &localResult{heading: "**Large log files with escaped text, local folder** (policy documents and templates as JSON text)",
			a: escaped, runs: s.localContenders(escaped, both), prefix: "escaped text, ", zcatMin: 2.0})
	}
	var tiny *trailArchive
	var tinyRuns []*contender
	var bucket string
	if o.only == "" {
		var srv *server
		if tiny, srv, bucket, err = servedTiny(ctx, o.work, o.quick); err != nil {
			return err
		}
		defer srv.stop()
		s.srv = srv
		tinyRuns = []*contender{
			{name: "SDK fetch only (floor)", cores: 2, workers: o.workers, run: func(ctx context.Context) (sample, error) { return s.fetch(ctx, tiny, bucket, o.workers) }},
			{name: "marketrail", cores: 2, workers: o.workers, run: func(ctx context.Context) (sample, error) { return s.marketrailS3(ctx, tiny, bucket, o.workers) }},
			{name: "marketrail, default settings", cores: 2, workers: 0, run: func(ctx context.Context) (sample, error) { return s.marketrailS3(ctx, tiny, bucket, 0) }},
		}
	}
	// The memory table (full run): marketrail at default settings on every archive,
	// runs of the tables above where there is one, and a busy day's.
	var memory []*memoryRow
	if o.only == "" {
		busy, err := archive(busyConfig(o.quick), filepath.Join(o.work, "busy"+suffix(o.quick)))
		if err != nil {
			return err
		}
		for _, l := range locals {
			name := "large files, local folder"
			if l.prefix != "" {
				name = "escaped text, local folder"
			}
			memory = append(memory, &memoryRow{name, l.a, l.runs[2]})
		}
		memory = append(memory, &memoryRow{"many tiny objects, S3 server", tiny, tinyRuns[2]},
			&memoryRow{"one busy delivery day, local folder", busy, s.defaultLocal(busy, both)})
	}
	var all []*contender
	for _, l := range locals {
		all = append(all, l.runs...)
	}
	all = append(all, tinyRuns...)
	if memory != nil {
		all = append(all, memory[len(memory)-1].run) // the busy day's: only in the memory table
	}
	for r := range o.runs {
		for _, c := range all {
			logf("round %d/%d: %s", r+1, o.runs, c.label())
			smp, err := c.run(ctx)
			if err != nil {
				return fmt.Errorf("%s: %w", c.label(), err)
			}
			c.samples = append(c.samples, smp)
		}
	}
	command := "go run ./cmd/perftable"
	if o.only != "" {
		command += " -only " + o.only
		report(o.out, command, machine(), locals, nil, nil, nil, o)
		return nil
	}
	var scaling []*scalePoint
	sweepRuns := min(o.runs, 3)
	for _, w := range sweep {
		p := &scalePoint{workers: w}
		scaling = append(scaling, p)
		for r := range sweepRuns {
			logf("workers sweep %d/%d: %d workers", r+1, sweepRuns, w)
			f, err := s.fetch(ctx, tiny, bucket, w)
			if err != nil {
				return err
			}
			m, err := s.marketrailS3(ctx, tiny, bucket, w)
			if err != nil {
				return err
			}
			p.fetch = append(p.fetch, f)
			p.marketrail = append(p.marketrail, m)
		}
	}
	// The latency regime runs in the full measurement only: -quick is the test suite's run.
	var latency *latencyResult
	if !o.quick {
		if latency, err = s.latencyRegime(ctx, tiny, bucket, min(o.runs, 3)); err != nil {
			return err
		}
	}
	// The Iceberg table takes seconds a round, so it is part of the full run, and -quick
	// (the test suite's run) checks its harness too.
	ice, err := archive(icebergConfig(o.quick), filepath.Join(o.work, "iceberg"+suffix(o.quick)))
	if err != nil {
		return err
	}
	iceRows, err := s.icebergRegime(ctx, ice, o.runs)
	if err != nil {
		return err
	}
	report(o.out, command, machine(), locals, tiny, tinyRuns, scaling, o)
	if memory != nil {
		reportMemory(o.out, memory, o.runs)
	}
	if latency != nil {
		reportLatency(o.out, tiny, latency)
	}
	reportIceberg(o.out, ice, windowDays(ice), o.runs, iceRows)
	if o.plot != "" {
		if err := plotScaling(o.plot, tiny, scaling); err != nil {
			return fmt.Errorf("plot: %w", err)
		}
		logf("wrote %s", o.plot)
	}
	return nil
}

// runLatency measures the latency regime alone (-only latency).
func runLatency(ctx context.Context, o options) error {
	s, err := newSuite(ctx, o.work)
	if err != nil {
		return err
	}
	tiny, srv, bucket, err := servedTiny(ctx, o.work, false)
	if err != nil {
		return err
	}
	defer srv.stop()
	s.srv = srv
	latency, err := s.latencyRegime(ctx, tiny, bucket, min(o.runs, 3))
	if err != nil {
		return err
	}
	fmt.Fprintf(o.out, "Measured by `go run ./cmd/perftable -only latency` on %s.\n", machine())
	reportLatency(o.out, tiny, latency)
	return nil
}

// newSuite builds, into work, the programs the measurements run — the marketrail binary,
// the peak-RSS wrapper and the plain inflate — and returns a suite that runs them (its S3
// server not yet set).
func newSuite(ctx context.Context, work string) (*suite, error) {
	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, err
	}
	s := &suite{work: work}
	for _, b := range []struct {
		bin *string
		pkg string
	}{{&s.bin, "./cmd/marketrail"}, {&s.rsswrap, "./cmd/perftable/rsswrap"}, {&s.inflate, "./cmd/perftable/inflate"}} {
		var err error
		if *b.bin, err = build(ctx, work, b.pkg); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// servedTiny makes the archive of tiny objects and uploads it to a new local S3 server,
// returning the archive, the server (the caller stops it) and the bucket.
func servedTiny(ctx context.Context, work string, quick bool) (*trailArchive, *server, string, error) {
	tiny, err := archive(tinyConfig(quick), filepath.Join(work, "tiny"+suffix(quick)))
	if err != nil {
		return nil, nil, "", err
	}
	srv, err := s3Server(ctx, work)
	if err != nil {
		return nil, nil, "", err
	}
	bucket, err := srv.upload(ctx, tiny.dir)
	if err != nil {
		srv.stop()
		return nil, nil, "", err
	}
	return tiny, srv, bucket, nil
}

// localContenders are the runs on an archive of large files in a local folder: zcat|grep,
// marketrail on 1 and 2 cores, DuckDB with 1 and 2 threads, and the plain inflate on 1 and
// 2 cores, in that order (report's zcatGrep … inflate2).
func (s *suite) localContenders(a *trailArchive, both string) []*contender {
	return []*contender{
		{name: "zcat \\| grep -c marketplace", cores: 1, run: func(ctx context.Context) (sample, error) { return s.zcatGrep(ctx, a) }},
		{name: "marketrail", cores: 1, run: func(ctx context.Context) (sample, error) { return s.marketrailLocal(ctx, a, "0", 1) }},
		{name: "marketrail", cores: 2, run: func(ctx context.Context) (sample, error) { return s.marketrailLocal(ctx, a, both, 2) }},
		{name: "DuckDB", cores: 1, run: func(ctx context.Context) (sample, error) { return s.duckdb(ctx, a, "0", 1) }},
		{name: "DuckDB", cores: 2, run: func(ctx context.Context) (sample, error) { return s.duckdb(ctx, a, both, 2) }},
		{name: "gzip inflate only (klauspost, 1 file per core)", cores: 1, run: func(ctx context.Context) (sample, error) { return s.inflateOnly(ctx, a, "0", 1) }},
		{name: "gzip inflate only (klauspost, 1 file per core)", cores: 2, run: func(ctx context.Context) (sample, error) { return s.inflateOnly(ctx, a, both, 2) }},
	}
}

func suffix(quick bool) string {
	if quick {
		return "-quick"
	}
	return ""
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		var n int
		if _, err := fmt.Sscan(strings.TrimSpace(f), &n); err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// machine describes the computer the table was measured on.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	var mem string
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		fmt.Sscanf(strings.SplitN(string(b), "\n", 2)[0], "MemTotal: %d kB", &kb)
		mem = fmt.Sprintf(", %.0f GiB", float64(kb)/(1<<20))
	}
	return fmt.Sprintf("%d cores (%s)%s, %s %s/%s, %s", runtime.NumCPU(), model, mem, runtime.Version(), runtime.GOOS, runtime.GOARCH, time.Now().UTC().Format("2006-01-02"))
}
