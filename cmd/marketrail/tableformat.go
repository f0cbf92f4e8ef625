package main

import (
	"cmp"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"

	icebergdefaults "github.com/marketrail/marketrail/pkg/iceberg/defaults"
	"github.com/marketrail/marketrail/pkg/lake"
	"github.com/marketrail/marketrail/pkg/storage"
)

// tableFormatOptions are the flags that choose the table format: --table-format,
// --catalog and --database.
type tableFormatOptions struct {
	tableFormat string
	catalog     string
	database    string
}

func (o *tableFormatOptions) flags(fs *flag.FlagSet) {
	fs.StringVar(&o.tableFormat, "table-format", lake.FormatHive, "the tables' `FORMAT`: hive (Parquet in Hive-style folders, Athena reads them with the DDL of 'marketrail ddl') or iceberg (Apache Iceberg v2 tables in a catalog; see docs/iceberg.md); one format per destination")
	fs.StringVar(&o.catalog, "catalog", "", "with --table-format iceberg, the Iceberg catalog `SPEC`: "+icebergdefaults.CatalogSpec+" (default for a local --dest: sqlite:DEST/_marketrail/iceberg-catalog.db; an s3:// --dest needs one)")
	fs.StringVar(&o.database, "database", "", "with --table-format iceberg, the catalog namespace `NAME` (Glue: database) of the tables (default "+icebergdefaults.Namespace+")")
}

// check checks the flags against the destination dest.
func (o *tableFormatOptions) check(dest string) error {
	switch o.tableFormat {
	case lake.FormatHive, "": // "": options made without the flags, in tests
		if o.catalog != "" || o.database != "" {
			return fmt.Errorf("%w: --catalog and --database are for --table-format iceberg", errUsage)
		}
	case icebergdefaults.Format:
		if !icebergBuilt {
			return fmt.Errorf("%w: --table-format iceberg: this marketrail was built without Iceberg support (-tags noiceberg); use a standard build", errUsage)
		}
		if _, _, isS3 := parseS3(dest); isS3 && o.catalog == "" {
			return fmt.Errorf("%w: --table-format iceberg with an s3:// --dest needs --catalog: glue, rest+https://… or sqlite:FILE (a file on this host)", errUsage)
		}
	default:
		return fmt.Errorf("%w: --table-format must be hive or iceberg", errUsage)
	}
	return nil
}

// open returns the table format to publish to (nil for Hive) and what closes it; dest is
// the destination as opened, at location loc (--dest).
func (o *tableFormatOptions) open(loc string, dest storage.Storage, log *slog.Logger) (lake.Format, func(), error) {
	if o.tableFormat != icebergdefaults.Format {
		return nil, func() {}, nil
	}
	root := dest.String()
	spec := o.catalog
	if _, _, isS3 := parseS3(loc); !isS3 {
		abs, err := filepath.Abs(loc)
		if err != nil {
			return nil, nil, err
		}
		root = "file://" + filepath.ToSlash(abs)
		if spec == "" {
			spec = "sqlite:" + filepath.Join(abs, "_marketrail", "iceberg-catalog.db")
		}
	}
	return openIceberg(spec, cmp.Or(o.database, icebergdefaults.Namespace), dest, root, log)
}
