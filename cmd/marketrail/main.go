// Command marketrail turns an AWS CloudTrail log archive into an Athena data lake of AWS
// Marketplace activity. See `marketrail help` and the README.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"syscall"

	"github.com/marketrail/marketrail/internal/earlysignal"
	"github.com/marketrail/marketrail/pkg/report"
)

// version is stamped at build time: go build -ldflags "-X main.version=v1.2.3".
var version = ""

func main() {
	// The process has been subscribed to SIGINT and SIGTERM since its first moments (package
	// earlysignal, initialized before the heavy dependencies): a signal never kills it
	// outright; 'run' turns it into a summary and exit 130 or 143 (withSignals), the other
	// commands finish in moments and ignore it.
	signals := earlysignal.Signals()
	// No allocation sampling unless --memprofile asks for it (startProfiles turns it on):
	// the sampled stacks' buckets are fresh memory, faulted in across the run's threads.
	runtime.MemProfileRate = 0
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr, signals))
}

const usage = `marketrail turns an AWS CloudTrail log archive into an Athena data lake of
AWS Marketplace activity (metering, agreements, catalog, discovery, deployment, ...).

Usage:
  marketrail run --source SRC --dest DEST [flags]   extract Marketplace events to Parquet
  marketrail follow --queue URL --source s3://... --dest DEST [flags]
                                                    keep the tables current from the
                                                    trail's notifications (SQS)
  marketrail ddl --location s3://BUCKET/PREFIX      print the Athena DDL of the tables
  marketrail version                                print the version
  marketrail help [command]                         show help

Run 'marketrail run --help' for the flags and exit statuses, 'marketrail follow --help'
for following a queue, 'marketrail ddl --help' for the Athena tables.
`

// commands are marketrail's subcommands, as 'help' and the suggestions for a misspelt one
// know them.
func commands() []string { return []string{"run", "follow", "ddl", "version", "help"} }

// run is main without the process: it returns the exit status. signals delivers the
// SIGINT and SIGTERM the process receives.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, signals <-chan os.Signal) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return report.ExitUsage
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "run":
		return runCommand(ctx, rest, stdout, stderr, signals)
	case "follow":
		return followCommand(ctx, rest, stdout, stderr, signals)
	case "ddl":
		return ddlCommand(ctx, rest, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "marketrail", buildVersion())
		return report.ExitOK
	case "help", "-h", "-help", "--help":
		switch {
		case len(rest) == 0, rest[0] == "help":
			fmt.Fprint(stdout, usage)
			return report.ExitOK
		case len(rest) > 1:
			fmt.Fprintf(stderr, "marketrail help: give one command, not %q\n", rest)
			return report.ExitUsage
		case rest[0] == "run":
			return runCommand(ctx, []string{"--help"}, stdout, stderr, nil)
		case rest[0] == "follow":
			return followCommand(ctx, []string{"--help"}, stdout, stderr, nil)
		case rest[0] == "ddl":
			return ddlCommand(ctx, []string{"--help"}, stdout, stderr)
		case rest[0] == "version":
			fmt.Fprintln(stdout, "Usage: marketrail version\n\nPrints marketrail's version.")
			return report.ExitOK
		}
		fmt.Fprintf(stderr, "marketrail help: unknown command %q%s\n\n%s", rest[0], didYouMean(rest[0], commands(), ""), usage)
		return report.ExitUsage
	default:
		fmt.Fprintf(stderr, "marketrail: unknown command %q%s\n\n%s", cmd, didYouMean(cmd, commands(), ""), usage)
		return report.ExitUsage
	}
}

// buildVersion is the stamped version, else the module version Go recorded, else "dev".
func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// withSignals returns a context cancelled by the first SIGINT or SIGTERM from ch (main's,
// which it subscribed before anything else), a function that reports the exit status for
// the signal received (0 if none), and one that releases the context. ch stays subscribed
// until the process exits, so a signal that arrives after the run's end is not fatal either.
func withSignals(ctx context.Context, ch <-chan os.Signal) (context.Context, func() int, func()) {
	ctx, cancel := context.WithCancel(ctx)
	var got atomic.Int32 // the exit status for the first signal taken, 0 before
	take := func(s os.Signal) {
		code := int32(report.ExitSIGINT)
		if s == syscall.SIGTERM {
			code = report.ExitSIGTERM
		}
		got.CompareAndSwap(0, code)
		cancel()
	}
	go func() {
		select {
		case s := <-ch:
			take(s)
		case <-ctx.Done():
		}
	}()
	interrupted := func() int {
		// A signal already delivered but not yet taken by the goroutine counts too.
		select {
		case s := <-ch:
			take(s)
		default:
		}
		return int(got.Load())
	}
	return ctx, interrupted, cancel
}

// errUsage marks a command-line mistake (exit status 2).
var errUsage = errors.New("usage")
