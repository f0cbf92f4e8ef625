// Package duckcheck reads marketrail's output back with DuckDB, an engine independent of the
// code that wrote it, the way Athena reads it: Parquet files under Hive partition folders.
// It is for tests only; the marketrail binary does not import it (a test checks).
package duckcheck

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2" // registers the "duckdb" driver
)

// Open returns an in-memory DuckDB database, closed when the test ends.
func Open(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatalf("open duckdb: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Table returns a FROM clause that reads table under dir as Athena would: every Parquet
// file below dir/table/, with the event_date partition column taken from the folder names.
// Files whose names start with '_' or '.' are not matched.
func Table(dir, table string) string {
	glob := strings.ReplaceAll(dir, "'", "''") + "/" + table + "/*/[!_.]*.parquet"
	return fmt.Sprintf("read_parquet('%s', hive_partitioning = true, filename = true)", glob)
}

// Strings runs query and returns each row as strings (NULL as "NULL").
func Strings(t testing.TB, db *sql.DB, query string, args ...any) [][]string {
	t.Helper()
	rows, err := db.Query(query, args...)
	if err != nil {
		t.Fatalf("duckdb: %v\n%s", err, query)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out [][]string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatalf("duckdb scan: %v", err)
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			row[i] = "NULL"
			if v.Valid {
				row[i] = v.String
			}
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("duckdb: %v", err)
	}
	return out
}
