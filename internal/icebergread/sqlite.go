package icebergread

import (
	"context"
	"database/sql"
	"fmt"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// SQLiteMetadataLocation returns the metadata location that iceberg-go's SQL
// catalog, kept in the SQLite file dbFile, records for the table namespace.table.
// namespace is as the catalog stores it: the levels joined by dots.
//
// It reads the catalog's iceberg_tables table with plain SQL, so a test
// finds the table's current metadata file the way any other engine
// sharing the catalog would, not through iceberg-go. Rows of every
// catalog_name are considered; more than one match is an error.
func SQLiteMetadataLocation(dbFile, namespace, table string) (string, error) {
	db, err := sql.Open("sqlite", "file:"+dbFile+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return "", fmt.Errorf("icebergread: open catalog %s: %w", dbFile, err)
	}
	defer db.Close()
	rows, err := db.QueryContext(context.Background(),
		`SELECT metadata_location FROM iceberg_tables WHERE table_namespace = ? AND table_name = ?`,
		namespace, table)
	if err != nil {
		return "", fmt.Errorf("icebergread: catalog %s: query table %s.%s: %w", dbFile, namespace, table, err)
	}
	defer rows.Close()
	var locs []sql.NullString
	for rows.Next() {
		var loc sql.NullString
		if err := rows.Scan(&loc); err != nil {
			return "", fmt.Errorf("icebergread: catalog %s: table %s.%s: %w", dbFile, namespace, table, err)
		}
		locs = append(locs, loc)
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("icebergread: catalog %s: table %s.%s: %w", dbFile, namespace, table, err)
	}
	switch {
	case len(locs) == 0:
		return "", fmt.Errorf("icebergread: catalog %s: no table %s.%s", dbFile, namespace, table)
	case len(locs) > 1:
		return "", fmt.Errorf("icebergread: catalog %s: %d rows for table %s.%s", dbFile, len(locs), namespace, table)
	case !locs[0].Valid || locs[0].String == "":
		return "", fmt.Errorf("icebergread: catalog %s: table %s.%s has no metadata_location", dbFile, namespace, table)
	}
	return locs[0].String, nil
}
