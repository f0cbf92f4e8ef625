package iceberg

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/apache/iceberg-go/table"

	"github.com/marketrail/marketrail/pkg/iceberg/defaults"
)

// DefaultRetention is how long Expire keeps snapshots unless told otherwise (see
// defaults.Retention).
const DefaultRetention = defaults.Retention

// MinRetainSnapshots is how many of each table's latest snapshots Expire always keeps.
const MinRetainSnapshots = defaults.MinRetainSnapshots

// ExpireResult is what Expire removed from one table.
type ExpireResult struct {
	Table            string
	SnapshotsBefore  int
	SnapshotsExpired int
	OrphansDeleted   int
	OrphanBytes      int64
}

// Expire removes, in each table, the snapshots older than retention (keeping at least
// MinRetainSnapshots) and the files they alone referenced, then the orphan files older than
// retention: data files of publications that never committed (a run killed between its
// uploads and its commit) and metadata files of commits that lost a conflict. A follow
// process committing every minute makes some 1,440 snapshots a day per table; this keeps
// the tables' metadata, and the work of every later commit, bounded. The day manifests
// under _marketrail/ are outside the tables' locations and are never touched. The Format
// must have been prepared (a run's or follow's claim of the destination does it once).
func (f *Format) Expire(ctx context.Context, retention time.Duration) ([]ExpireResult, error) {
	ctx = f.ctx(ctx)
	if f.cfg.Catalog == nil {
		return nil, errors.New("expire snapshots: the Iceberg tables are not prepared (Prepare)")
	}
	var out []ExpireResult
	for _, name := range f.names() {
		def := f.tables[name]
		res := ExpireResult{Table: name}
		err := f.retry(ctx, "expire snapshots", name, func() (bool, error) {
			tbl, err := f.cfg.Catalog.LoadTable(ctx, def.ident)
			if err != nil {
				return false, err
			}
			res.SnapshotsBefore = len(tbl.Metadata().Snapshots())
			tx := tbl.NewTransaction()
			if err := tx.ExpireSnapshots(table.WithOlderThan(retention), table.WithRetainLast(MinRetainSnapshots)); err != nil {
				return false, err
			}
			after, err := tx.Commit(ctx)
			if err != nil {
				return false, err
			}
			res.SnapshotsExpired = res.SnapshotsBefore - len(after.Metadata().Snapshots())
			return true, nil
		})
		if err != nil {
			return out, fmt.Errorf("table %s.%s: %w", f.cfg.Namespace, name, err)
		}
		tbl, err := f.cfg.Catalog.LoadTable(ctx, def.ident)
		if err != nil {
			return out, fmt.Errorf("table %s.%s: %w", f.cfg.Namespace, name, err)
		}
		orphans, err := tbl.DeleteOrphanFiles(ctx, table.WithFilesOlderThan(retention))
		if err != nil {
			return out, fmt.Errorf("table %s.%s: delete orphan files: %w", f.cfg.Namespace, name, err)
		}
		res.OrphansDeleted, res.OrphanBytes = len(orphans.DeletedFiles), orphans.TotalSizeBytes
		out = append(out, res)
	}
	return out, nil
}
