// Package lake writes marketrail's tables as Hive-partitioned Parquet that Athena reads in
// place, and publishes them one delivery day at a time so that re-running a day replaces
// exactly the files that day wrote before.
//
// Layout of a destination:
//
//	TABLE/event_date=YYYY-MM-DD/DELIVERYDAY.parquet         rows of one delivery day in one partition
//	TABLE/event_date=YYYY-MM-DD/DELIVERYDAY-0001.parquet    ... when split into several files
//	_marketrail/days/DELIVERYDAY.json                       what that delivery day wrote
//	_marketrail/quarantine/DELIVERYDAY.jsonl.gz             its records that could not become rows
//
// The quarantine file is one of the day's files (see Quarantine), published, listed and
// replaced like its Parquet files.
//
// File names depend only on the data (the delivery day and the row count), never on worker
// counts, timing or sharding, so a re-run writes the same names. With a table format
// (Writer.Format, Iceberg) this is the one departure: a file a table's snapshot referenced
// must never be overwritten (time travel reads it), so its data files carry the publication's
// id besides (TABLE/data/event_date=D/DELIVERYDAY[-NNNN].PUBLICATION.parquet, see
// PublicationKey); a file whose bytes are unchanged keeps the name it was published under.
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
//
// # Leases
//
// Runs that overlap (a backfill beside the nightly job, a schedule fired twice) take turns
// on a delivery day through its lease, _marketrail/leases/DAY.json, which no two runs hold at
// once (Leaser, Lease). It holds the holder (host:pid:token, a token random per run), its
// TTL and when it was taken and renewed. The store must enforce conditional writes
// (storage.Conditional, checked at a run's start by CheckLeases):
//
//   - take: create the lease only if absent (S3: PutObject with If-None-Match: *; a local
//     folder: an exclusive create). If it exists, read it: if its Last-Modified plus its
//     TTL (plus LeaseClockGrace, for the headers' one-second resolution) is past the Date
//     of the store's answer — the store's clock, never the local one — its holder is gone
//     (killed, or paused past its TTL): take it over with a write conditional on its ETag
//     (If-Match). Else wait and try again, up to LeaseOptions.Wait (about one TTL); a day
//     still held then is not done by this run (HeldError; the run reports it held).
//   - hold: rewrite the lease every TTL/6, conditional on the ETag of the last write. A
//     412 (someone else wrote it) means the lease is lost, unless the lease holds this run's
//     token (an earlier attempt of the same write succeeded and its answer was lost).
//   - fence: before each PUT or DELETE of the day's files and each manifest write, the
//     holder checks that at least LeaseOptions.Margin (half the TTL) is left of its lease,
//     measured on its own monotonic clock from before its last successful write of the
//     lease (never later than the Last-Modified others judge it by). Each manifest write is
//     moreover conditional on the manifest's ETag as the run last saw it under the lease
//     (when it compared the day's listing with it, then after each of its own writes), so
//     a run paused between its fence and its write cannot overwrite its successor's
//     manifest: the write fails with ErrLeaseLost, and so does the run.
//   - release: delete the lease, conditional on its ETag (S3: DeleteObject with If-Match);
//     a lease taken over meanwhile is left to its new holder.
//
// S3 answers 409 ConditionalRequestConflict when two conditional writes of a key race:
// nothing was written, and the write is decided again (re-read, retried).
//
// A run takes a day's lease before it lists the day (so a run that waited lists what the
// other wrote from, and the files that arrived since), compares the listing with the
// manifest under it, and holds it through the publishing protocol above until the manifest
// is final; a day found unchanged releases it at once. A day's manifest records the holder
// that wrote it (Manifest.Holder). Follow mode and other table formats build on this:
// whatever writes a day's files does so under the day's lease, fenced the same way.
package lake

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parquet-go/parquet-go"
	"golang.org/x/sync/errgroup"

	"github.com/marketrail/marketrail/pkg/storage"
	"github.com/marketrail/marketrail/pkg/trail"
)

// ManifestDir holds one manifest per delivery day. It starts with '_' so that it can sit in
// a table's location without Athena reading it.
const ManifestDir = "_marketrail/days/"

// PartitionColumn is the Hive partition column of every table.
const PartitionColumn = "event_date"

// publishConcurrency is how many files a Writer encodes and uploads at once, over all the
// days it is publishing.
const publishConcurrency = 4

// diskPagesRows is how many rows a file may have and still have its compressed pages wait
// in memory until the file is finished; a larger file's wait in temporary files beside it
// ($TMPDIR/.marketrail-pages-*, one per column), so that writing a busy day's file of
// 100,000 events (some 20 MB of compressed pages) does not hold it all in memory. Small
// files, most of them, are spared the files' system calls. The files written are the same
// either way.
const diskPagesRows = 10_000

// DefaultMaxRowsPerFile splits very large partitions of a day into several files.
const DefaultMaxRowsPerFile = 1_000_000

// DictionaryMaxBytes caps each column's dictionary in a file. The row types ask for
// dictionary encoding (the `dict` option of their parquet tags) on columns that are usually
// of few distinct values; when one is not — a trail full of distinct session ARNs, say — its
// dictionary, which parquet-go holds in memory until the file is finished, would grow with
// the file. Past this size (checked as each page is finished) the column's later pages are
// written plain instead: standard Parquet, where a column chunk may mix dictionary and plain
// pages, and its footer's encoding statistics say which it has.
const DictionaryMaxBytes = 1 << 20

// Manifest records what one delivery day wrote, and from what.
type Manifest struct {
	DeliveryDay string   `json:"delivery_day"`
	State       string   `json:"state"`  // StatePublishing, StatePartial or StateComplete
	Files       []string `json:"files"`  // every file the day owns, relative to the destination
	Inputs      []Input  `json:"inputs"` // the objects of the day's folders, sorted by key
	// Tail is the previous delivery day's tail (its log files from 23:00Z on, see
	// trail.InTail), sorted by key: the day's events whose eventID is there were dropped,
	// so the day depends on these files too.
	Tail []Input `json:"tail"`
	// Settings is what else shaped the day's output; Fingerprint hashes it with Tail.
	// A manifest without a fingerprint (written before marketrail kept one) never matches.
	Settings    *Settings `json:"settings,omitempty"`
	Fingerprint string    `json:"fingerprint,omitempty"`
	// Matched is, by key, how many records the filter selected in each input that holds any,
	// and -1 for an input that could not be read (failed, archived); an input absent holds
	// none. nil in manifests written before marketrail kept it: every input may hold some.
	// It is derived from Inputs (the files and the settings decide it), so it takes no part
	// in Stale; follow uses it to read again only the log files that give the day rows.
	Matched map[string]int `json:"matched"`
	// Sizes is each file's size in bytes (absent in manifests written before it was kept):
	// a day is unchanged only while its files are still there with these sizes.
	Sizes map[string]int64 `json:"sizes,omitempty"`
	// Hashes is each file's SHA-256 (hex; absent in manifests written before it was kept):
	// a day published again does not upload a file whose bytes are the same (marketrail
	// follow publishes the current day every interval, and most intervals bring no rows).
	Hashes map[string]string           `json:"hashes,omitempty"`
	Rows   map[string]map[string]int64 `json:"rows"` // table → event_date → rows
	// Holder is the run that wrote the manifest, as its lease names it (host:pid:token);
	// empty when written with --no-lease (or before leases).
	Holder  string    `json:"holder,omitempty"`
	Tool    string    `json:"tool"`
	Version string    `json:"version"`
	Updated time.Time `json:"updated"`
}

// Input is one object of a delivery day's folders, as listed.
type Input struct {
	Key  string `json:"key"`
	Size int64  `json:"size"`
	ETag string `json:"etag"`
}

// Settings are the settings of a run that shape what a delivery day writes, beside its
// inputs: a day written with other settings is written again.
type Settings struct {
	EventSources   []string `json:"event_sources"`     // the sources kept; empty: AWS Marketplace
	SchemaHash     string   `json:"schema_hash"`       // hash of the tables' Parquet schemas
	DecoderVersion int      `json:"decoder_version"`   // marketplace.DecoderVersion
	VerifyDigests  bool     `json:"verify_digests"`    // --verify-digests fills source_digest
	MaxRowsPerFile int      `json:"max_rows_per_file"` // it changes file names
	// TableFormat is the Format's name; "" for Hive. (A destination holds one format, but
	// the data files of each differ: Iceberg's carry field ids and µs timestamps.)
	TableFormat string `json:"table_format,omitempty"`
}

// Sources is everything a delivery day's output is made from: what a run compares with
// the day's manifest to decide whether to write the day again.
type Sources struct {
	Inputs   []Input // the objects of the day's folders, sorted by key
	Tail     []Input // the previous day's tail log files, sorted by key
	Settings Settings
	Matched  map[string]int // Manifest.Matched; nil when not known
}

// MayMatch reports whether input key of a day whose manifest is m may hold records the
// filter selects: always unless m counted them (Manifest.Matched) and found none.
func (m *Manifest) MayMatch(key string) bool {
	if m == nil || m.Matched == nil {
		return true
	}
	return m.Matched[key] != 0
}

// Fingerprint hashes what shapes a day's output besides its own inputs: the settings and
// the previous day's tail.
func (s *Sources) Fingerprint() string {
	b, err := json.Marshal(struct {
		Settings Settings `json:"settings"`
		Tail     []Input  `json:"tail"`
	}{normal(s.Settings), s.Tail})
	if err != nil {
		panic(err) // plain structs always marshal
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Manifest states.
const (
	StatePublishing = "publishing" // files may be partly published: Files lists old and new
	StatePartial    = "partial"    // published, but some inputs could not be read: run the day again
	StateComplete   = "complete"   // Files lists exactly what the day wrote from Inputs
)

// Reasons a delivery day is written (or, with ReasonUnchanged, skipped), as Stale gives
// them and the run report shows them.
const (
	ReasonNew              = "new"               // no manifest: never written here
	ReasonPublishing       = "publishing"        // a run stopped while publishing it
	ReasonPartial          = "partial"           // written without some inputs, which could not be read
	ReasonInputsChanged    = "inputs_changed"    // its own folders' objects changed
	ReasonNeighbourChanged = "neighbour_changed" // the previous day's tail changed
	ReasonSettingsChanged  = "settings_changed"  // written with other settings, or before manifests kept them
	ReasonForced           = "forced"            // --force
	ReasonOutputsChanged   = "outputs_changed"   // a file it wrote is gone or has another size
	ReasonUnchanged        = "unchanged"         // complete, same inputs and settings: skipped
	ReasonHeld             = "held"              // another run held its lease throughout the wait: not done
)

// Stale compares the manifest m (nil: none) with what a run would write the day from, and
// returns why the day must be written again, or ReasonUnchanged when running it again
// would write the same files.
func (m *Manifest) Stale(s *Sources) string {
	switch {
	case m == nil:
		return ReasonNew
	case m.State == StatePublishing:
		return ReasonPublishing
	case m.State != StateComplete:
		return ReasonPartial
	case !slices.Equal(m.Inputs, s.Inputs):
		return ReasonInputsChanged
	case m.Settings == nil || !reflect.DeepEqual(normal(*m.Settings), normal(s.Settings)):
		return ReasonSettingsChanged
	case !slices.Equal(m.Tail, s.Tail):
		return ReasonNeighbourChanged
	case m.Fingerprint != s.Fingerprint():
		return ReasonSettingsChanged
	}
	return ReasonUnchanged
}

// Equal reports whether s and o shape a day's output the same (an empty and a nil list of
// event sources are the same).
func (s Settings) Equal(o Settings) bool { return reflect.DeepEqual(normal(s), normal(o)) }

// normal makes empty and nil lists of settings compare equal.
func normal(s Settings) Settings {
	if len(s.EventSources) == 0 {
		s.EventSources = nil
	}
	return s
}

// Unchanged reports whether m records a complete day made from exactly s, so running the
// day again would write the same files.
func (m *Manifest) Unchanged(s *Sources) bool { return m.Stale(s) == ReasonUnchanged }

// ManifestKey is the key of delivery day d's manifest.
func ManifestKey(d trail.Day) string { return ManifestDir + d.String() + ".json" }

// Writer publishes delivery days to a destination.
type Writer struct {
	Dest           storage.Storage
	Version        string // marketrail's version, recorded in files and manifests
	MaxRowsPerFile int    // 0 means DefaultMaxRowsPerFile
	TempDir        string // where files are staged before upload; "" means os.TempDir()
	// Hook, if set, is called at the named moments of publishing (HookUpload, halfway
	// through sending a file; HookPublished, after a day's files are published and before
	// its manifest says so; HookCommitted, with a table format, after each table's
	// commit). Tests use it to kill the process at the dangerous moments.
	Hook func(point string)
	// Format, if set, is the table format the day's data files are published to (Iceberg);
	// nil publishes the Hive layout of the package comment.
	Format Format

	once  sync.Once
	codec *zstdCodec    // shared, so its pooled encoders serve every file
	slots chan struct{} // publishConcurrency files at once
}

func (w *Writer) init() {
	w.once.Do(func() {
		w.codec = &zstdCodec{}
		w.slots = make(chan struct{}, publishConcurrency)
	})
}

// Hook points.
const (
	HookUpload    = "upload"
	HookPublished = "published"
)

func (w *Writer) hook(point string) {
	if w.Hook != nil {
		w.Hook(point)
	}
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
	uncounted bool         // not table rows: left out of Result.Rows (the quarantine)
	row       reflect.Type // the rows' Go type; nil for the quarantine
	write     func(w io.Writer, meta []parquet.WriterOption) error
	// Set by PublishLeased:
	table   string // the table's name
	planned string // with a table format: the key before its publication id
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
	// Rows are large structs: group and sort their indexes, then move each row once, in
	// place, into partition and file order, so that every file writes a sub-slice of rows.
	byDate := map[trail.Day][]int{}
	for i := range t.rows {
		p := t.date(&t.rows[i])
		byDate[p] = append(byDate[p], i)
	}
	dates := make([]trail.Day, 0, len(byDate))
	for p := range byDate {
		dates = append(dates, p)
	}
	slices.SortFunc(dates, func(a, b trail.Day) int { return cmp.Compare(a.String(), b.String()) })
	order := make([]int, 0, len(t.rows))
	parts := make([]Partition, 0, len(dates))
	for _, p := range dates {
		idx := byDate[p]
		slices.SortStableFunc(idx, func(i, j int) int { return t.compare(&t.rows[i], &t.rows[j]) })
		order = append(order, idx...)
		parts = append(parts, Partition{Date: p, Rows: len(idx)})
	}
	permute(t.rows, order)
	starts := make(map[trail.Day]int, len(parts))
	at := 0
	for _, p := range parts {
		starts[p.Date] = at
		at += p.Rows
	}
	return planFiles(t.name, d, maxRows, parts, reflect.TypeFor[T](), func(p trail.Day, from, to int) func(io.Writer, []parquet.WriterOption) error {
		rows := t.rows[starts[p]+from : starts[p]+to]
		return func(w io.Writer, meta []parquet.WriterOption) error {
			pw := parquet.NewGenericWriter[T](w, fileOptions(meta, t.sortColumn)...)
			if _, err := pw.Write(rows); err != nil {
				return err
			}
			return pw.Close()
		}
	})
}

// fileOptions are the writer options of one file of a table: the Writer's, and the column
// the file's rows are sorted by.
func fileOptions(meta []parquet.WriterOption, sortColumn string) []parquet.WriterOption {
	return append(slices.Clip(meta), parquet.SortingWriterConfig(parquet.SortingColumns(parquet.Ascending(sortColumn))))
}

// planFiles plans the files of table name for delivery day d: each partition's rows, in
// order, split into files of at most maxRows rows; write makes the function that writes
// rows [from, to) of partition p.
func planFiles(name string, d trail.Day, maxRows int, parts []Partition, row reflect.Type, write func(p trail.Day, from, to int) func(io.Writer, []parquet.WriterOption) error) []file {
	var out []file
	for _, p := range parts {
		if p.Rows == 0 {
			continue
		}
		dir := name + "/" + PartitionColumn + "=" + p.Date.String() + "/"
		chunks := (p.Rows + maxRows - 1) / maxRows
		for i := range chunks {
			from, to := i*maxRows, min((i+1)*maxRows, p.Rows)
			key := dir + d.String() + ".parquet"
			if chunks > 1 {
				key = fmt.Sprintf("%s%s-%04d.parquet", dir, d, i+1)
			}
			out = append(out, file{key: key, partition: p.Date, rows: to - from, row: row, write: write(p.Date, from, to)})
		}
	}
	return out
}

// permute rearranges rows in place so that rows[k] becomes the old rows[order[k]], moving
// each row once; order must be a permutation of the indexes of rows, and is used up.
func permute[T any](rows []T, order []int) {
	for i := range order {
		if order[i] < 0 {
			continue // placed by an earlier cycle
		}
		held := rows[i]
		for j := i; ; {
			src := order[j]
			order[j] = -1
			if src == i {
				rows[j] = held
				break
			}
			rows[j] = rows[src]
			j = src
		}
	}
}

// Result is what PublishDay wrote.
type Result struct {
	Files  []string                    // keys of the files written
	Sizes  map[string]int64            // each file's size in bytes
	Hashes map[string]string           // each file's SHA-256, hex
	Rows   map[string]map[string]int64 // table → event_date → rows
	// Kept counts the files not uploaded again: the day's manifest records the same bytes
	// under the same key, and the file is there.
	Kept int
}

// PublishDay writes delivery day d's tables and replaces whatever d wrote before, following
// the protocol in the package comment. A table with no rows writes no files. src is what the
// tables were made from, recorded in the manifest; complete says whether every input was
// read (else the manifest says partial, and the day is run again next time).
func (w *Writer) PublishDay(ctx context.Context, d trail.Day, src *Sources, complete bool, tables ...Table) (Result, error) {
	return w.PublishLeased(ctx, d, nil, src, complete, tables...)
}

// PublishLeased is PublishDay fenced by lease, d's lease (nil: none, as PublishDay): each
// PUT and DELETE of the day's files first checks that the lease is safely held
// (Lease.Check), and each manifest write is conditional on the manifest's ETag as last seen
// under the lease (Lease.SawManifest), so a run that lost its lease writes nothing more.
func (w *Writer) PublishLeased(ctx context.Context, d trail.Day, lease *Lease, src *Sources, complete bool, tables ...Table) (Result, error) {
	w.init()
	res := Result{Rows: map[string]map[string]int64{}, Sizes: map[string]int64{}, Hashes: map[string]string{}}
	var sizesMu sync.Mutex
	var old *Manifest
	var err error
	if lease == nil {
		old, err = w.ReadManifest(ctx, d)
	} else {
		var etag string
		old, etag, err = w.ReadManifestVersion(ctx, d)
		lease.mu.Lock()
		seen, want := lease.manifestSeen, lease.manifestETag
		lease.mu.Unlock()
		if err == nil && seen && etag != want {
			err = fmt.Errorf("%w: the manifest of delivery day %s changed while this run held its lease", ErrLeaseLost, d)
		}
		if err == nil && !seen { // --force: the listing was not compared with it
			lease.SawManifest(etag)
		}
	}
	if err != nil {
		return res, err
	}
	maxRows := w.MaxRowsPerFile
	if maxRows <= 0 {
		maxRows = DefaultMaxRowsPerFile
	}
	var pub string // with a table format, this publication's id
	if w.Format != nil {
		pub = NewPublication()
	}
	var plan []file
	var tableNames []string // the tables of rows, with or without files
	for _, t := range tables {
		if _, q := t.(quarantine); !q {
			tableNames = append(tableNames, t.Name())
		}
		fs := t.files(d, maxRows)
		for i := range fs {
			f := &fs[i]
			f.table = t.Name()
			if w.Format != nil && !f.uncounted {
				f.planned = t.Name() + "/" + DataDir + strings.TrimPrefix(f.key, t.Name()+"/")
				f.key = PublicationKey(f.planned, pub)
			}
			res.Files = append(res.Files, f.key)
			if f.uncounted {
				continue
			}
			part := res.Rows[t.Name()]
			if part == nil {
				part = map[string]int64{}
				res.Rows[t.Name()] = part
			}
			part[f.partition.String()] += int64(f.rows)
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
	if err := w.writeManifest(ctx, lease, src, &Manifest{DeliveryDay: d.String(), State: StatePublishing, Files: union}); err != nil {
		return res, err
	}
	// A file whose bytes the manifest of the day's last publication records, still there
	// as it was, is not uploaded again.
	reuse := old != nil && (old.State == StateComplete || old.State == StatePartial) && len(old.Hashes) > 0
	if reuse {
		missing, err := w.Intact(ctx, old)
		if err != nil {
			return res, err
		}
		reuse = missing == ""
	}
	// same returns the key under which the destination holds f's bytes already, if it
	// does: f's own (Hive), or, with a table format, the key of the last publication's
	// file planned as f was.
	var oldByPlanned map[string]string
	if reuse && w.Format != nil {
		oldByPlanned = map[string]string{}
		for _, k := range old.Files {
			if !strings.HasPrefix(k, QuarantineDir) {
				oldByPlanned[PlannedKey(k)] = k
			}
		}
	}
	same := func(f file, hash string, size int64) (string, bool) {
		key := f.key
		if oldByPlanned != nil && f.planned != "" {
			key = oldByPlanned[f.planned]
		}
		return key, reuse && key != "" && old.Hashes[key] == hash && old.Sizes[key] == size
	}
	var kept atomic.Int64
	meta := []parquet.WriterOption{
		parquet.Compression(w.codec),
		parquet.CreatedBy("marketrail", w.Version, ""),
		parquet.DataPageStatistics(true),
		parquet.DictionaryMaxBytes(DictionaryMaxBytes),
		parquet.KeyValueMetadata("marketrail.delivery_day", d.String()),
	}
	// The files are independent: encode and upload several at once, so the last day of a
	// run (which nothing else overlaps) does not leave cores idle.
	g, gctx := errgroup.WithContext(ctx)
	keys := make([]string, len(plan)) // each file's key as published: its own, or the one kept
hand:
	for i, f := range plan {
		// A slot taken is always given back by the goroutine that gets it (which returns
		// at once if the context is done by then).
		select {
		case w.slots <- struct{}{}:
		case <-gctx.Done():
			break hand
		}
		g.Go(func() error {
			defer func() { <-w.slots }()
			key, size, hash, reused, err := w.publish(gctx, lease, f, meta, same)
			if err == nil {
				sizesMu.Lock()
				keys[i] = key
				res.Sizes[key], res.Hashes[key] = size, hash
				sizesMu.Unlock()
				if reused {
					kept.Add(1)
				}
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return res, err
	}
	if err := ctx.Err(); err != nil { // cancelled before every file was handed out
		return res, err
	}
	res.Files = keys
	if w.Format != nil {
		// The day's files become the tables' own before anything of the last
		// publication is removed; and a table's old data files are never removed here:
		// its snapshots still reference them (snapshot expiry removes them).
		if err := w.commit(ctx, d, pub, lease, src, complete, tableNames, plan, keys); err != nil {
			return res, err
		}
	}
	for _, k := range oldFiles {
		if w.Format != nil && !strings.HasPrefix(k, QuarantineDir) {
			continue
		}
		if !slices.Contains(res.Files, k) {
			if err := lease.Check(); err != nil {
				return res, fmt.Errorf("remove stale file %s of delivery day %s: %w", k, d, err)
			}
			if err := w.Dest.Delete(ctx, k); err != nil {
				return res, fmt.Errorf("remove stale file of delivery day %s: %w", d, err)
			}
		}
	}
	w.hook(HookPublished)
	slices.Sort(res.Files)
	state := StateComplete
	if !complete {
		state = StatePartial
	}
	res.Kept = int(kept.Load())
	return res, w.writeManifest(ctx, lease, src, &Manifest{DeliveryDay: d.String(), State: state, Files: res.Files, Sizes: res.Sizes, Hashes: res.Hashes, Rows: res.Rows})
}

// publish writes one file to a local temporary file, then puts it on the destination
// unless same says the destination holds those bytes already, and returns its size, its
// SHA-256 and whether it was kept rather than uploaded.
func (w *Writer) publish(ctx context.Context, lease *Lease, f file, meta []parquet.WriterOption, same func(f file, hash string, size int64) (string, bool)) (key string, size int64, hash string, kept bool, err error) {
	tmp, err := os.CreateTemp(w.TempDir, ".marketrail-*.parquet")
	if err != nil {
		return "", 0, "", false, fmt.Errorf("stage %s: %w", f.key, err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if f.rows > diskPagesRows {
		// parquet-go keeps a row group's compressed pages until the group is done, and a
		// file is one row group: the pages of a large file wait on disk instead.
		dir := w.TempDir
		if dir == "" {
			dir = os.TempDir() // parquet-go would take "" for the working directory
		}
		meta = append(slices.Clip(meta), parquet.ColumnPageBuffers(parquet.NewFileBufferPool(dir, ".marketrail-pages-*")))
	}
	if w.Format != nil && f.row != nil {
		schema, err := w.Format.FileSchema(f.row)
		if err != nil {
			return "", 0, "", false, fmt.Errorf("write %s: %w", f.key, err)
		}
		meta = append(slices.Clip(meta), schema)
	}
	h := sha256.New()
	if err := f.write(io.MultiWriter(tmp, h), meta); err != nil {
		return "", 0, "", false, fmt.Errorf("write %s: %w", f.key, err)
	}
	hash = hex.EncodeToString(h.Sum(nil))
	size, err = tmp.Seek(0, io.SeekCurrent)
	if err == nil {
		_, err = tmp.Seek(0, io.SeekStart)
	}
	if err != nil {
		return "", 0, "", false, fmt.Errorf("stage %s: %w", f.key, err)
	}
	key, kept = same(f, hash, size)
	if !kept {
		key = f.key
	}
	if w.Format != nil && !f.uncounted {
		if err := w.Format.Staged(f.table, key, tmp, size); err != nil {
			return "", 0, "", false, fmt.Errorf("stage %s: %w", key, err)
		}
	}
	if kept {
		return key, size, hash, true, nil
	}
	if err := lease.Check(); err != nil {
		return "", 0, "", false, fmt.Errorf("put %s: %w", key, err)
	}
	// What a run killed while writing this key left (a local folder's temporary file):
	// under the day's lease no other run writes it now.
	if err := storage.Tidy(ctx, w.Dest, key); err != nil {
		return "", 0, "", false, err
	}
	return key, size, hash, false, w.Dest.Put(ctx, key, &hookReader{r: tmp, at: size / 2, fn: func() { w.hook(HookUpload) }}, size)
}

// commit asks the Writer's Format to make keys (plan's files, as published) the tables'
// files of delivery day d, in publication pub.
func (w *Writer) commit(ctx context.Context, d trail.Day, pub string, lease *Lease, src *Sources, complete bool, tables []string, plan []file, keys []string) error {
	c := Commit{Day: d, Publication: pub, Tables: tables, Files: map[string][]string{}, Check: lease.Check, Hook: w.Hook}
	for i, f := range plan {
		if !f.uncounted {
			c.Files[f.table] = append(c.Files[f.table], keys[i])
		}
	}
	state := StateComplete
	if !complete {
		state = StatePartial
	}
	c.Summary = map[string]string{
		"marketrail.delivery-day": d.String(),
		"marketrail.publication":  pub,
		"marketrail.version":      w.Version,
		"marketrail.state":        state,
	}
	if src != nil {
		c.Summary["marketrail.inputs"] = fmt.Sprint(len(src.Inputs))
		c.Summary["marketrail.fingerprint"] = src.Fingerprint()
	}
	if lease != nil {
		c.Summary["marketrail.holder"] = lease.Holder()
	}
	if err := w.Format.Commit(ctx, c); err != nil {
		return fmt.Errorf("commit delivery day %s to its %s tables: %w", d, w.Format.Name(), err)
	}
	return nil
}

// hookReader calls fn once, when at bytes have been read through it.
type hookReader struct {
	r    io.ReadSeeker
	n    int64
	at   int64
	fn   func()
	done bool
}

func (h *hookReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.n += int64(n)
	if !h.done && h.n >= h.at && n > 0 {
		h.done = true
		h.fn()
	}
	return n, err
}

func (h *hookReader) Seek(off int64, whence int) (int64, error) {
	n, err := h.r.Seek(off, whence)
	h.n = n
	return n, err
}

// Intact reports whether the files manifest m lists are all still on the destination, with
// the sizes it recorded (any size, for a manifest written before sizes were kept): a day
// whose files were deleted, truncated or replaced behind marketrail's back is not unchanged,
// whatever its inputs. It lists each folder the day wrote to once, narrowed to the day's own
// file names (they all start with the delivery day), so it costs one listing per partition
// the day touched, never a request per file. It returns the first file found missing or
// changed ("" when intact).
func (w *Writer) Intact(ctx context.Context, m *Manifest) (string, error) {
	dirs := map[string][]string{}
	for _, f := range m.Files {
		dir := path.Dir(f) + "/"
		dirs[dir] = append(dirs[dir], f)
	}
	for _, dir := range slices.Sorted(maps.Keys(dirs)) {
		found := map[string]int64{}
		for e, err := range w.Dest.List(ctx, dir+m.DeliveryDay, false) {
			if err != nil {
				return "", fmt.Errorf("check the files of delivery day %s: %w", m.DeliveryDay, err)
			}
			found[e.Key] = e.Size
		}
		for _, f := range dirs[dir] {
			size, ok := found[f]
			if want, recorded := m.Sizes[f]; !ok || recorded && size != want {
				return f, nil
			}
		}
	}
	return "", nil
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

// ReadManifestVersion is ReadManifest with the manifest's ETag ("" for none), for writes
// conditional on it; the destination must support conditional writes.
func (w *Writer) ReadManifestVersion(ctx context.Context, d trail.Day) (*Manifest, string, error) {
	c, err := storage.AsConditional(w.Dest)
	if err != nil {
		return nil, "", fmt.Errorf("read manifest of delivery day %s: %w", d, err)
	}
	b, v, err := c.Get(ctx, ManifestKey(d))
	if errors.Is(err, storage.ErrNotExist) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("read manifest of delivery day %s: %w", d, err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, "", fmt.Errorf("manifest %s is damaged (%v): delete it and the day's files to rebuild the day", ManifestKey(d), err)
	}
	return &m, v.ETag, nil
}

// writeManifest writes m, made from src (its inputs, tail and settings); with a lease,
// conditional on the manifest's ETag as last seen under it.
func (w *Writer) writeManifest(ctx context.Context, lease *Lease, src *Sources, m *Manifest) error {
	m.Tool, m.Version, m.Updated = "marketrail", w.Version, time.Now().UTC()
	if lease != nil {
		m.Holder = lease.Holder()
	}
	if src == nil {
		src = &Sources{}
	}
	settings := src.Settings
	m.Inputs, m.Tail, m.Settings, m.Fingerprint, m.Matched = src.Inputs, src.Tail, &settings, src.Fingerprint(), src.Matched
	if m.Files == nil {
		m.Files = []string{}
	}
	if m.Inputs == nil {
		m.Inputs = []Input{}
	}
	if m.Tail == nil {
		m.Tail = []Input{}
	}
	d := m.DeliveryDay
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if lease != nil && m.State == StatePublishing { // the day's first write under its lease
		if err := storage.Tidy(ctx, w.Dest, ManifestDir+d+".json"); err != nil {
			return err
		}
	}
	if lease == nil {
		if err := w.Dest.Put(ctx, ManifestDir+d+".json", bytes.NewReader(b), int64(len(b))); err != nil {
			return fmt.Errorf("write manifest of delivery day %s: %w", d, err)
		}
		return nil
	}
	if err := lease.Check(); err != nil {
		return fmt.Errorf("write manifest of delivery day %s: %w", d, err)
	}
	c, err := storage.AsConditional(w.Dest)
	if err != nil {
		return fmt.Errorf("write manifest of delivery day %s: %w", d, err)
	}
	lease.mu.Lock()
	match := lease.manifestETag
	lease.mu.Unlock()
	for attempt := 1; ; attempt++ {
		etag, err := c.PutIf(ctx, ManifestDir+d+".json", b, match)
		if onConflict(ctx, err, attempt) {
			continue // raced: nothing written; the condition decides again
		}
		if errors.Is(err, storage.ErrPreconditionFailed) {
			err = fmt.Errorf("%w: the manifest of delivery day %s was written by another run: %w", ErrLeaseLost, d, err)
		}
		if err != nil {
			return fmt.Errorf("write manifest of delivery day %s: %w", d, err)
		}
		lease.SawManifest(etag)
		return nil
	}
}
