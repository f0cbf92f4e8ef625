package main

import (
	"database/sql"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// sizesJob prints, as markdown, how many bytes of Parquet each table of a lake (a local
// destination of marketrail run) holds, and how those bytes split over the columns, as the
// files' own metadata says (DuckDB's parquet_metadata: compressed bytes of each column chunk
// and its encodings). docs/performance.md's size table is made with it, before and after a
// change to the writer:
//
//	go run ./cmd/perftable sizes -lake DIR [-tables events,metering_records]
func sizesJob(args []string) int {
	fs := flag.NewFlagSet("sizes", flag.ExitOnError)
	lake := fs.String("lake", "", "the destination folder marketrail run wrote")
	tables := fs.String("tables", "events,metering_records", "the tables to measure")
	fs.Parse(args)
	if *lake == "" {
		fmt.Fprintln(os.Stderr, "sizes: -lake is required")
		return 2
	}
	if err := sizes(os.Stdout, *lake, strings.Split(*tables, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "sizes:", err)
		return 1
	}
	return 0
}

func sizes(out io.Writer, lake string, tables []string) error {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return err
	}
	defer db.Close()
	for _, table := range tables {
		files, err := filepath.Glob(filepath.Join(lake, table, "event_date=*", "[^_.]*.parquet"))
		if err != nil || len(files) == 0 {
			return fmt.Errorf("no Parquet files of table %s under %s", table, lake)
		}
		var total int64
		quoted := make([]string, len(files))
		for i, f := range files {
			st, err := os.Stat(f)
			if err != nil {
				return err
			}
			total += st.Size()
			quoted[i] = "'" + strings.ReplaceAll(f, "'", "''") + "'"
		}
		list := "[" + strings.Join(quoted, ",") + "]"
		var rows int64
		if err := db.QueryRow("SELECT count(*) FROM read_parquet(" + list + ")").Scan(&rows); err != nil {
			return err
		}
		fmt.Fprintf(out, "**%s**: %d files, %d rows, %d bytes of Parquet\n\n", table, len(files), rows, total)
		fmt.Fprintln(out, "| column | compressed bytes | uncompressed bytes | encodings |")
		fmt.Fprintln(out, "|---|---:|---:|---|")
		q := `SELECT path_in_schema, sum(total_compressed_size), sum(total_uncompressed_size),
			       string_agg(DISTINCT encodings, ' / ' ORDER BY encodings)
			FROM parquet_metadata(` + list + `)
			GROUP BY path_in_schema ORDER BY min(column_id)`
		res, err := db.Query(q)
		if err != nil {
			return err
		}
		for res.Next() {
			var path, enc string
			var comp, uncomp int64
			if err := res.Scan(&path, &comp, &uncomp, &enc); err != nil {
				res.Close()
				return err
			}
			fmt.Fprintf(out, "| %s | %d | %d | %s |\n", path, comp, uncomp, enc)
		}
		if err := res.Close(); err != nil {
			return err
		}
		if err := res.Err(); err != nil {
			return err
		}
		fmt.Fprintln(out)
	}
	return nil
}
