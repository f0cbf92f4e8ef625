// Package lake writes marketrail's tables as Hive-partitioned Parquet that Athena reads in
// place, and publishes them one delivery day at a time so that re-running a day replaces
// exactly the files that day wrote before.
//
// Layout of a destination:
//
//	TABLE/event_date=YYYY-MM-DD/DELIVERYDAY.parquet         rows of one delivery day in one partition
//	TABLE/event_date=YYYY-MM-DD/DELIVERYDAY-0001.parquet    ... when split into several files
//	_marketrail/days/DELIVERYDAY.json                       what that delivery day wrote
//
// File names depend only on the data (the delivery day and the row count), never on worker
// counts, timing or sharding, so a re-run writes the same names.
//
// Publishing a day follows a protocol that keeps the day manifest a superset of the files
// the day has on the destination at every instant, so a run killed anywhere leaves nothing the
// next run of the day does not clean up:
//
//  1. read the day's manifest, if any: the files it wrote before (old);
//  2. write the manifest as "publishing", listing old ∪ new;
//  3. publish each new file atomically (storage.Put);
//  4. delete old − new;
//  5. write the manifest as "complete", listing new.
package lake

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"

	"github.com/marketrail/marketrail/pkg/storage"
	"github.com/marketrail/marketrail/pkg/trail"
)

// ManifestDir holds one manifest per delivery day. It starts with '_' so that it can sit in
// a table's location without Athena reading it.
const ManifestDir = "_marketrail/days/"

// PartitionColumn is the Hive partition column of every table.
const PartitionColumn = "event_date"

// DefaultMaxRowsPerFile splits very large partitions of a day into several files.
const DefaultMaxRowsPerFile = 1_000_000

// Manifest records what one delivery day wrote.
type Manifest struct {
	DeliveryDay string    `json:"delivery_day"`
	State       string    `json:"state"` // StatePublishing or StateComplete
	Files       []string  `json:"files"` // every file the day owns, relative to the destination
	Tool        string    `json:"tool"`
	Version     string    `json:"version"`
	Updated     time.Time `json:"updated"`
}

// Manifest states.
const (
	StatePublishing = "publishing" // files may be partly published: Files lists old and new
	StateComplete   = "complete"   // Files lists exactly what the day wrote
)

// ManifestKey is the key of delivery day d's manifest.
func ManifestKey(d trail.Day) string { return ManifestDir + d.String() + ".json" }

// Writer publishes delivery days to a destination.
type Writer struct {
	Dest           storage.Storage
	Version        string // marketrail's version, recorded in files and manifests
	MaxRowsPerFile int    // 0 means DefaultMaxRowsPerFile
	TempDir        string // where files are staged before upload; "" means os.TempDir()
}

// Table is one table's rows for one delivery day. Make one with NewTable.
type Table interface {
	// Name is the table's name, and its folder in the destination.
	Name() string
	// files plans the table's files for delivery day d.
	files(d trail.Day, maxRows int) []file
}

// file is one planned output file: its key, its rows per partition, and how to write it.
type file struct {
	key       string
	partition trail.Day
	rows      int
	write     func(w io.Writer, meta []parquet.WriterOption) error
}

// NewTable returns the rows of table name as a Table. date gives a row's partition, and
// compare orders rows within a file (rows are sorted before writing: Parquet's
// sorting-columns metadata only labels a file, it does not sort it). sortColumn is the column
// the order is first by, recorded in each file's metadata.
func NewTable[T any](name string, rows []T, date func(*T) trail.Day, compare func(a, b *T) int, sortColumn string) Table {
	return &table[T]{name, rows, date, compare, sortColumn}
}

type table[T any] struct {
	name       string
	rows       []T
	date       func(*T) trail.Day
	compare    func(a, b *T) int
	sortColumn string
}

func (t *table[T]) Name() string { return t.name }

func (t *table[T]) files(d trail.Day, maxRows int) []file {
	byDate := map[trail.Day][]T{}
	for i := range t.rows {
		p := t.date(&t.rows[i])
		byDate[p] = append(byDate[p], t.rows[i])
	}
	dates := make([]trail.Day, 0, len(byDate))
	for p := range byDate {
		dates = append(dates, p)
	}
	slices.SortFunc(dates, func(a, b trail.Day) int { return cmp.Compare(a.String(), b.String()) })
	var out []file
	for _, p := range dates {
		rows := byDate[p]
		slices.SortStableFunc(rows, func(a, b T) int { return t.compare(&a, &b) })
		dir := t.name + "/" + PartitionColumn + "=" + p.String() + "/"
		chunks := (len(rows) + maxRows - 1) / maxRows
		for i := range chunks {
			chunk := rows[i*maxRows : min((i+1)*maxRows, len(rows))]
			key := dir + d.String() + ".parquet"
			if chunks > 1 {
				key = fmt.Sprintf("%s%s-%04d.parquet", dir, d, i+1)
			}
			out = append(out, file{key: key, partition: p, rows: len(chunk), write: func(w io.Writer, meta []parquet.WriterOption) error {
				opts := append(slices.Clip(meta), parquet.SortingWriterConfig(parquet.SortingColumns(parquet.Ascending(t.sortColumn))))
				pw := parquet.NewGenericWriter[T](w, opts...)
				if _, err := pw.Write(chunk); err != nil {
					return err
				}
				return pw.Close()
			}})
		}
	}
	return out
}

// Result is what PublishDay wrote.
type Result struct {
	Files []string                    // keys of the files written
	Rows  map[string]map[string]int64 // table → event_date → rows
}

// PublishDay writes delivery day d's tables and replaces whatever d wrote before, following
// the protocol in the package comment. A table with no rows writes no files.
func (w *Writer) PublishDay(ctx context.Context, d trail.Day, tables ...Table) (Result, error) {
	res := Result{Rows: map[string]map[string]int64{}}
	old, err := w.ReadManifest(ctx, d)
	if err != nil {
		return res, err
	}
	maxRows := w.MaxRowsPerFile
	if maxRows <= 0 {
		maxRows = DefaultMaxRowsPerFile
	}
	var plan []file
	for _, t := range tables {
		fs := t.files(d, maxRows)
		for _, f := range fs {
			part := res.Rows[t.Name()]
			if part == nil {
				part = map[string]int64{}
				res.Rows[t.Name()] = part
			}
			part[f.partition.String()] += int64(f.rows)
			res.Files = append(res.Files, f.key)
		}
		plan = append(plan, fs...)
	}
	var oldFiles []string
	if old != nil {
		oldFiles = old.Files
	}
	union := append(slices.Clone(oldFiles), res.Files...)
	slices.Sort(union)
	union = slices.Compact(union)
	if err := w.writeManifest(ctx, d, StatePublishing, union); err != nil {
		return res, err
	}
	meta := []parquet.WriterOption{
		parquet.Compression(&zstd.Codec{}),
		parquet.CreatedBy("marketrail", w.Version, ""),
		parquet.DataPageStatistics(true),
		parquet.KeyValueMetadata("marketrail.delivery_day", d.String()),
	}
	for _, f := range plan {
		if err := w.publish(ctx, f, meta); err != nil {
			return res, err
		}
	}
	for _, k := range oldFiles {
		if !slices.Contains(res.Files, k) {
			if err := w.Dest.Delete(ctx, k); err != nil {
				return res, fmt.Errorf("remove stale file of delivery day %s: %w", d, err)
			}
		}
	}
	slices.Sort(res.Files)
	return res, w.writeManifest(ctx, d, StateComplete, res.Files)
}

// publish writes one file to a local temporary file, then puts it on the destination.
func (w *Writer) publish(ctx context.Context, f file, meta []parquet.WriterOption) error {
	tmp, err := os.CreateTemp(w.TempDir, ".marketrail-*.parquet")
	if err != nil {
		return fmt.Errorf("stage %s: %w", f.key, err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if err := f.write(tmp, meta); err != nil {
		return fmt.Errorf("write %s: %w", f.key, err)
	}
	size, err := tmp.Seek(0, io.SeekCurrent)
	if err == nil {
		_, err = tmp.Seek(0, io.SeekStart)
	}
	if err != nil {
		return fmt.Errorf("stage %s: %w", f.key, err)
	}
	return w.Dest.Put(ctx, f.key, tmp, size)
}

// ReadManifest returns delivery day d's manifest, or nil if the day has none.
func (w *Writer) ReadManifest(ctx context.Context, d trail.Day) (*Manifest, error) {
	b, err := storage.ReadAll(ctx, w.Dest, ManifestKey(d))
	if errors.Is(err, storage.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read manifest of delivery day %s: %w", d, err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("manifest %s is damaged (%v): delete it and the day's files to rebuild the day", ManifestKey(d), err)
	}
	return &m, nil
}

func (w *Writer) writeManifest(ctx context.Context, d trail.Day, state string, files []string) error {
	m := Manifest{DeliveryDay: d.String(), State: state, Files: files, Tool: "marketrail", Version: w.Version, Updated: time.Now().UTC()}
	if m.Files == nil {
		m.Files = []string{}
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := w.Dest.Put(ctx, ManifestKey(d), bytes.NewReader(b), int64(len(b))); err != nil {
		return fmt.Errorf("write manifest of delivery day %s: %w", d, err)
	}
	return nil
}
