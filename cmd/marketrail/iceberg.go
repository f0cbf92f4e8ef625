//go:build !noiceberg

package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/marketrail/marketrail/pkg/iceberg"
	"github.com/marketrail/marketrail/pkg/lake"
	"github.com/marketrail/marketrail/pkg/storage"
)

// The Iceberg table format, in a standard build. (A build with -tags noiceberg leaves
// iceberg-go out, with its size and start-up cost: see iceberg_off.go.)

// icebergBuilt says whether this build can write Iceberg tables.
const icebergBuilt = true

// openIceberg returns the Iceberg format publishing to the catalog spec names, in
// namespace, with its warehouse at root (dest's URL), and what closes it.
func openIceberg(spec, namespace string, dest storage.Storage, root string, log *slog.Logger) (lake.Format, func(), error) {
	f, err := iceberg.New(iceberg.Config{CatalogSpec: spec, Namespace: namespace, Dest: dest, Root: root, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	return f, func() { f.Close() }, nil
}

// icebergUpkeep returns follow's upkeep of format's tables (nil for a format that needs
// none): expire the snapshots older than retention, with the files only they referenced,
// and orphan files.
func icebergUpkeep(format lake.Format, retention time.Duration, log *slog.Logger) func(context.Context) error {
	ice, ok := format.(*iceberg.Format)
	if !ok {
		return nil
	}
	return func(ctx context.Context) error {
		res, err := ice.Expire(ctx, retention)
		for _, r := range res {
			log.Info("iceberg snapshots expired", "table", r.Table, "snapshots_before", r.SnapshotsBefore, "snapshots_expired", r.SnapshotsExpired,
				"orphan_files_deleted", r.OrphansDeleted, "orphan_bytes", r.OrphanBytes)
		}
		return err
	}
}
