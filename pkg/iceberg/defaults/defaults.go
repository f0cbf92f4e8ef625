// Package defaults holds the names and defaults of marketrail's Iceberg tables that the
// command line shows, apart from package iceberg: a build without Iceberg support
// (go build -tags noiceberg, which leaves iceberg-go and its start-up cost out) still names
// them in its help and its errors.
package defaults

import "time"

const (
	// Format is the table format's name (--table-format).
	Format = "iceberg"
	// Namespace is the tables' namespace (Glue: database) unless --database says.
	Namespace = "marketrail"
	// CatalogSpec describes --catalog's forms, for messages.
	CatalogSpec = "sqlite:FILE, rest+https://HOST/PATH[?PROPERTY=VALUE&…] or glue"
	// Retention is how long snapshots (and the files only they reference) are kept by
	// expiry unless told otherwise: three days of time travel, and well above any
	// publication's time between its uploads and its commit, so that no orphan-file sweep
	// can take the files of a publication in progress.
	Retention = 72 * time.Hour
	// MinRetainSnapshots is how many of each table's latest snapshots expiry always keeps.
	MinRetainSnapshots = 10
)
