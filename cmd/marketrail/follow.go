package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/marketrail/marketrail/pkg/follow"
	icebergdefaults "github.com/marketrail/marketrail/pkg/iceberg/defaults"
	"github.com/marketrail/marketrail/pkg/queue"
	"github.com/marketrail/marketrail/pkg/report"
	"github.com/marketrail/marketrail/pkg/storage"
)

const followUsage = `Usage: marketrail follow --queue QUEUE_URL --source s3://BUCKET[/PREFIX] --dest DEST [flags]

Keeps the tables current from the trail's notifications: reads an SQS queue that announces
each new log file, and every --interval publishes the delivery days of the log files
announced, as 'marketrail run' would have written them (same partitions, files, dedup and
manifests; the rows are those of one run over the same days). Runs until stopped.

The queue may carry any of the shapes AWS delivers: CloudTrail's own SNS notification
(through SNS to SQS, enveloped or raw), S3 event notifications (s3:ObjectCreated:*, and the
s3:TestEvent S3 sends when they are configured), EventBridge "Object Created" events
(directly or through SNS). Objects outside --source, digest and Insights files are skipped
and counted. A message is deleted once every log file it announces is in a published day;
one that cannot be understood is kept raw in DEST/_marketrail/messages/ and deleted; a log
file that cannot be read is tried again with its message, and after --max-receives
receives the message is deleted, the file named in the log, and its day left partial for
the nightly run. Pair follow with the nightly 'marketrail run' with the same filters: it
finds the days follow kept complete unchanged, and reads again a day whose notification
was lost. See docs/operations.md.

Flags:
%s
AWS configuration is the standard one, as for 'run': AWS_PROFILE (or --profile),
AWS_REGION (or --region), the SDK's credential chain (including roles), AWS_ENDPOINT_URL_S3
(or --endpoint-url) for S3 and AWS_ENDPOINT_URL_SQS for SQS. The IAM actions needed on the
queue: sqs:ReceiveMessage, sqs:DeleteMessage, sqs:ChangeMessageVisibility,
sqs:GetQueueAttributes.

With --metrics-addr, /metrics serves Prometheus metrics (messages, files, events, lag,
errors) and /healthz answers 503 after a failed publish or when no receive has succeeded
for three receive periods.

Exit status:
  0    stopped by SIGTERM or SIGINT: the batch being published is finished (or, after
       --grace, abandoned without publishing anything partial); messages not reflected in
       the tables stay in the queue. Unlike 'run' (130/143), a stop is how a service ends.
  1    fatal, with one line that says why: at start, the queue, the source or the
       destination cannot be used (or --metrics-addr cannot be listened on); later, the
       queue is gone or may no longer be read. A batch that fails (the destination
       unreachable for a while) is tried again at the next interval instead, and
       /healthz says so.
  2    usage error

Example:
  marketrail follow --queue https://sqs.us-east-1.amazonaws.com/123456789012/trail-files \
      --source s3://my-trail-bucket --dest s3://my-lake/marketplace --metrics-addr :9090
`

// followOptions are the flags of 'marketrail follow': run's shared ones and its own.
type followOptions struct {
	runOptions
	queueURL    string
	interval    time.Duration
	maxReceives int
	grace       time.Duration
	visibility  time.Duration
	metricsAddr string
	retention   time.Duration // --snapshot-retention
}

func (o *followOptions) flags(fs *flag.FlagSet) {
	o.sharedFlags(fs)
	fs.StringVar(&o.queueURL, "queue", "", "the SQS queue `URL` that announces the trail's new log files (required)")
	fs.DurationVar(&o.interval, "interval", follow.DefaultInterval, "publish the announced log files' delivery days every `DURATION`: a file's rows land about one interval after its notification (a batch starts earlier by the last batch's time, at most half an interval)")
	fs.IntVar(&o.maxReceives, "max-receives", follow.DefaultMaxReceives, "give up a message whose log file cannot be read after `N` receives (its day stays partial for the nightly run)")
	fs.DurationVar(&o.grace, "grace", follow.DefaultGrace, "on SIGTERM/SIGINT, wait up to `DURATION` for the batch being published; then abandon it unpublished")
	fs.DurationVar(&o.visibility, "visibility", 0, "keep a received message hidden from other receivers for `DURATION` while follow works on it, extended as long as it does; a message whose receive was lost on the way comes back after it (default: 2 × --interval + 1m, at least 5m)")
	fs.DurationVar(&o.retention, "snapshot-retention", icebergdefaults.Retention, "with --table-format iceberg: every hour, expire the tables' snapshots older than `DURATION` (keeping the last "+fmt.Sprint(icebergdefaults.MinRetainSnapshots)+") and delete the files only they referenced, and orphan files older than it; 0 turns this off")
	fs.StringVar(&o.metricsAddr, "metrics-addr", "", "serve /metrics (Prometheus) and /healthz on `ADDR`, e.g. :9090 (default: off)")
}

func followCommand(ctx context.Context, args []string, stdout, stderr io.Writer, signals <-chan os.Signal) int {
	ctx, _, stop := withSignals(ctx, signals)
	defer stop()
	var o followOptions
	fs := flag.NewFlagSet("marketrail follow", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o.flags(fs)
	if code, done := parseArgs(fs, args, followUsage, stdout, stderr); done {
		return code
	}
	cfg, err := o.config()
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if err != nil {
		return usageError(fs, stderr, err)
	}
	log := newLogger(stderr, logFormatFor(o.logFormat, stderr), false)
	cfg.Job.Logger = log
	cfg.Job.Version = buildVersion()
	cfg.Job.LeaseTTL, cfg.Job.LeaseWait = testLease(os.Getenv(leaseEnv))
	cfg.Job.Hook = testHook(os.Getenv(crashEnv), os.Getenv(panicEnv), os.Getenv(delayEnv))
	s := o.stores(cfg.Job.Requests+cfg.Job.Workers+32*4+8, 0, log)
	defer s.close()
	err = func() error {
		if err := s.preflightAll(ctx, [][2]string{{o.source, "--source"}, {o.dest, "--dest"}}); err != nil {
			return err
		}
		awsCfg, err := storage.LoadAWSConfig(ctx, s.opts)
		if err != nil {
			return err
		}
		q := queue.New(awsCfg, o.queueURL)
		if err := q.Check(ctx); err != nil {
			return err
		}
		cfg.Queue = q
		if cfg.Job.Source, err = s.open(ctx, o.source, false); err != nil {
			return fmt.Errorf("source %s: %w", o.source, err)
		}
		if cfg.Job.Dest, err = s.open(ctx, o.dest, true); err != nil {
			return fmt.Errorf("destination %s: %w", o.dest, err)
		}
		var closeFormat func()
		if cfg.Job.Format, closeFormat, err = o.tables.open(o.dest, cfg.Job.Dest, log); err != nil {
			return err
		}
		defer closeFormat()
		if o.retention > 0 {
			cfg.Maintain = icebergUpkeep(cfg.Job.Format, o.retention, log)
		}
		cfg.Stats = &follow.Stats{}
		if o.metricsAddr != "" {
			if err := follow.Serve(ctx, o.metricsAddr, cfg.Stats, 3*(queue.MaxWait+o.interval)); err != nil {
				return err
			}
		}
		return follow.Run(ctx, cfg)
	}()
	if err != nil && ctx.Err() == nil {
		fmt.Fprintf(stderr, "marketrail: %v\n", err)
		return report.ExitFatal
	}
	return report.ExitOK
}

// config checks follow's flags and returns what to follow.
func (o *followOptions) config() (follow.Config, error) {
	var cfg follow.Config
	if o.queueURL == "" || o.source == "" || o.dest == "" {
		return cfg, fmt.Errorf("%w: --queue, --source and --dest are required", errUsage)
	}
	bucket, prefix, ok := parseS3(o.source)
	if !ok || bucket == "" {
		return cfg, fmt.Errorf("%w: --source must be s3://BUCKET[/PREFIX]: notifications name a bucket's objects", errUsage)
	}
	if o.interval < time.Second {
		return cfg, fmt.Errorf("%w: --interval must be at least 1s", errUsage)
	}
	if o.retention < 0 {
		return cfg, fmt.Errorf("%w: --snapshot-retention must not be negative", errUsage)
	}
	if o.maxReceives < 1 {
		return cfg, fmt.Errorf("%w: --max-receives must be at least 1", errUsage)
	}
	if o.grace < 0 {
		return cfg, fmt.Errorf("%w: --grace must not be negative", errUsage)
	}
	if o.visibility != 0 && (o.visibility < 3*time.Second || o.visibility > queue.MaxVisibility) {
		return cfg, fmt.Errorf("%w: --visibility must be between 3s and %s", errUsage, queue.MaxVisibility)
	}
	job, err := o.job()
	if err != nil {
		return cfg, err
	}
	cfg.Job = job
	cfg.Bucket, cfg.Prefix = bucket, strings.TrimSuffix(prefix, "/")
	cfg.Interval, cfg.MaxReceives, cfg.Grace, cfg.Visibility = o.interval, o.maxReceives, o.grace, o.visibility
	if o.grace == 0 {
		cfg.Grace = time.Nanosecond // abandon at once (follow.Config takes 0 for its default)
	}
	return cfg, nil
}
