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
	"strings"
	"time"

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

Output: the run summary (JSON, see docs/report.md) on standard output; logs on standard
error (text on a terminal, JSON lines otherwise).

Exit status:
  0    every object was read and every event written
  1    fatal: the run could not do its job (credentials, bucket, destination)
  2    usage error
  3    finished, but some objects could not be read (named in the log and the report)
  130  interrupted by SIGINT;  143  interrupted by SIGTERM

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
	endpoint, profile      string
	region, reportPath     string
	logFormat              string
}

func (o *runOptions) flags(fs *flag.FlagSet) {
	fs.StringVar(&o.source, "source", "", "the trail archive: s3://BUCKET[/PREFIX] or a folder holding AWSLogs/ (required)")
	fs.StringVar(&o.dest, "dest", "", "where to write the tables: s3://BUCKET/PREFIX or a folder (required)")
	fs.StringVar(&o.from, "from", "", "first delivery day, YYYY-MM-DD (default: yesterday, UTC; with only --to, the same as --to)")
	fs.StringVar(&o.to, "to", "", "last delivery day, inclusive, YYYY-MM-DD (default: yesterday, UTC)")
	fs.Func("accounts", "only these account ids, comma-separated (default: all)", listFlag(&o.accounts))
	fs.Func("regions", "only these regions, comma-separated (default: all)", listFlag(&o.regions))
	fs.Func("event-source", "keep these event sources instead of AWS Marketplace, comma-separated", listFlag(&o.eventSources))
	fs.IntVar(&o.workers, "workers", pipeline.DefaultWorkers(), "log files read at once")
	fs.IntVar(&o.maxRows, "max-rows-per-file", 1_000_000, "rows per Parquet file before a day's partition is split")
	fs.StringVar(&o.endpoint, "endpoint-url", "", "S3-compatible endpoint URL (default: $AWS_ENDPOINT_URL_S3, else AWS)")
	fs.StringVar(&o.profile, "profile", "", "AWS profile (default: $AWS_PROFILE)")
	fs.StringVar(&o.region, "region", "", "AWS region (default: $AWS_REGION or the profile's)")
	fs.StringVar(&o.reportPath, "report", "", "also write the run summary to FILE or s3://BUCKET/KEY")
	fs.StringVar(&o.logFormat, "log-format", "auto", "log format: text, json, or auto (text on a terminal, else JSON)")
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

func runCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var o runOptions
	fs := flag.NewFlagSet("marketrail run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o.flags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stdout, runUsage, flagDefaults(fs))
			return report.ExitOK
		}
		fmt.Fprintf(stderr, "marketrail run: %v\nRun 'marketrail run --help' for usage.\n", err)
		return report.ExitUsage
	}
	cfg, err := o.config(time.Now())
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if err != nil {
		fmt.Fprintf(stderr, "marketrail run: %v\nRun 'marketrail run --help' for usage.\n", strings.TrimPrefix(err.Error(), "usage: "))
		return report.ExitUsage
	}

	ctx, interrupted, stop := withSignals(ctx)
	defer stop()
	log := newLogger(stderr, o.logFormat)
	cfg.Logger = log
	cfg.Version = buildVersion()

	s := &stores{opts: storage.S3Options{Endpoint: o.endpoint, Profile: o.profile, Region: o.region}}
	defer s.close()
	rep, err := func() (*report.Report, error) {
		var err error
		if cfg.Source, err = s.open(ctx, o.source, false); err != nil {
			return nil, fmt.Errorf("source %s: %w", o.source, err)
		}
		if cfg.Dest, err = s.open(ctx, o.dest, true); err != nil {
			return nil, fmt.Errorf("destination %s: %w", o.dest, err)
		}
		return pipeline.Run(ctx, cfg)
	}()
	if rep == nil { // the run never started
		rep = &report.Report{Tool: "marketrail", Version: cfg.Version, Source: o.source, Dest: o.dest,
			From: cfg.From.String(), To: cfg.To.String(), Started: time.Now().UTC()}
		rep.Finish(err, 0)
	}
	if code := interrupted(); code != 0 {
		rep.Finish(nil, code)
		rep.Error = "interrupted by " + map[int]string{report.ExitSIGINT: "SIGINT", report.ExitSIGTERM: "SIGTERM"}[code]
		err = nil
	}
	if err != nil {
		fmt.Fprintf(stderr, "marketrail: %v\n", err)
	}
	stdout.Write(rep.JSON())
	if o.reportPath != "" {
		// Written even when interrupted, with a context of its own, so a scheduler learns why.
		wctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if werr := s.writeFile(wctx, o.reportPath, rep.JSON()); werr != nil {
			fmt.Fprintf(stderr, "marketrail: write report: %v\n", werr)
			if rep.ExitCode == report.ExitOK {
				return report.ExitFatal
			}
		}
	}
	log.Info("run finished", "status", rep.Status, "exit_code", rep.ExitCode, "elapsed_seconds", rep.Elapsed,
		"events", rep.Totals.RowsWritten["events"], "objects_failed", rep.Totals.ObjectsFailed)
	return rep.ExitCode
}

// config checks the options and turns them into a pipeline configuration.
func (o *runOptions) config(now time.Time) (pipeline.Config, error) {
	var cfg pipeline.Config
	if o.source == "" || o.dest == "" {
		return cfg, fmt.Errorf("%w: --source and --dest are required", errUsage)
	}
	yesterday := trail.DayOf(now).AddDays(-1)
	from, to := yesterday, yesterday
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
	if o.maxRows < 1 {
		return cfg, fmt.Errorf("%w: --max-rows-per-file must be at least 1", errUsage)
	}
	switch o.logFormat {
	case "auto", "text", "json":
	default:
		return cfg, fmt.Errorf("%w: --log-format must be text, json or auto", errUsage)
	}
	if sameLocation(o.source, o.dest) {
		return cfg, fmt.Errorf("%w: --dest must not be the same place as --source", errUsage)
	}
	cfg.From, cfg.To = from, to
	cfg.Selection = source.Selection{Accounts: o.accounts, Regions: o.regions}
	cfg.EventSources = o.eventSources
	cfg.Workers = o.workers
	cfg.MaxRowsFile = o.maxRows
	return cfg, nil
}

func sameLocation(a, b string) bool {
	if strings.HasPrefix(a, "s3://") || strings.HasPrefix(b, "s3://") {
		return strings.TrimSuffix(a, "/") == strings.TrimSuffix(b, "/")
	}
	aa, err1 := filepath.Abs(a)
	bb, err2 := filepath.Abs(b)
	return err1 == nil && err2 == nil && aa == bb
}

// newLogger logs to w: text on a terminal, JSON lines otherwise (or as format says).
func newLogger(w io.Writer, format string) *slog.Logger {
	if format == "auto" {
		format = "json"
		if isTerminal(w) {
			format = "text"
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, nil))
	}
	return slog.New(slog.NewJSONHandler(w, nil))
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
