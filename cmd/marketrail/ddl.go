package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/marketrail/marketrail/pkg/athena"
	icebergdefaults "github.com/marketrail/marketrail/pkg/iceberg/defaults"
	"github.com/marketrail/marketrail/pkg/lake"
	"github.com/marketrail/marketrail/pkg/report"
)

const ddlUsage = `Usage: marketrail ddl --location s3://BUCKET/PREFIX [--database NAME]
       marketrail ddl --table-format iceberg --catalog SPEC [--database NAME]

Prints the Athena CREATE EXTERNAL TABLE statements for the tables marketrail writes under
--location (the same place as 'marketrail run --dest'): events and metering_records, in
Parquet, partitioned by event_date with partition projection, so no crawler, MSCK REPAIR
or Glue job is ever needed. Run them once in the Athena console or with
'aws athena start-query-execution'.

With --table-format iceberg it says how Athena sees the Iceberg tables of --catalog: those
of the Glue Data Catalog need no DDL (it prints the queries, compaction and expiry
statements); those of another catalog are not Athena's to read, and it says what is.

Flags:
%s`

func ddlCommand(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("marketrail ddl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	location := fs.String("location", "", "where the tables are: `s3://BUCKET/PREFIX`, as given to 'run --dest' (required)")
	database := fs.String("database", "", "the Athena database `NAME` to create the tables in (default: the query's current database; with --table-format iceberg, as given to 'run --database', default "+icebergdefaults.Namespace+")")
	format := fs.String("table-format", lake.FormatHive, "the tables' `FORMAT`, as given to 'run': hive or iceberg")
	catalog := fs.String("catalog", "", "with --table-format iceberg, the catalog `SPEC` given to 'run' (glue, rest+https://…, sqlite:FILE)")
	if code, done := parseArgs(fs, args, ddlUsage, stdout, stderr); done {
		return code
	}
	switch {
	case strings.ContainsAny(*database, "`'\" ;"):
		fmt.Fprintf(stderr, "marketrail ddl: --database %q is not a plain name\n", *database)
		return report.ExitUsage
	case *format == icebergdefaults.Format && *catalog == "":
		fmt.Fprintf(stderr, "marketrail ddl: --table-format iceberg needs --catalog, as given to 'run'\n")
		return report.ExitUsage
	case *format == icebergdefaults.Format && fs.NArg() == 0:
		fmt.Fprint(stdout, athena.IcebergGuide(*catalog, cmp.Or(*database, icebergdefaults.Namespace)))
		return report.ExitOK
	case *format != lake.FormatHive && *format != icebergdefaults.Format:
		fmt.Fprintf(stderr, "marketrail ddl: --table-format must be hive or iceberg\n")
		return report.ExitUsage
	case *catalog != "":
		fmt.Fprintf(stderr, "marketrail ddl: --catalog is for --table-format iceberg\n")
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
