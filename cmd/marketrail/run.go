package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"
	"time"

	"github.com/marketrail/marketrail/pkg/digest"
	"github.com/marketrail/marketrail/pkg/pipeline"
	"github.com/marketrail/marketrail/pkg/report"
	"github.com/marketrail/marketrail/pkg/source"
	"github.com/marketrail/marketrail/pkg/storage"
	"github.com/marketrail/marketrail/pkg/trail"
)

const runUsage = `Usage: marketrail run --source SRC --dest DEST [flags]

Reads the CloudTrail log files delivered on the days of the window, keeps the AWS
Marketplace events (an eventSource that contains "marketplace" and ends in
".amazonaws.com") and writes them as Hive-partitioned Parquet for Athena:

  DEST/events/event_date=YYYY-MM-DD/DELIVERYDAY.parquet

SRC is s3://BUCKET[/PREFIX] or a folder (as 'aws s3 sync' leaves a bucket) holding
AWSLogs/; DEST is s3://BUCKET/PREFIX or a folder. The window selects delivery-day
folders; each event goes to the partition of its own eventTime (UTC date). Re-running a
window replaces exactly the files its days wrote before.

Flags:
%s
AWS configuration is the standard one: AWS_PROFILE (or --profile), AWS_REGION (or
--region), the SDK's credential chain (environment, SSO, web identity, ECS/EC2 roles),
and AWS_ENDPOINT_URL_S3 (or --endpoint-url; a custom endpoint uses path-style
addressing).

Bucket security: --source-bucket-owner and --dest-bucket-owner send the expected owner
account with every request to that bucket (a --report in the destination's bucket too):
if another account owns the bucket (renamed, deleted and re-created by someone else), S3
refuses the request and the run stops with exit 1 before reading or writing anything.
--sse AES256 or --sse aws:kms [--sse-kms-key-id KEY] encrypts every object marketrail
writes to S3 (Parquet files, manifests, the marker, an s3:// --report) that way.

Output: which stream carries what.
  standard output  the run summary as JSON (see docs/report.md) when standard output is
                   not a terminal (a pipe, a file, a container's log) or with --report -;
                   a terminal gets no JSON unless --report - asks for it
  standard error   logs (text on a terminal, JSON lines otherwise); on a terminal, the
                   progress line (--progress) and, at the end, a short summary for a
                   person: how the run ended, its window, days written / unchanged /
                   failed, objects read and failed (the first few named), events, rows
                   per table, quarantined records, elapsed time (on standard output
                   instead when only that is a terminal)
  --report FILE|s3://BUCKET/KEY   the JSON summary, also written there

Runs are idempotent and resumable: each delivery day is recorded in DEST/_marketrail/
when written, with its log files, the previous day's tail files (23:00Z on: events
CloudTrail delivers again after midnight are kept once, from the earlier day) and the
settings that shape its output; a later run skips days that are complete and unchanged
in all of these (--force runs them again), and the summary gives each day's reason.
Each day is written under a lease in DEST/_marketrail/leases/ that no two runs can hold
at once, so overlapping runs (a backfill beside the nightly job, a schedule fired twice)
take turns on the days they share; a day another run holds for longer than about a
minute is reported "held" (exit 3). A destination that does not enforce conditional
writes is refused unless --no-lease is given. Without --from/--to a run covers yesterday
and the --lookback days before it, so it suits a nightly schedule. --from alone runs until
yesterday, and is refused (exit 2) when that is more than 31 days: give --to for a longer
backfill. Every run logs its window (first and last day, number of days) as it starts.

Exit status:
  0    every object was read and every event written (or at most --max-failed failed)
  1    fatal: the run could not do its job (credentials, endpoint, bucket, destination)
  2    usage error
  3    finished, but more than --max-failed objects could not be read (named in the log
       and the report), or some delivery days were held by another run writing them
       (action "held"); those days run again in the next run whose window
       includes them
  4    finished, but --verify-digests found log files or digests CloudTrail did not
       write (changed, gone, a broken chain); the summary's digests section names them
  5    no trail found: no trail folder below --source, an --accounts or --regions
       entry that matches no folder, or no log file in any folder on any day of the window;
       one line says what was looked for, where, and the fix
  130  interrupted by SIGINT;  143  interrupted by SIGTERM (at any moment after start,
       with the summary, status "interrupted")

Example:
  marketrail run --source s3://my-trail-bucket --dest s3://my-lake/marketplace \
      --from 2024-03-01 --to 2024-03-31 --report run.json
`

// runOptions are the flags of 'marketrail run'.
type runOptions struct {
	source, dest, from, to string
	accounts, regions      []string
	eventSources           []string
	workers, maxRows       int
	requests               int
	endpoint, profile      string
	region, reportPath     string
	logFormat              string
	lookback, maxFailed    int
	force, dryRun          bool
	noLease                bool // --no-lease
	shard                  string
	shards                 int
	progress               string
	cpuProfile, memProfile string
	traceFile              string
	maxObjectBytes         int64  // --max-object-bytes
	sourceOwner, destOwner string // --source-bucket-owner, --dest-bucket-owner
	sse, sseKMSKeyID       string
	verifyDigests          bool   // --verify-digests
	digestKeys             string // --digest-public-keys
	tables                 tableFormatOptions
}

// sharedFlags are the flags 'run' and 'follow' share: where to read and write, what to keep,
// how hard to work, AWS and S3 security, logs.
func (o *runOptions) sharedFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.source, "source", "", "the trail archive `SRC`: s3://BUCKET[/PREFIX] or a folder holding AWSLogs/ (required)")
	fs.StringVar(&o.dest, "dest", "", "where to write the tables, `DEST`: s3://BUCKET/PREFIX or a folder (required)")
	fs.BoolVar(&o.noLease, "no-lease", false, "write delivery days without taking their leases in the destination; only for a destination that does not enforce conditional writes, and only if no two runs can ever overlap (see docs/operations.md)")
	fs.Func("accounts", "only these accounts: 12-digit ids, comma-separated, `ID,...` (default: all)", listFlag(&o.accounts))
	fs.Func("regions", "only these regions: names, comma-separated, `NAME,...` (default: all)", listFlag(&o.regions))
	fs.Func("event-source", "keep these event sources instead of AWS Marketplace: comma-separated, `NAME,...`", listFlag(&o.eventSources))
	fs.IntVar(&o.workers, "workers", pipeline.DefaultWorkers(), "`N` log files decoded at once (decompress, scan, decode: the CPU work; the default is 2 per core)")
	fs.IntVar(&o.requests, "requests", pipeline.DefaultRequests, "`N` GETs of log files in flight at once, apart from --workers: what hides S3's latency (tens of ms per request); their bodies wait for a worker in at most 8 MiB")
	fs.IntVar(&o.maxRows, "max-rows-per-file", 1_000_000, "`N` rows per Parquet file before a day's partition is split")
	fs.Int64Var(&o.maxObjectBytes, "max-object-bytes", pipeline.DefaultMaxObjectBytes, "fail a log file (as a corrupt one) whose JSON text inflates to more than `N` bytes: a gzip bomb; "+
		"the default, 1 GiB, is some twenty times the largest file CloudTrail writes (it starts a new file every few minutes, well under 50 MB) and inflates in about a second")
	fs.StringVar(&o.endpoint, "endpoint-url", "", "S3-compatible endpoint `URL` (default: $AWS_ENDPOINT_URL_S3, else AWS)")
	fs.StringVar(&o.profile, "profile", "", "AWS profile `NAME` (default: $AWS_PROFILE)")
	fs.StringVar(&o.region, "region", "", "AWS region `NAME` (default: $AWS_REGION or the profile's)")
	fs.StringVar(&o.sourceOwner, "source-bucket-owner", "", "the 12-digit account `ID` that must own the --source bucket; every request to it fails (403) otherwise")
	fs.StringVar(&o.destOwner, "dest-bucket-owner", "", "the 12-digit account `ID` that must own the --dest bucket (and a --report in that bucket); every request to it fails (403) otherwise")
	fs.StringVar(&o.sse, "sse", "", "server-side encryption (`ALGORITHM`) of every object written to S3: AES256 (SSE-S3) or aws:kms (SSE-KMS) (default: the bucket's default encryption)")
	fs.StringVar(&o.sseKMSKeyID, "sse-kms-key-id", "", "with --sse aws:kms: the KMS `KEY` (id, ARN or alias ARN) (default: the account's aws/s3 key)")
	o.tables.flags(fs)
	fs.StringVar(&o.logFormat, "log-format", "auto", "log `FORMAT`: text, json, or auto (text on a terminal, else JSON)")
}

func (o *runOptions) flags(fs *flag.FlagSet) {
	o.sharedFlags(fs)
	fs.StringVar(&o.from, "from", "", "first delivery day, `YYYY-MM-DD` (default: yesterday minus --lookback, UTC; with only --to, the same as --to); alone, it means until yesterday, at most 31 days: a longer window needs --to")
	fs.StringVar(&o.to, "to", "", "last delivery day, inclusive, `YYYY-MM-DD` (default: yesterday, UTC)")
	fs.IntVar(&o.lookback, "lookback", 2, "without --from/--to: also re-check `N` days before yesterday (CloudTrail can deliver late); they run again only if their inputs changed")
	fs.BoolVar(&o.force, "force", false, "run days again even if they are complete and unchanged (log files, the previous day's tail, settings)")
	fs.BoolVar(&o.dryRun, "dry-run", false, "list what the window would read (days, objects, bytes, GET requests) and write nothing")
	fs.IntVar(&o.maxFailed, "max-failed", 0, "exit 0 even with up to `N` objects that could not be read (they stay in the report)")
	fs.StringVar(&o.shard, "shard", "", "run one shard `I/N` (0-based) of the window's delivery days, e.g. --shard 2/8")
	fs.IntVar(&o.shards, "shards", 0, "run one shard of `N`, its index taken from JOB_COMPLETION_INDEX (Kubernetes Indexed Job) or AWS_BATCH_JOB_ARRAY_INDEX (AWS Batch array job)")
	fs.StringVar(&o.reportPath, "report", "", "write the run summary (JSON) to `FILE`, - (standard output) or s3://BUCKET/KEY; see Output below")
	fs.StringVar(&o.progress, "progress", "auto", "progress bar `WHEN`: on, off, or auto (on when standard error is a terminal)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the run to `FILE` (go tool pprof)")
	fs.StringVar(&o.memProfile, "memprofile", "", "write a heap profile (allocations) at the end of the run to `FILE` (go tool pprof)")
	fs.StringVar(&o.traceFile, "trace", "", "write an execution trace of the run to `FILE` (go tool trace): where cores sat idle, GC, scheduling")
	fs.BoolVar(&o.verifyDigests, "verify-digests", false, "check every log file read against CloudTrail's integrity digests (hashes and chains; signatures with --digest-public-keys); the report's digests section says what was found")
	fs.StringVar(&o.digestKeys, "digest-public-keys", "", "with --verify-digests: check the digests' signatures with the public keys in `FILE`, as 'aws cloudtrail list-public-keys' prints them (default for an S3 source in AWS: ask CloudTrail's ListPublicKeys for each region)")
}

func listFlag(dst *[]string) func(string) error {
	return func(s string) error {
		for _, v := range strings.Split(s, ",") {
			if v = strings.TrimSpace(v); v != "" {
				*dst = append(*dst, v)
			}
		}
		return nil
	}
}

func runCommand(ctx context.Context, args []string, stdout, stderr io.Writer, signals <-chan os.Signal) int {
	// First, so that a signal at any moment from here on ends in the summary.
	ctx, interrupted, stop := withSignals(ctx, signals)
	defer stop()
	var o runOptions
	fs := flag.NewFlagSet("marketrail run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o.flags(fs)
	if code, done := parseArgs(fs, args, runUsage, stdout, stderr); done {
		return code
	}
	cfg, err := o.config(time.Now(), os.Getenv)
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if err != nil {
		return usageError(fs, stderr, err)
	}

	stopProfiles, err := startProfiles(o.cpuProfile, o.memProfile, o.traceFile)
	if err != nil {
		fmt.Fprintf(stderr, "marketrail: %v\n", err)
		return report.ExitFatal
	}
	defer stopProfiles()
	showProgress := o.progress == "on" || o.progress == "auto" && isTerminal(stderr)
	logTo := stderr
	var bar *progress
	if showProgress {
		if f, ok := stderr.(*os.File); ok && isTerminal(f) {
			bar = newProgress(f)
		} else {
			bar = newProgressLine(stderr, func() int { return 80 }, time.Now)
		}
		cfg.Progress = bar
		logTo = bar // logs are written above the bar, never across it
	}
	log := newLogger(logTo, logFormatFor(o.logFormat, stderr), showProgress)
	cfg.Logger = log
	cfg.Version = buildVersion()
	cfg.Hook = testHook(os.Getenv(crashEnv), os.Getenv(panicEnv), os.Getenv(delayEnv))
	cfg.LeaseTTL, cfg.LeaseWait = testLease(os.Getenv(leaseEnv))
	window := report.Window(cfg.From.String(), cfg.To.String())
	if showProgress {
		// Only warnings are logged under the bar; the window is worth a line all the same.
		fmt.Fprintf(logTo, "marketrail: window %s\n", window)
	} else {
		log.Info("window "+window, "from", cfg.From.String(), "to", cfg.To.String(), "dry_run", cfg.DryRun)
	}

	// Connections for every request in flight: the fetchers' GETs, the workers' streamed
	// GETs of large files, the listings of the days in flight, the uploads.
	conns := cfg.Requests + cfg.Workers + 32*4 + 8
	headerTimeout, err := durationEnv(os.Getenv, headerTimeoutEnv)
	if err != nil {
		fmt.Fprintf(stderr, "marketrail run: %v\n", err)
		return report.ExitUsage
	}
	s := o.stores(conns, headerTimeout, log)
	defer s.close()
	rep, err := func() (*report.Report, error) {
		if interrupted() != 0 {
			return nil, ctx.Err() // a signal before the run began: nothing is opened
		}
		// Pre-flight: credentials, endpoint and buckets, each found in one line before any
		// work (both buckets at once; the source's error first); then the source's trail
		// folders before the destination is touched.
		if err := s.preflightAll(ctx, [][2]string{{o.source, "--source"}, {o.dest, "--dest"}}); err != nil {
			return nil, err
		}
		var err error
		if cfg.Source, err = s.open(ctx, o.source, false); err != nil {
			if _, _, isS3 := parseS3(o.source); !isS3 && errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("%w: the --source folder %s does not exist", report.ErrNoTrail, o.source)
			}
			return nil, fmt.Errorf("source %s: %w", o.source, err)
		}
		if _, _, isS3 := parseS3(o.dest); !isS3 {
			if _, serr := os.Stat(o.dest); errors.Is(serr, os.ErrNotExist) {
				// A new local destination is made only once the source is known to hold a
				// trail: a wrong --source leaves no empty folder behind. (The pipeline
				// discovers again, which for a first run costs a few listings.)
				if _, err := source.Discover(ctx, cfg.Source, cfg.Selection, 16); err != nil {
					return nil, err
				}
			}
		}
		if cfg.Dest, err = s.open(ctx, o.dest, true); err != nil {
			return nil, fmt.Errorf("destination %s: %w", o.dest, err)
		}
		var closeFormat func()
		if cfg.Format, closeFormat, err = o.tables.open(o.dest, cfg.Dest, log); err != nil {
			return nil, err
		}
		defer closeFormat()
		// In AWS, without --digest-public-keys, the keys come from CloudTrail itself; not
		// with an S3-compatible endpoint, which has no CloudTrail beside it.
		if _, _, isS3 := parseS3(o.source); cfg.VerifyDigests && cfg.DigestKeys == nil && isS3 && !s.opts.CustomEndpoint() {
			cfg.FetchDigestKeys = s.fetchDigestKeys
		}
		return pipeline.Run(ctx, cfg)
	}()
	if rep == nil { // the run never started
		rep = &report.Report{Tool: "marketrail", Version: cfg.Version, Source: o.source, Dest: o.dest,
			From: cfg.From.String(), To: cfg.To.String(), Started: time.Now().UTC(), DryRun: cfg.DryRun}
		rep.Finish(err, 0)
	}
	if code := interrupted(); code != 0 {
		rep.Finish(nil, code)
		rep.Error = "interrupted by " + map[int]string{report.ExitSIGINT: "SIGINT", report.ExitSIGTERM: "SIGTERM"}[code]
		err = nil
	}
	if bar != nil {
		bar.finish(outcome(rep))
	}
	if err != nil {
		fmt.Fprintf(stderr, "marketrail: %v\n", err)
	}
	jsonOut, humanOut := summaryStreams(o.reportPath, stdout, stderr, isTerminal)
	if jsonOut != nil {
		jsonOut.Write(rep.JSON())
	}
	exit := rep.ExitCode
	if o.reportPath != "" && o.reportPath != "-" {
		// Written even when interrupted, with a context of its own, so a scheduler learns why.
		wctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if werr := s.writeFile(wctx, o.reportPath, rep.JSON()); werr != nil {
			fmt.Fprintf(stderr, "marketrail: write report: %v\n", werr)
			if exit == report.ExitOK {
				exit = report.ExitFatal
			}
		}
	}
	log.Info("run finished", "status", rep.Status, "exit_code", rep.ExitCode, "elapsed_seconds", rep.Elapsed,
		"events", rep.Totals.RowsWritten["events"], "objects_failed", rep.Totals.ObjectsFailed, "days_held", rep.DaysHeld)
	if humanOut != nil {
		fmt.Fprint(humanOut, rep.Text())
	}
	return exit
}

// summaryStreams says where the run's summaries go, given --report and which of standard
// output and standard error are terminals:
//
//   - the JSON summary goes to standard output when --report is -, or when standard output
//     is not a terminal (a program or a file reads it); a terminal on standard output gets
//     no JSON unless --report - asks for it. --report FILE or s3://... writes it there too.
//   - the summary for a person (report.Text) goes to standard error when it is a terminal,
//     else to standard output when that is a terminal and carries no JSON; with no
//     terminal at all there is none (the log's "run finished" line says how it ended).
func summaryStreams(reportPath string, stdout, stderr io.Writer, isTerm func(io.Writer) bool) (jsonOut, humanOut io.Writer) {
	if reportPath == "-" || !isTerm(stdout) {
		jsonOut = stdout
	}
	switch {
	case isTerm(stderr):
		humanOut = stderr
	case isTerm(stdout) && jsonOut == nil:
		humanOut = stdout
	}
	return jsonOut, humanOut
}

// outcome is the word that ends the progress line: done, or how the run ended otherwise.
func outcome(r *report.Report) string {
	switch {
	case r.Status == report.StatusOK && r.DryRun:
		return "dry run done"
	case r.Status == report.StatusOK:
		return "done"
	case r.Status == report.StatusInterrupted:
		return "interrupted"
	}
	return r.Status
}

// headerTimeoutEnv names the environment variable that sets how long one S3 request may
// wait for its answer's headers before it is retried (storage.S3Options.ResponseHeaderTimeout):
// a Go duration such as 30s, the default.
const headerTimeoutEnv = "MARKETRAIL_S3_RESPONSE_TIMEOUT"

// durationEnv reads a positive duration from the environment variable name; 0 when unset.
func durationEnv(getenv func(string) string, name string) (time.Duration, error) {
	v := getenv(name)
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s=%q: want a positive duration such as 30s", name, v)
	}
	return d, nil
}

// config checks the options and turns them into a pipeline configuration. getenv reads
// the environment (for --shards).
func (o *runOptions) config(now time.Time, getenv func(string) string) (pipeline.Config, error) {
	var cfg pipeline.Config
	if o.source == "" || o.dest == "" {
		return cfg, fmt.Errorf("%w: --source and --dest are required", errUsage)
	}
	if o.lookback < 0 {
		return cfg, fmt.Errorf("%w: --lookback must not be negative", errUsage)
	}
	yesterday := trail.DayOf(now).AddDays(-1)
	from, to := yesterday.AddDays(-o.lookback), yesterday
	var err error
	if o.to != "" {
		if to, err = trail.ParseDay(o.to); err != nil {
			return cfg, fmt.Errorf("%w: --to: %v", errUsage, err)
		}
		from = to
	}
	if o.from != "" {
		if from, err = trail.ParseDay(o.from); err != nil {
			return cfg, fmt.Errorf("%w: --from: %v", errUsage, err)
		}
	}
	if to.Before(from) {
		return cfg, fmt.Errorf("%w: --to %s is before --from %s", errUsage, to, from)
	}
	if o.from != "" && o.to == "" && len(trail.Range(from, to)) > maxOpenWindow {
		return cfg, fmt.Errorf("%w: --from %s without --to means until yesterday: %s; give --to for a window of more than %d days",
			errUsage, o.from, report.Window(from.String(), to.String()), maxOpenWindow)
	}
	switch o.progress {
	case "auto", "on", "off":
	default:
		return cfg, fmt.Errorf("%w: --progress must be on, off or auto", errUsage)
	}
	if o.maxFailed < 0 {
		return cfg, fmt.Errorf("%w: --max-failed must not be negative", errUsage)
	}
	shardI, shards, err := shard(o.shard, o.shards, getenv)
	if err != nil {
		return cfg, err
	}
	if cfg, err = o.job(); err != nil {
		return cfg, err
	}
	cfg.Shard, cfg.Shards = shardI, shards
	cfg.From, cfg.To = from, to
	cfg.Force, cfg.DryRun, cfg.MaxFailed = o.force, o.dryRun, o.maxFailed
	cfg.VerifyDigests = o.verifyDigests
	if o.digestKeys != "" {
		if !o.verifyDigests {
			return cfg, fmt.Errorf("%w: --digest-public-keys needs --verify-digests", errUsage)
		}
		b, err := os.ReadFile(o.digestKeys)
		if err == nil {
			cfg.DigestKeys, err = digest.ParsePublicKeys(b)
		}
		if err != nil {
			return cfg, fmt.Errorf("%w: --digest-public-keys: %v", errUsage, err)
		}
	}
	return cfg, nil
}

// job checks the flags run and follow share, and returns the job they describe.
func (o *runOptions) job() (pipeline.Config, error) {
	var cfg pipeline.Config
	for _, a := range o.accounts {
		if !trail.IsAccountID(a) {
			return cfg, fmt.Errorf("%w: --accounts: %q is not a 12-digit account id", errUsage, a)
		}
	}
	for _, r := range o.regions {
		if !trail.IsRegion(r) {
			return cfg, fmt.Errorf("%w: --regions: %q is not a region name", errUsage, r)
		}
	}
	if o.workers < 1 {
		return cfg, fmt.Errorf("%w: --workers must be at least 1", errUsage)
	}
	if o.requests < 1 {
		return cfg, fmt.Errorf("%w: --requests must be at least 1", errUsage)
	}
	if o.maxRows < 1 {
		return cfg, fmt.Errorf("%w: --max-rows-per-file must be at least 1", errUsage)
	}
	if o.maxObjectBytes < 1 {
		return cfg, fmt.Errorf("%w: --max-object-bytes must be at least 1", errUsage)
	}
	switch o.logFormat {
	case "auto", "text", "json":
	default:
		return cfg, fmt.Errorf("%w: --log-format must be text, json or auto", errUsage)
	}
	if err := o.checkS3Security(); err != nil {
		return cfg, err
	}
	if sameLocation(o.source, o.dest) {
		return cfg, fmt.Errorf("%w: --dest must not be the same place as --source", errUsage)
	}
	if err := o.tables.check(o.dest); err != nil {
		return cfg, err
	}
	cfg.Selection = source.Selection{Accounts: o.accounts, Regions: o.regions}
	cfg.EventSources = o.eventSources
	cfg.Workers = o.workers
	cfg.Requests = o.requests
	cfg.MaxRowsFile = o.maxRows
	cfg.MaxObjectBytes = o.maxObjectBytes
	cfg.NoLease = o.noLease
	return cfg, nil
}

// maxOpenWindow is the longest window --from may open without --to: a longer one is far
// more often a slip (a month's backfill meant, years read) than a wish.
const maxOpenWindow = 31

// checkS3Security checks --source-bucket-owner, --dest-bucket-owner, --sse and
// --sse-kms-key-id.
func (o *runOptions) checkS3Security() error {
	for _, f := range []struct{ name, owner, loc, locFlag string }{
		{"--source-bucket-owner", o.sourceOwner, o.source, "--source"},
		{"--dest-bucket-owner", o.destOwner, o.dest, "--dest"},
	} {
		if f.owner == "" {
			continue
		}
		if !trail.IsAccountID(f.owner) {
			return fmt.Errorf("%w: %s: %q is not a 12-digit account id", errUsage, f.name, f.owner)
		}
		if _, _, ok := parseS3(f.loc); !ok {
			return fmt.Errorf("%w: %s needs an s3:// %s", errUsage, f.name, f.locFlag)
		}
	}
	sb, _, _ := parseS3(o.source)
	db, _, _ := parseS3(o.dest)
	if o.sourceOwner != "" && o.destOwner != "" && sb == db && o.sourceOwner != o.destOwner {
		return fmt.Errorf("%w: --source and --dest are both in bucket %s, which cannot have two owners", errUsage, sb)
	}
	switch o.sse {
	case "", sseS3, sseKMS:
	default:
		return fmt.Errorf("%w: --sse must be %s or %s", errUsage, sseS3, sseKMS)
	}
	if o.sseKMSKeyID != "" && o.sse != sseKMS {
		return fmt.Errorf("%w: --sse-kms-key-id needs --sse %s", errUsage, sseKMS)
	}
	if o.sse != "" {
		_, _, destS3 := parseS3(o.dest)
		_, _, reportS3 := parseS3(o.reportPath)
		if !destS3 && !reportS3 {
			return fmt.Errorf("%w: --sse needs an s3:// --dest or --report", errUsage)
		}
	}
	return nil
}

// The values of --sse.
const (
	sseS3  = "AES256"
	sseKMS = "aws:kms"
)

// Environment variables that give a shard's index to --shards.
var shardIndexEnv = [...]string{"JOB_COMPLETION_INDEX", "AWS_BATCH_JOB_ARRAY_INDEX"}

// shard works out this process's shard from --shard I/N or --shards N and the environment.
func shard(spec string, shards int, getenv func(string) string) (int, int, error) {
	switch {
	case spec != "" && shards != 0:
		return 0, 0, fmt.Errorf("%w: give --shard I/N or --shards N, not both", errUsage)
	case spec != "":
		var i, n int
		if _, err := fmt.Sscanf(spec, "%d/%d", &i, &n); err != nil || fmt.Sprintf("%d/%d", i, n) != spec || n < 1 || i < 0 || i >= n {
			return 0, 0, fmt.Errorf("%w: --shard %q: want I/N with 0 <= I < N, e.g. 0/4", errUsage, spec)
		}
		return i, n, nil
	case shards < 0:
		return 0, 0, fmt.Errorf("%w: --shards must be positive", errUsage)
	case shards > 0:
		for _, name := range shardIndexEnv {
			v := getenv(name)
			if v == "" {
				continue
			}
			i, err := strconv.Atoi(v)
			if err != nil || i < 0 || i >= shards {
				return 0, 0, fmt.Errorf("%w: %s=%q is not a shard index below --shards %d", errUsage, name, v, shards)
			}
			return i, shards, nil
		}
		return 0, 0, fmt.Errorf("%w: --shards needs the shard index in %s or %s", errUsage, shardIndexEnv[0], shardIndexEnv[1])
	}
	return 0, 1, nil
}

func sameLocation(a, b string) bool {
	if strings.HasPrefix(a, "s3://") || strings.HasPrefix(b, "s3://") {
		return strings.TrimSuffix(a, "/") == strings.TrimSuffix(b, "/")
	}
	aa, err1 := filepath.Abs(a)
	bb, err2 := filepath.Abs(b)
	return err1 == nil && err2 == nil && aa == bb
}

// stores returns the stores of the run's source and destination: S3 clients keeping conns
// connections, each request's headers awaited headerTimeout (0: the default), SSE and the
// buckets' expected owners as the flags say.
func (o *runOptions) stores(conns int, headerTimeout time.Duration, log *slog.Logger) *stores {
	s := &stores{opts: storage.S3Options{Endpoint: o.endpoint, Profile: o.profile, Region: o.region, Conns: conns, Logger: log,
		ResponseHeaderTimeout: headerTimeout}, log: log,
		sse: storage.WithSSE(o.sse, o.sseKMSKeyID)}
	s.expectOwner(o.source, o.sourceOwner)
	s.expectOwner(o.dest, o.destOwner)
	return s
}

// parseArgs parses args with fs, named for its command ("marketrail run"): --help prints
// usage (its %s: the flags) to stdout; a mistake is one line on stderr (usageError). done
// says the command ends there, with exit status code.
func parseArgs(fs *flag.FlagSet, args []string, usage string, stdout, stderr io.Writer) (code int, done bool) {
	err := fs.Parse(args)
	switch {
	case err == nil:
		return 0, false
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprintf(stdout, usage, flagDefaults(fs))
		return report.ExitOK, true
	}
	return usageError(fs, stderr, parseError(fs, err)), true
}

// usageError prints err, a misuse of fs's command, as one line with the hint to --help, and
// returns the exit status of a usage error.
func usageError(fs *flag.FlagSet, stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "%s: %v\nRun '%s --help' for usage.\n", fs.Name(), strings.TrimPrefix(err.Error(), "usage: "), fs.Name())
	return report.ExitUsage
}

// logFormatFor is the log format --log-format format means on stderr: auto is text on a
// terminal, JSON lines otherwise.
func logFormatFor(format string, stderr io.Writer) string {
	if format != "auto" {
		return format
	}
	if isTerminal(stderr) {
		return "text"
	}
	return "json"
}

// newLogger logs to w in format (text or json). Under a progress bar (quiet) only warnings
// and errors are logged, so the bar stays readable.
func newLogger(w io.Writer, format string, quiet bool) *slog.Logger {
	opts := &slog.HandlerOptions{}
	if quiet {
		opts.Level = slog.LevelWarn
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

func flagDefaults(fs *flag.FlagSet) string {
	var b bytes.Buffer
	fs.SetOutput(&b)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	// The flag package prints -name; marketrail's docs write --name (both work).
	return strings.ReplaceAll("\n"+b.String(), "\n  -", "\n  --")[1:]
}

// startProfiles starts a CPU profile to cpu and an execution trace to tr, and returns a
// function that stops them and writes a heap profile to mem ("" for none).
func startProfiles(cpu, mem, tr string) (func(), error) {
	var cpuFile, traceFile *os.File
	if mem != "" {
		runtime.MemProfileRate = 512 * 1024 // the runtime's default, which main turns off
	}
	if cpu != "" {
		f, err := os.Create(cpu)
		if err != nil {
			return nil, fmt.Errorf("--cpuprofile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("--cpuprofile: %w", err)
		}
		cpuFile = f
	}
	if tr != "" {
		f, err := os.Create(tr)
		if err == nil {
			err = trace.Start(f)
		}
		if err != nil {
			if f != nil {
				f.Close()
			}
			if cpuFile != nil {
				pprof.StopCPUProfile()
				cpuFile.Close()
			}
			return nil, fmt.Errorf("--trace: %w", err)
		}
		traceFile = f
	}
	return func() {
		if traceFile != nil {
			trace.Stop()
			traceFile.Close()
		}
		if cpuFile != nil {
			pprof.StopCPUProfile()
			cpuFile.Close()
		}
		if mem != "" {
			if f, err := os.Create(mem); err == nil {
				pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
		}
	}, nil
}
