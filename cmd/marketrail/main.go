// Command marketrail turns an AWS CloudTrail log archive into an Athena data lake of AWS
// Marketplace activity. See `marketrail help` and the README.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"

	"github.com/marketrail/marketrail/pkg/report"
)

// version is stamped at build time: go build -ldflags "-X main.version=v1.2.3".
var version = ""

func main() {
	// No allocation sampling unless --memprofile asks for it (startProfiles turns it on):
	// the sampled stacks' buckets are fresh memory, faulted in across the run's threads.
	runtime.MemProfileRate = 0
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `marketrail turns an AWS CloudTrail log archive into an Athena data lake of
AWS Marketplace activity (metering, agreements, catalog, discovery, deployment, ...).

Usage:
  marketrail run --source SRC --dest DEST [flags]   extract Marketplace events to Parquet
  marketrail ddl --location s3://BUCKET/PREFIX      print the Athena DDL of the tables
  marketrail version                                print the version
  marketrail help [command]                         show help

Run 'marketrail run --help' for the flags and exit statuses, 'marketrail ddl --help' for
the Athena tables.
`

// run is main without the process: it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return report.ExitUsage
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "run":
		return runCommand(ctx, rest, stdout, stderr)
	case "ddl":
		return ddlCommand(ctx, rest, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "marketrail", buildVersion())
		return report.ExitOK
	case "help", "-h", "-help", "--help":
		if len(rest) > 0 && rest[0] == "run" {
			return runCommand(ctx, []string{"--help"}, stdout, stderr)
		}
		if len(rest) > 0 && rest[0] == "ddl" {
			return ddlCommand(ctx, []string{"--help"}, stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
		return report.ExitOK
	default:
		fmt.Fprintf(stderr, "marketrail: unknown command %q\n\n%s", cmd, usage)
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

// withSignals returns a context cancelled by SIGINT or SIGTERM, and a function that reports
// the exit status for the signal received (0 if none).
func withSignals(ctx context.Context) (context.Context, func() int, func()) {
	ctx, cancel := context.WithCancel(ctx)
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	got := make(chan int, 1)
	go func() {
		select {
		case s := <-ch:
			code := report.ExitSIGINT
			if s == syscall.SIGTERM {
				code = report.ExitSIGTERM
			}
			got <- code
			cancel()
		case <-ctx.Done():
		}
	}()
	interrupted := func() int {
		select {
		case c := <-got:
			got <- c
			return c
		default:
			return 0
		}
	}
	stop := func() { signal.Stop(ch); cancel() }
	return ctx, interrupted, stop
}

// errUsage marks a command-line mistake (exit status 2).
var errUsage = errors.New("usage")
