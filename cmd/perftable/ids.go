package main

import (
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/marketrail/marketrail/internal/gentrail"
)

// The contenders are compared on the same job only if they find the same events: every
// marketrail and DuckDB run on a local archive has its written event_id values read back
// and compared with the distinct eventIDs of the archive's Marketplace records (from the
// generator's manifest), and DuckDB's also with those of the last marketrail run on the
// same archive. A run that finds more, fewer or other events fails perftable.

// manifestIDs are the distinct eventIDs of m's Marketplace record copies, sorted.
func manifestIDs(m *gentrail.Manifest) []string {
	var ids []string
	for _, c := range m.Copies {
		if c.EventID != "" {
			ids = append(ids, c.EventID)
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// parquetIDs reads the distinct event_id values of the Parquet files matching glob, sorted,
// with DuckDB (linked into perftable for its peer). A record without an eventID is left out,
// as manifestIDs leaves it out, whether a contender wrote it as null or as "".
func parquetIDs(glob string) ([]string, error) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	q := fmt.Sprintf("SELECT DISTINCT event_id FROM read_parquet('%s', hive_partitioning = false) WHERE event_id IS NOT NULL AND event_id <> '' ORDER BY event_id",
		strings.ReplaceAll(glob, "'", "''"))
	rows, err := db.Query(q)
	if err != nil {
		return nil, fmt.Errorf("event_id of %s: %w", glob, err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("event_id of %s: %w", glob, err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("event_id of %s: %w", glob, err)
	}
	return ids, nil
}

// sameIDs returns nil when got and want, both sorted and without duplicates, hold the same
// ids, else an error that counts the ids only one of them holds and names a few.
func sameIDs(got, want []string) error {
	var missing, extra []string
	i, j := 0, 0
	for i < len(got) || j < len(want) {
		switch {
		case j == len(want) || (i < len(got) && got[i] < want[j]):
			extra = append(extra, got[i])
			i++
		case i == len(got) || want[j] < got[i]:
			missing = append(missing, want[j])
			j++
		default:
			i++
			j++
		}
	}
	if len(missing) == 0 && len(extra) == 0 {
		return nil
	}
	return fmt.Errorf("%d of %d event ids missing (%s), %d extra (%s)", len(missing), len(want), few(missing), len(extra), few(extra))
}

// few names at most three of ids.
func few(ids []string) string {
	if len(ids) > 3 {
		return strings.Join(ids[:3], ", ") + ", …"
	}
	return strings.Join(ids, ", ")
}
