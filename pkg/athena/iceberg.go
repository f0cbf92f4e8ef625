package athena

import (
	"fmt"
	"strings"

	"github.com/marketrail/marketrail/pkg/marketplace"
)

// IcebergGuide returns what to run for Athena to query the Iceberg tables of a catalog
// (--catalog: glue, rest+https://…, sqlite:FILE) in database (the catalog namespace), as
// SQL: statements for what Athena can do, comments for the rest.
//
// Athena reads Iceberg tables through the AWS Glue Data Catalog: tables marketrail commits
// with --catalog glue, or through Glue's Iceberg REST endpoint (glue.REGION.amazonaws.com/
// iceberg), are Athena's as they are — no DDL. Its CREATE TABLE … 'table_type'='ICEBERG'
// would make a new, empty table of its own, not register marketrail's, so it is never
// printed. Tables in another catalog (SQLite, another REST catalog) are not visible to
// Athena: the guide says so, and what reads them instead. The maintenance statements
// (OPTIMIZE, VACUUM) are Athena's own for Glue tables.
func IcebergGuide(catalog, database string) string {
	var b strings.Builder
	glue := catalog == "glue" || strings.HasPrefix(catalog, "rest+https://glue.")
	tables := marketplace.Tables()
	if glue {
		fmt.Fprintf(&b, "-- The tables are Apache Iceberg tables of the AWS Glue Data Catalog, database %s:\n", database)
		b.WriteString("-- Athena (engine version 3) queries them as they are; there is nothing to create.\n")
		for _, t := range tables {
			fmt.Fprintf(&b, "SELECT count(*) FROM %q.%q;\n", database, t.Name)
		}
		b.WriteString(`
-- Snapshots: each publication of a delivery day is one commit per table. Look back in time:
--   SELECT count(*) FROM "` + database + `"."events" FOR TIMESTAMP AS OF (current_timestamp - interval '1' day);
-- History: SELECT * FROM "` + database + `"."events$snapshots";  (the summary names the delivery day)

-- Compaction (small files of many delivery days into fewer): run it on days marketrail no
-- longer publishes again (older than --lookback, and than any backfill in progress):
-- a compacted file holds rows of several delivery days, and a later publication of one of
-- them would not replace its rows there.
`)
		for _, t := range tables {
			fmt.Fprintf(&b, "OPTIMIZE %q.%q REWRITE DATA USING BIN_PACK WHERE event_time < current_date - interval '7' day;\n", database, t.Name)
		}
		b.WriteString(`
-- Expiry of old snapshots and of the files only they reference (marketrail follow does it
-- hourly itself, see --snapshot-retention). VACUUM uses the table properties
-- vacuum_max_snapshot_age_seconds (default 5 days) and vacuum_min_snapshots_to_keep:
`)
		for _, t := range tables {
			fmt.Fprintf(&b, "VACUUM %q.%q;\n", database, t.Name)
		}
		return b.String()
	}
	fmt.Fprintf(&b, `-- The tables are Apache Iceberg tables of the catalog %s, namespace %s.
-- Athena reads Iceberg tables only through the AWS Glue Data Catalog, so it does not see
-- these. Query them with an engine that reads this catalog (Spark, Trino, Flink, PyIceberg,
-- DuckDB's iceberg extension over the current metadata file), or write the tables to Glue
-- instead: marketrail run --table-format iceberg --catalog glue (or Glue's Iceberg REST
-- endpoint, rest+https://glue.REGION.amazonaws.com/iceberg?warehouse=ACCOUNT_ID).
-- A destination holds one table format and one catalog: start a new destination for Glue.
`, catalog, database)
	return b.String()
}
