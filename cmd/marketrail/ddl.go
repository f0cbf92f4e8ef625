package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/marketrail/marketrail/pkg/athena"
	"github.com/marketrail/marketrail/pkg/report"
)

const ddlUsage = `Usage: marketrail ddl --location s3://BUCKET/PREFIX [--database NAME]

Prints the Athena CREATE EXTERNAL TABLE statements for the tables marketrail writes under
--location (the same place as 'marketrail run --dest'): events and metering_records, in
Parquet, partitioned by event_date with partition projection, so no crawler, MSCK REPAIR
or Glue job is ever needed. Run them once in the Athena console or with
'aws athena start-query-execution'.

Flags:
%s`

func ddlCommand(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("marketrail ddl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	location := fs.String("location", "", "where the tables are: `s3://BUCKET/PREFIX`, as given to 'run --dest' (required)")
	database := fs.String("database", "", "the Athena database `NAME` to create the tables in (default: the query's current database)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stdout, ddlUsage, flagDefaults(fs))
			return report.ExitOK
		}
		fmt.Fprintf(stderr, "marketrail ddl: %v\nRun 'marketrail ddl --help' for usage.\n", parseError(fs, err))
		return report.ExitUsage
	}
	bucket, _, ok := parseS3(*location)
	switch {
	case !ok || bucket == "":
		fmt.Fprintf(stderr, "marketrail ddl: --location must be s3://BUCKET/PREFIX\n")
		return report.ExitUsage
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "marketrail ddl: unexpected argument %q\n", fs.Arg(0))
		return report.ExitUsage
	case strings.ContainsAny(*database, "`'\" ;"):
		fmt.Fprintf(stderr, "marketrail ddl: --database %q is not a plain name\n", *database)
		return report.ExitUsage
	}
	stmts, err := athena.DDL(*database, *location)
	if err != nil {
		fmt.Fprintf(stderr, "marketrail: %v\n", err)
		return report.ExitFatal
	}
	fmt.Fprintln(stdout, strings.Join(stmts, "\n"))
	return report.ExitOK
}
