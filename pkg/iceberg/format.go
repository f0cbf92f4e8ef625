// Package iceberg publishes marketrail's tables as Apache Iceberg v2 tables, partitioned
// by day(event_time), with iceberg-go as the commit path and parquet-go (through
// pkg/lake) as the writer: it is the lake.Format of --table-format iceberg.
//
// A delivery day's publication uploads the day's data files under names unique to the
// publication (lake.PublicationKey), then commits, in each table, one overwrite snapshot
// that removes the day's previous files and adds its new ones. A table's files of a
// delivery day are the ones whose names start with the day (as every marketrail data file
// does), so a commit is computed from the table's head, not from what the day manifest
// remembers: a commit that conflicts with another (a shard publishing another day, follow)
// is computed again from the new head and retried, and a commit whose answer was lost is
// found to have landed (nothing left to change) rather than repeated.
//
// The day manifests, the lease and the fencing of pkg/lake stay as they are: they hold the
// inputs, the fingerprint and the files of every publication, and snapshot expiry does not
// touch them.
package iceberg

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"path"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/parquet/file"
	ice "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"
	"github.com/parquet-go/parquet-go"

	"github.com/marketrail/marketrail/pkg/iceberg/defaults"
	"github.com/marketrail/marketrail/pkg/lake"
	"github.com/marketrail/marketrail/pkg/marketplace"
	"github.com/marketrail/marketrail/pkg/storage"
	"github.com/marketrail/marketrail/pkg/trail"
)

// Name is the table format's name (--table-format).
const Name = defaults.Format

// DefaultCommitTimeout is how long a table's commit of a day is retried, from conflict to
// conflict, before the publication fails (and the day is left for the next run). Within one
// process commits to a table take turns, so conflicts come from other processes only —
// shards of a backfill, follow, a nightly run — and each is retried after a random pause
// that grows to a few seconds: a few dozen processes committing at once still all land.
const DefaultCommitTimeout = 5 * time.Minute

// Config is what a Format publishes to.
type Config struct {
	// Catalog is the tables' catalog; if nil, Prepare opens the one CatalogSpec names
	// (OpenCatalog), and Close closes it.
	Catalog     catalog.Catalog
	CatalogSpec string
	Namespace   string          // the tables' namespace (Glue: database); "" means DefaultNamespace
	Dest        storage.Storage // the destination, where the tables' files are
	// Root is Dest's URL as the tables record it: s3://bucket/prefix or file:///abs/dir.
	Root          string
	Logger        *slog.Logger  // nil: slog.Default()
	CommitTimeout time.Duration // 0: DefaultCommitTimeout
	// Tables are the tables published; nil: marketplace.Tables(). (Tests of schema
	// evolution give others.)
	Tables []marketplace.Table
}

// Format publishes delivery days to Iceberg tables: a lake.Format.
type Format struct {
	cfg    Config
	tables map[string]*tableDef

	opened catalog.Catalog        // the catalog Prepare opened, for Close
	locks  map[string]*sync.Mutex // by table: its commits in this process take turns

	mu     sync.Mutex
	staged map[string]ice.DataFile // by key: the data files of publications in progress
}

// Close closes the catalog Prepare opened, if any.
func (f *Format) Close() error {
	if c, ok := f.opened.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// tableDef is one of marketrail's tables as an Iceberg table.
type tableDef struct {
	name   string
	ident  table.Identifier
	row    reflect.Type
	schema *ice.Schema     // from the Go definitions
	file   *parquet.Schema // its data files' Parquet schema
	doc    string
	spec   ice.PartitionSpec // as the catalog has it; set by Prepare
}

// New returns the Format of cfg. Its tables are made ready by Prepare.
func New(cfg Config) (*Format, error) {
	if cfg.Namespace == "" {
		cfg.Namespace = DefaultNamespace
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.CommitTimeout <= 0 {
		cfg.CommitTimeout = DefaultCommitTimeout
	}
	cfg.Root = strings.TrimSuffix(cfg.Root, "/")
	f := &Format{cfg: cfg, tables: map[string]*tableDef{}, staged: map[string]ice.DataFile{}, locks: map[string]*sync.Mutex{}}
	if cfg.Tables == nil {
		cfg.Tables = marketplace.Tables()
	}
	for _, t := range cfg.Tables {
		def, err := newTableDef(cfg.Namespace, t.Name, reflect.TypeOf(t.Row))
		if err != nil {
			return nil, err
		}
		def.doc = t.Comment
		f.tables[t.Name] = def
		f.locks[t.Name] = &sync.Mutex{}
	}
	return f, nil
}

// Prepare implements lake.Format: it creates the namespace and the tables where they do
// not exist yet, and checks that existing tables have marketrail's columns and field ids,
// and are in the destination.
func (f *Format) Prepare(ctx context.Context) error {
	ctx = f.ctx(ctx)
	if f.cfg.Catalog == nil {
		cat, err := OpenCatalog(ctx, f.cfg.CatalogSpec, f.cfg.Root)
		if err != nil {
			return err
		}
		f.cfg.Catalog, f.opened = cat, cat
	}
	// The namespace is looked for first: a database made by an administrator needs no
	// right to create one.
	ns := table.Identifier{f.cfg.Namespace}
	exists, err := f.cfg.Catalog.CheckNamespaceExists(ctx, ns)
	if err != nil {
		return fmt.Errorf("namespace %s: %w", f.cfg.Namespace, err)
	}
	if !exists {
		err := f.cfg.Catalog.CreateNamespace(ctx, ns, ice.Properties{"comment": "AWS Marketplace activity from CloudTrail, written by marketrail"})
		if err != nil && !errors.Is(err, catalog.ErrNamespaceAlreadyExists) {
			return fmt.Errorf("create namespace %s: %w", f.cfg.Namespace, err)
		}
	}
	for _, def := range f.tables {
		tbl, err := f.ensure(ctx, def, def.doc)
		if err != nil {
			return err
		}
		f.mu.Lock()
		def.spec = tbl.Spec() // the catalog's partition field ids
		f.mu.Unlock()
	}
	return nil
}

func newTableDef(ns, name string, row reflect.Type) (*tableDef, error) {
	schema, file, err := Schema(row)
	if err != nil {
		return nil, fmt.Errorf("table %s: %w", name, err)
	}
	return &tableDef{name: name, ident: table.Identifier{ns, name}, row: row, schema: schema, file: file}, nil
}

// ensure loads def's table, creating it if absent, and checks its schema.
func (f *Format) ensure(ctx context.Context, def *tableDef, doc string) (*table.Table, error) {
	tbl, err := f.cfg.Catalog.LoadTable(ctx, def.ident)
	if errors.Is(err, catalog.ErrNoSuchTable) {
		spec, serr := ice.NewPartitionSpecOpts(ice.AddPartitionFieldBySourceID(timeFieldID(def.schema), PartitionField, ice.DayTransform{}, def.schema, nil))
		if serr != nil {
			return nil, fmt.Errorf("table %s: %w", def.name, serr)
		}
		tbl, err = f.cfg.Catalog.CreateTable(ctx, def.ident, def.schema,
			catalog.WithPartitionSpec(&spec),
			catalog.WithLocation(f.cfg.Root+"/"+def.name),
			catalog.WithProperties(ice.Properties{
				"format-version":                     "2",
				"comment":                            doc,
				"write.format.default":               "parquet",
				"write.parquet.compression-codec":    "zstd",
				"commit.manifest-merge.enabled":      "true",
				"commit.manifest.min-count-to-merge": "16",
			}))
		if errors.Is(err, catalog.ErrTableAlreadyExists) { // another shard created it first
			tbl, err = f.cfg.Catalog.LoadTable(ctx, def.ident)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("table %s.%s: %w", f.cfg.Namespace, def.name, err)
	}
	if missing := missingColumns(def.schema, tbl.Schema()); len(missing) > 0 {
		tbl, err = f.addColumns(ctx, def, missing)
	}
	if err != nil {
		return nil, fmt.Errorf("table %s.%s: %w", f.cfg.Namespace, def.name, err)
	}
	if err := sameColumns(def.schema, tbl.Schema()); err != nil {
		return nil, fmt.Errorf("table %s.%s: %w", f.cfg.Namespace, def.name, err)
	}
	if loc := tbl.Location(); strings.TrimSuffix(loc, "/") != f.cfg.Root+"/"+def.name {
		return nil, fmt.Errorf("table %s.%s is at %s, not in the destination %s: one destination per namespace", f.cfg.Namespace, def.name, loc, f.cfg.Root)
	}
	return tbl, nil
}

// timeFieldID is the field id of event_time.
func timeFieldID(s *ice.Schema) int {
	fld, _ := s.FindFieldByName("event_time")
	return fld.ID
}

// column is a column of marketrail's schema, by its path of names (a list's element
// left out, as iceberg-go's UpdateSchema names nested fields).
type column struct {
	path  []string
	field ice.NestedField
}

// missingColumns returns the columns of want whose field ids got lacks, in id order, each
// only once (a new struct's fields come with it).
func missingColumns(want, got *ice.Schema) []column {
	var out []column
	var walk func(path []string, fs []ice.NestedField)
	walk = func(path []string, fs []ice.NestedField) {
		for _, fld := range fs {
			p := append(slices.Clip(path), fld.Name)
			if _, ok := got.FindFieldByID(fld.ID); !ok {
				out = append(out, column{p, fld})
				continue
			}
			switch t := fld.Type.(type) {
			case *ice.StructType:
				walk(p, t.FieldList)
			case *ice.ListType:
				if st, ok := t.Element.(*ice.StructType); ok {
					walk(p, st.FieldList)
				}
			}
		}
	}
	walk(nil, want.Fields())
	slices.SortFunc(out, func(a, b column) int { return a.field.ID - b.field.ID })
	return out
}

// addColumns adds the columns a newer marketrail writes to def's table (schema evolution
// with no DDL by hand), in field id order: the table gives a new column the id after its
// highest, and the Go definitions only ever add ids above the highest (TestFieldIDsForever),
// so the ids agree — sameColumns checks they do. Added columns are optional: the rows the
// table has lack them.
func (f *Format) addColumns(ctx context.Context, def *tableDef, missing []column) (*table.Table, error) {
	var tbl *table.Table
	err := f.retry(ctx, "add columns", def.name, func() (bool, error) {
		t, err := f.cfg.Catalog.LoadTable(ctx, def.ident)
		if err != nil {
			return false, err
		}
		missing := missingColumns(def.schema, t.Schema()) // another run may have added them
		if len(missing) == 0 {
			tbl = t
			return true, nil
		}
		tx := t.NewTransaction()
		u := tx.UpdateSchema(true, false)
		var names []string
		for _, c := range missing {
			u.AddColumn(c.path, c.field.Type, c.field.Doc, false, nil)
			names = append(names, strings.Join(c.path, "."))
		}
		if err := u.Commit(); err != nil {
			return true, fmt.Errorf("add columns %s: %w", strings.Join(names, ", "), err)
		}
		if tbl, err = tx.Commit(ctx); err != nil {
			return false, err
		}
		f.cfg.Logger.Info("columns added to the table", "table", def.name, "columns", strings.Join(names, ", "))
		return true, nil
	})
	return tbl, err
}

// sameColumns checks that the table's schema has marketrail's columns, nested ones
// included, with their field ids, names and types (a table made by another marketrail
// version, or by hand, may not). The table may have more columns (a later version's): the
// data files written without them read as nulls there.
func sameColumns(want, got *ice.Schema) error {
	var check func(fs []ice.NestedField) error
	check = func(fs []ice.NestedField) error {
		for _, fld := range fs {
			g, ok := got.FindFieldByID(fld.ID)
			if !ok {
				return fmt.Errorf("column %s (field id %d) is missing from the table", fld.Name, fld.ID)
			}
			if g.Name != fld.Name || kind(g.Type) != kind(fld.Type) {
				return fmt.Errorf("field id %d is %s %s in the table, not %s %s as marketrail writes it", fld.ID, g.Name, kind(g.Type), fld.Name, kind(fld.Type))
			}
			switch t := fld.Type.(type) {
			case *ice.StructType:
				if err := check(t.FieldList); err != nil {
					return err
				}
			case *ice.ListType:
				if gt := g.Type.(*ice.ListType); gt.ElementID != t.ElementID {
					return fmt.Errorf("the elements of list %s have field id %d in the table, not %d", fld.Name, gt.ElementID, t.ElementID)
				}
				if st, ok := t.Element.(*ice.StructType); ok {
					if err := check(st.FieldList); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}
	return check(want.Fields())
}

// kind is a type as sameColumns compares it: a primitive type, or "struct", or a list of
// its element's kind.
func kind(t ice.Type) string {
	switch t := t.(type) {
	case *ice.StructType:
		return "struct"
	case *ice.ListType:
		return "list<" + kind(t.Element) + ">"
	}
	return t.String()
}

// ctx gives ctx the destination for marketrail's s3:// file IO.
func (f *Format) ctx(ctx context.Context) context.Context {
	return WithDestination(ctx, f.cfg.Dest, f.cfg.Root)
}

// Name implements lake.Format.
func (f *Format) Name() string { return Name }

// Catalog is the catalog's spec (--catalog), or its type when it was given as a value; the
// run report shows it.
func (f *Format) Catalog() string {
	if f.cfg.CatalogSpec != "" {
		return f.cfg.CatalogSpec
	}
	return string(f.cfg.Catalog.CatalogType())
}

// FileSchema implements lake.Format: the data files carry field ids and µs timestamps.
func (f *Format) FileSchema(row reflect.Type) (*parquet.Schema, error) {
	for _, def := range f.tables {
		if def.row == row {
			return def.file, nil
		}
	}
	return nil, fmt.Errorf("no Iceberg table has rows of type %s", row)
}

// Staged implements lake.Format: it makes the file's Iceberg data file (its statistics,
// from the footer of the local copy, and its partition) for the commit.
func (f *Format) Staged(tableName, key string, r io.ReaderAt, size int64) error {
	def := f.tables[tableName]
	if def == nil {
		return fmt.Errorf("no Iceberg table %s", tableName)
	}
	f.mu.Lock()
	spec := def.spec
	f.mu.Unlock()
	if spec.NumFields() == 0 {
		return fmt.Errorf("table %s is not prepared", tableName)
	}
	day, err := partitionDay(key)
	if err != nil {
		return err
	}
	pr, err := file.NewParquetReader(io.NewSectionReader(r, 0, size))
	if err != nil {
		return fmt.Errorf("read the footer of %s: %w", key, err)
	}
	defer pr.Close()
	df, err := table.DataFileFromMetadata(table.DataFileArgs{
		Schema:          def.schema,
		Spec:            spec,
		Format:          ice.ParquetFile,
		Metadata:        pr.MetaData(),
		FilePath:        f.cfg.Root + "/" + key,
		FileSize:        size,
		Content:         ice.EntryContentData,
		PartitionValues: map[int]any{spec.Field(0).FieldID: day},
		FormatVersion:   2,
	})
	if err != nil {
		return fmt.Errorf("describe %s for table %s: %w", key, tableName, err)
	}
	f.mu.Lock()
	f.staged[key] = df
	f.mu.Unlock()
	return nil
}

// partitionDay is the day(event_time) value of the data file at key: days since
// 1970-01-01 of its event_date folder.
func partitionDay(key string) (int32, error) {
	for _, seg := range strings.Split(key, "/") {
		if v, ok := strings.CutPrefix(seg, lake.PartitionColumn+"="); ok {
			t, err := time.Parse(time.DateOnly, v)
			if err != nil {
				return 0, fmt.Errorf("data file %s: partition %s: %w", key, seg, err)
			}
			return int32(t.Unix() / 86400), nil
		}
	}
	return 0, fmt.Errorf("data file %s is in no %s= folder", key, lake.PartitionColumn)
}

// Commit implements lake.Format: one commit per table, retried from the new head on a
// conflict.
func (f *Format) Commit(ctx context.Context, c lake.Commit) error {
	ctx = f.ctx(ctx)
	defer f.forget(c)
	for _, name := range c.Tables {
		def := f.tables[name]
		if def == nil {
			return fmt.Errorf("no Iceberg table %s", name)
		}
		if err := f.commitTable(ctx, def, c); err != nil {
			return fmt.Errorf("table %s.%s: %w", f.cfg.Namespace, name, err)
		}
		if c.Hook != nil {
			c.Hook(lake.HookCommitted)
		}
	}
	return nil
}

// forget drops the staged data files of c.
func (f *Format) forget(c lake.Commit) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, keys := range c.Files {
		for _, k := range keys {
			delete(f.staged, k)
		}
	}
}

// names returns the tables' names, sorted.
func (f *Format) names() []string { return slices.Sorted(maps.Keys(f.tables)) }

// ErrCommit is wrapped by the error of a commit that failed every attempt.
var ErrCommit = errors.New("commit failed")

func (f *Format) commitTable(ctx context.Context, def *tableDef, c lake.Commit) error {
	want := map[string]string{} // path → key
	for _, k := range c.Files[def.name] {
		want[f.cfg.Root+"/"+k] = k
	}
	props := ice.Properties{}
	for k, v := range c.Summary {
		props[k] = v
	}
	return f.retry(ctx, "commit delivery day "+c.Day.String(), def.name, func() (bool, error) {
		if c.Check != nil {
			if err := c.Check(); err != nil {
				return true, err
			}
		}
		tbl, err := f.cfg.Catalog.LoadTable(ctx, def.ident)
		if err != nil {
			return false, err
		}
		current, err := dayFiles(ctx, tbl, c.Day)
		if err != nil {
			return false, err
		}
		var del, add []ice.DataFile
		for p, df := range current {
			if _, ok := want[p]; !ok {
				del = append(del, df)
			}
		}
		for p, k := range want {
			if _, ok := current[p]; ok {
				continue
			}
			f.mu.Lock()
			df := f.staged[k]
			f.mu.Unlock()
			if df == nil {
				return true, fmt.Errorf("data file %s was not staged in this publication", k)
			}
			add = append(add, df)
		}
		if len(del) == 0 && len(add) == 0 {
			return true, nil // landed already (an earlier attempt whose answer was lost), or nothing changed
		}
		slices.SortFunc(add, func(a, b ice.DataFile) int { return strings.Compare(a.FilePath(), b.FilePath()) })
		slices.SortFunc(del, func(a, b ice.DataFile) int { return strings.Compare(a.FilePath(), b.FilePath()) })
		tx := tbl.NewTransaction()
		if err := tx.ReplaceDataFilesWithDataFiles(ctx, del, add, props); err != nil {
			return false, err
		}
		if _, err := tx.Commit(ctx); err != nil {
			return false, err
		}
		return true, nil
	})
}

// retry runs attempt until it says it is done, for at most CommitTimeout, waiting a
// little longer each time. attempt computes its change from the table's head each time:
// every failure is retried — a conflict (another commit moved the head), and an uncertain
// error, after which the change is computed again and found done if it landed. Attempts on
// one table take turns within the process (tableName's lock).
func (f *Format) retry(ctx context.Context, what, tableName string, attempt func() (done bool, err error)) error {
	mu := f.locks[tableName]
	mu.Lock()
	defer mu.Unlock()
	var last error
	deadline := time.Now().Add(f.cfg.CommitTimeout)
	n := 0
	for {
		n++
		if n > 1 {
			f.cfg.Logger.Info(what+": retrying from the table's new head", "table", tableName, "attempt", n, "error", last.Error())
			if err := sleep(ctx, backoff(n)); err != nil {
				return err
			}
		}
		done, err := attempt()
		if done {
			return err
		}
		last = err
		if time.Now().After(deadline) {
			return fmt.Errorf("%w after %d attempts in %s: %w", ErrCommit, n, f.cfg.CommitTimeout, last)
		}
	}
}

// dayFiles returns the live data files of tbl that delivery day d wrote, by path: those
// whose names start with the day.
func dayFiles(ctx context.Context, tbl *table.Table, d trail.Day) (map[string]ice.DataFile, error) {
	out := map[string]ice.DataFile{}
	if tbl.CurrentSnapshot() == nil {
		return out, nil
	}
	tasks, err := tbl.Scan().PlanFiles(ctx)
	if err != nil {
		return nil, fmt.Errorf("list the table's files: %w", err)
	}
	day := d.String()
	for _, t := range tasks {
		base := path.Base(t.File.FilePath())
		if strings.HasPrefix(base, day) && len(base) > len(day) && (base[len(day)] == '.' || base[len(day)] == '-') {
			out[t.File.FilePath()] = t.File
		}
	}
	return out, nil
}

func backoff(attempt int) time.Duration {
	d := min(50*time.Millisecond<<min(attempt-2, 10), 5*time.Second)
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

var _ lake.Format = (*Format)(nil)
