package restcatalog

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/catalog/rest"
	"github.com/apache/iceberg-go/table"
	"github.com/parquet-go/parquet-go"
)

// row is the Parquet layout of the test table; field ids match testSchema.
type row struct {
	ID int64     `parquet:"id,id(1)"`
	TS time.Time `parquet:"ts,id(2),timestamp(microsecond)"`
}

func testSchema() *iceberg.Schema {
	return iceberg.NewSchema(0,
		iceberg.NestedField{ID: 1, Name: "id", Type: iceberg.PrimitiveTypes.Int64, Required: true},
		iceberg.NestedField{ID: 2, Name: "ts", Type: iceberg.PrimitiveTypes.TimestampTz, Required: true},
	)
}

func daySpec(t *testing.T, sc *iceberg.Schema) *iceberg.PartitionSpec {
	t.Helper()
	spec, err := iceberg.NewPartitionSpecOpts(
		iceberg.AddPartitionFieldBySourceID(2, "ts_day", iceberg.DayTransform{}, sc, nil))
	if err != nil {
		t.Fatal(err)
	}

	return &spec
}

// env is one REST catalog server with an iceberg-go REST client talking to it.
type env struct {
	srv  *Server
	uri  string
	cat  catalog.Catalog
	dir  string // warehouse directory
	data string // where test Parquet files are written
}

func newEnv(t *testing.T, opts ...Option) *env {
	t.Helper()
	dir := t.TempDir()
	srv, uri := Start(t, filepath.Join(dir, "catalog.db"), "file://"+filepath.Join(dir, "warehouse"), opts...)
	e := &env{srv: srv, uri: uri, dir: dir, data: filepath.Join(dir, "incoming")}
	cat, err := catalog.Load(context.Background(), "rest", iceberg.Properties{"type": "rest", "uri": uri})
	if err != nil {
		t.Fatalf("load rest catalog: %v", err)
	}
	e.cat = cat

	return e
}

// createTable makes namespace ns and table ns.tbl (id long, ts timestamptz,
// partitioned by day(ts)) through the REST client.
func (e *env) createTable(t *testing.T, ns, tbl string, props iceberg.Properties) *table.Table {
	t.Helper()
	ctx := context.Background()
	if err := e.cat.CreateNamespace(ctx, table.Identifier{ns}, iceberg.Properties{"owner": "marketrail"}); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	sc := testSchema()
	created, err := e.cat.CreateTable(ctx, table.Identifier{ns, tbl}, sc,
		catalog.WithPartitionSpec(daySpec(t, sc)), catalog.WithProperties(props))
	if err != nil {
		t.Fatalf("create table: %v", err)
	}

	return created
}

// writeParquet writes n rows, all on 2024-05-01, so the file belongs to one
// day(ts) partition, and returns its file:// URL.
func (e *env) writeParquet(t *testing.T, name string, firstID, n int) string {
	t.Helper()
	rows := make([]row, n)
	for i := range rows {
		rows[i] = row{ID: int64(firstID + i), TS: time.Date(2024, 5, 1, i%24, 0, 0, 0, time.UTC)}
	}
	p := filepath.Join(e.data, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := parquet.WriteFile(p, rows); err != nil {
		t.Fatalf("write %s: %v", p, err)
	}

	return "file://" + p
}

func addFiles(ctx context.Context, tbl *table.Table, paths ...string) (*table.Table, error) {
	tx := tbl.NewTransaction()
	if err := tx.AddFiles(ctx, paths, iceberg.Properties{"marketrail.batch": paths[0]}, false); err != nil {
		return nil, fmt.Errorf("add files: %w", err)
	}

	return tx.Commit(ctx)
}

func dataFiles(t *testing.T, tbl *table.Table) []string {
	t.Helper()
	tasks, err := tbl.Scan().PlanFiles(context.Background())
	if err != nil {
		t.Fatalf("plan files: %v", err)
	}
	var out []string
	for _, task := range tasks {
		out = append(out, task.File.FilePath())
	}
	slices.Sort(out)

	return out
}

func TestCreateAppendReplace(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	id := table.Identifier{"market", "trades"}
	created := e.createTable(t, "market", "trades", nil)
	if created.CurrentSnapshot() != nil {
		t.Fatalf("new table has a snapshot")
	}
	if spec := created.Spec(); spec.NumFields() != 1 {
		t.Fatalf("partition spec not kept: %v", spec)
	}

	// Namespace and table discovery through the REST API.
	if ok, err := e.cat.CheckNamespaceExists(ctx, table.Identifier{"market"}); err != nil || !ok {
		t.Fatalf("namespace exists = %v, %v", ok, err)
	}
	if ok, err := e.cat.CheckNamespaceExists(ctx, table.Identifier{"nope"}); err != nil || ok {
		t.Fatalf("missing namespace exists = %v, %v", ok, err)
	}
	nss, err := e.cat.ListNamespaces(ctx, nil)
	if err != nil || len(nss) != 1 || nss[0][0] != "market" {
		t.Fatalf("list namespaces = %v, %v", nss, err)
	}
	props, err := e.cat.LoadNamespaceProperties(ctx, table.Identifier{"market"})
	if err != nil || props["owner"] != "marketrail" {
		t.Fatalf("namespace properties = %v, %v", props, err)
	}
	var tables []table.Identifier
	for ident, err := range e.cat.ListTables(ctx, table.Identifier{"market"}) {
		if err != nil {
			t.Fatalf("list tables: %v", err)
		}
		tables = append(tables, ident)
	}
	if len(tables) != 1 || !slices.Equal(tables[0], id) {
		t.Fatalf("list tables = %v", tables)
	}
	if ok, err := e.cat.CheckTableExists(ctx, id); err != nil || !ok {
		t.Fatalf("table exists = %v, %v", ok, err)
	}

	// Append one file.
	a := e.writeParquet(t, "a.parquet", 0, 3)
	if _, err := addFiles(ctx, created, a); err != nil {
		t.Fatalf("append commit: %v", err)
	}
	tbl, err := e.cat.LoadTable(ctx, id)
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	snap := tbl.CurrentSnapshot()
	if snap == nil || snap.Summary == nil {
		t.Fatalf("no snapshot after append")
	}
	if snap.Summary.Operation != table.OpAppend {
		t.Errorf("operation = %s, want append", snap.Summary.Operation)
	}
	sum := snap.Summary.Properties
	if sum["added-data-files"] != "1" || sum["added-records"] != "3" || sum["total-records"] != "3" {
		t.Errorf("append summary = %v", sum)
	}
	if sum["marketrail.batch"] != a {
		t.Errorf("snapshot property missing: %v", sum)
	}
	if got := dataFiles(t, tbl); !slices.Equal(got, []string{a}) {
		t.Errorf("files after append = %v", got)
	}
	firstLoc, firstSnap := tbl.MetadataLocation(), snap.SnapshotID

	// Replace it with another file (an overwrite snapshot).
	b := e.writeParquet(t, "b.parquet", 100, 5)
	tx := tbl.NewTransaction()
	if err := tx.ReplaceDataFiles(ctx, []string{a}, []string{b}, nil); err != nil {
		t.Fatalf("replace: %v", err)
	}
	if _, err := tx.Commit(ctx); err != nil {
		t.Fatalf("replace commit: %v", err)
	}
	tbl, err = e.cat.LoadTable(ctx, id)
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	snap = tbl.CurrentSnapshot()
	if tbl.MetadataLocation() == firstLoc || snap.SnapshotID == firstSnap {
		t.Fatalf("replace did not move the table")
	}
	if snap.ParentSnapshotID == nil || *snap.ParentSnapshotID != firstSnap {
		t.Errorf("parent = %v, want %d", snap.ParentSnapshotID, firstSnap)
	}
	if snap.Summary.Operation != table.OpOverwrite {
		t.Errorf("operation = %s, want overwrite", snap.Summary.Operation)
	}
	sum = snap.Summary.Properties
	if sum["deleted-data-files"] != "1" || sum["added-data-files"] != "1" || sum["total-records"] != "5" {
		t.Errorf("replace summary = %v", sum)
	}
	if got := dataFiles(t, tbl); !slices.Equal(got, []string{b}) {
		t.Errorf("files after replace = %v", got)
	}
	if n := len(tbl.Metadata().Snapshots()); n != 2 {
		t.Errorf("snapshots = %d, want 2", n)
	}

	// Both commits really went through the REST commit endpoint.
	reqs := e.srv.Requests()
	if reqs[routeCommitTable] != 2 || reqs[routeConfig] != 1 || reqs[routeCreateTable] != 1 {
		t.Errorf("requests = %v", reqs)
	}

	// Drop.
	if err := e.cat.DropTable(ctx, id); err != nil {
		t.Fatalf("drop: %v", err)
	}
	if ok, err := e.cat.CheckTableExists(ctx, id); err != nil || ok {
		t.Fatalf("dropped table exists = %v, %v", ok, err)
	}
}

func TestCommitConflict(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	id := table.Identifier{"market", "trades"}
	e.createTable(t, "market", "trades", nil)

	t1, err := e.cat.LoadTable(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	t2, err := e.cat.LoadTable(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	a := e.writeParquet(t, "a.parquet", 0, 2)
	b := e.writeParquet(t, "b.parquet", 10, 2)
	if _, err := addFiles(ctx, t1, a); err != nil {
		t.Fatalf("first commit: %v", err)
	}
	_, err = addFiles(ctx, t2, b)
	if !errors.Is(err, table.ErrCommitFailed) {
		t.Fatalf("second commit error = %v, want table.ErrCommitFailed", err)
	}
	if !errors.Is(err, rest.ErrCommitFailed) {
		t.Errorf("second commit error = %v, want rest.ErrCommitFailed", err)
	}

	tbl, err := e.cat.LoadTable(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(tbl.Metadata().Snapshots()); n != 1 {
		t.Errorf("snapshots = %d, want 1", n)
	}
	if got := dataFiles(t, tbl); !slices.Equal(got, []string{a}) {
		t.Errorf("files = %v, want only %s", got, a)
	}

	// A loser that reloads and redoes its work succeeds.
	if _, err := addFiles(ctx, tbl, b); err != nil {
		t.Fatalf("retry after reload: %v", err)
	}
	tbl, err = e.cat.LoadTable(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if got := dataFiles(t, tbl); !slices.Equal(got, []string{a, b}) {
		t.Errorf("files = %v, want %s and %s", got, a, b)
	}
}

// TestConcurrentCommits has several writers commit at once, each retrying
// (reload and redo) on a conflict, and checks every file ends up in the table.
func TestConcurrentCommits(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	id := table.Identifier{"market", "trades"}
	e.createTable(t, "market", "trades", nil)

	const writers = 4
	files := make([]string, writers)
	for i := range files {
		files[i] = e.writeParquet(t, fmt.Sprintf("w%d.parquet", i), i*100, 3)
	}

	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		conflicts int
		errs      = make([]error, writers)
	)
	for i := range writers {
		wg.Go(func() {
			for attempt := 0; attempt < 100; attempt++ {
				tbl, err := e.cat.LoadTable(ctx, id)
				if err != nil {
					errs[i] = err

					return
				}
				_, err = addFiles(ctx, tbl, files[i])
				if err == nil {
					return
				}
				if !errors.Is(err, table.ErrCommitFailed) {
					errs[i] = err

					return
				}
				mu.Lock()
				conflicts++
				mu.Unlock()
			}
			errs[i] = errors.New("gave up after 100 attempts")
		})
	}
	wg.Wait()
	tbl := e.allWritten(t, id, files, errs)
	if n := len(tbl.Metadata().Snapshots()); n != writers {
		t.Errorf("snapshots = %d, want %d", n, writers)
	}
	if got := tbl.CurrentSnapshot().Summary.Properties["total-records"]; got != "12" {
		t.Errorf("total-records = %s, want 12", got)
	}
	if c := e.srv.Requests()[routeCommitTable]; c != writers+conflicts {
		t.Errorf("commit requests = %d, want %d (%d conflicts)", c, writers+conflicts, conflicts)
	}
	t.Logf("%d writers, %d conflicts", writers, conflicts)
}

// TestConcurrentCommitsClientRetry relies on iceberg-go's own
// refresh-and-replay, enabled by the commit.retry.num-retries table property.
func TestConcurrentCommitsClientRetry(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	id := table.Identifier{"market", "trades"}
	e.createTable(t, "market", "trades", iceberg.Properties{
		table.CommitNumRetriesKey:     "50",
		table.CommitMinRetryWaitMsKey: "5",
		table.CommitMaxRetryWaitMsKey: "100",
	})

	const writers = 3
	files := make([]string, writers)
	for i := range files {
		files[i] = e.writeParquet(t, fmt.Sprintf("w%d.parquet", i), i*100, 2)
	}
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			tbl, err := e.cat.LoadTable(ctx, id)
			if err == nil {
				_, err = addFiles(ctx, tbl, files[i])
			}
			errs[i] = err
		})
	}
	wg.Wait()
	e.allWritten(t, id, files, errs)
}

// allWritten checks that no writer failed (errs, one per writer) and that the table id
// holds exactly files, and returns the table as loaded.
func (e *env) allWritten(t *testing.T, id table.Identifier, files []string, errs []error) *table.Table {
	t.Helper()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("writer %d: %v", i, err)
		}
	}
	tbl, err := e.cat.LoadTable(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(files)
	slices.Sort(want)
	if got := dataFiles(t, tbl); !slices.Equal(got, want) {
		t.Errorf("files = %v, want %v", got, want)
	}
	return tbl
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.createTable(t, "market", "trades", nil)

	_, err := e.cat.LoadTable(ctx, table.Identifier{"market", "missing"})
	if !errors.Is(err, catalog.ErrNoSuchTable) {
		t.Errorf("load missing table: %v, want ErrNoSuchTable", err)
	}
	_, err = e.cat.LoadTable(ctx, table.Identifier{"nowhere", "missing"})
	if !errors.Is(err, catalog.ErrNoSuchTable) {
		t.Errorf("load table in missing namespace: %v, want ErrNoSuchTable", err)
	}
	_, err = e.cat.CreateTable(ctx, table.Identifier{"nowhere", "t"}, testSchema())
	if !errors.Is(err, catalog.ErrNoSuchNamespace) {
		t.Errorf("create in missing namespace: %v, want ErrNoSuchNamespace", err)
	}
	_, err = e.cat.CreateTable(ctx, table.Identifier{"market", "trades"}, testSchema())
	if !errors.Is(err, catalog.ErrTableAlreadyExists) {
		t.Errorf("create duplicate table: %v, want ErrTableAlreadyExists", err)
	}
	err = e.cat.CreateNamespace(ctx, table.Identifier{"market"}, nil)
	if !errors.Is(err, catalog.ErrNamespaceAlreadyExists) {
		t.Errorf("create duplicate namespace: %v, want ErrNamespaceAlreadyExists", err)
	}
	err = e.cat.DropTable(ctx, table.Identifier{"market", "missing"})
	if !errors.Is(err, catalog.ErrNoSuchTable) {
		t.Errorf("drop missing table: %v, want ErrNoSuchTable", err)
	}
	err = e.cat.DropNamespace(ctx, table.Identifier{"market"})
	if !errors.Is(err, catalog.ErrNamespaceNotEmpty) {
		t.Errorf("drop non-empty namespace: %v, want ErrNamespaceNotEmpty", err)
	}
	// A commit whose requirement does not hold (the table's UUID) is a 409.
	_, _, err = e.cat.(*rest.Catalog).CommitTable(ctx, table.Identifier{"market", "trades"},
		[]table.Requirement{table.AssertTableUUID([16]byte{1})}, nil)
	if !errors.Is(err, table.ErrCommitFailed) {
		t.Errorf("commit with failing requirement: %v, want ErrCommitFailed", err)
	}
	if got := e.srv.Requests()[routeLoadTable]; got != 2 {
		t.Errorf("load requests = %d, want 2", got)
	}
}

func TestPrefixAndToken(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	srv, uri := Start(t, filepath.Join(dir, "catalog.db"), "file://"+filepath.Join(dir, "warehouse"),
		WithPrefix("tenant-1"), WithBearerToken("s3cret"))

	_, err := rest.NewCatalog(ctx, "rest", uri)
	if !errors.Is(err, rest.ErrUnauthorized) {
		t.Fatalf("catalog without token: %v, want ErrUnauthorized", err)
	}
	cat, err := rest.NewCatalog(ctx, "rest", uri, rest.WithOAuthToken("s3cret"))
	if err != nil {
		t.Fatalf("catalog with token: %v", err)
	}
	if err := cat.CreateNamespace(ctx, table.Identifier{"market"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := cat.CreateTable(ctx, table.Identifier{"market", "trades"}, testSchema()); err != nil {
		t.Fatal(err)
	}
	if _, err := cat.LoadTable(ctx, table.Identifier{"market", "trades"}); err != nil {
		t.Fatal(err)
	}
	reqs := srv.Requests()
	if reqs["GET unauthorized"] != 1 || reqs[routeLoadTable] != 1 || reqs["GET unmatched"] != 0 {
		t.Errorf("requests = %v", reqs)
	}
}

func TestMultiLevelNamespace(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	ns := table.Identifier{"market", "eu"}
	if err := e.cat.CreateNamespace(ctx, table.Identifier{"market"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.cat.CreateNamespace(ctx, ns, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cat.CreateTable(ctx, append(slices.Clone(ns), "trades"), testSchema()); err != nil {
		t.Fatal(err)
	}
	children, err := e.cat.ListNamespaces(ctx, table.Identifier{"market"})
	if err != nil || len(children) != 1 || !slices.Equal(children[0], ns) {
		t.Fatalf("children of market = %v, %v", children, err)
	}
	if ok, err := e.cat.CheckTableExists(ctx, table.Identifier{"market", "eu", "trades"}); err != nil || !ok {
		t.Fatalf("table exists = %v, %v", ok, err)
	}
}

// TestStagedCreate covers stage-create followed by the client's assert-create
// commit, which iceberg-go uses when a create carries staged updates.
func TestStagedCreate(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	if err := e.cat.CreateNamespace(ctx, table.Identifier{"market"}, nil); err != nil {
		t.Fatal(err)
	}
	sc := testSchema()
	id := table.Identifier{"market", "staged"}
	if _, err := e.cat.CreateTable(ctx, id, sc, catalog.WithPartitionSpec(daySpec(t, sc)),
		catalog.WithStagedUpdates(table.NewSetPropertiesUpdate(iceberg.Properties{"staged": "yes"}))); err != nil {
		t.Fatalf("staged create: %v", err)
	}
	tbl, err := e.cat.LoadTable(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if spec := tbl.Spec(); tbl.Properties()["staged"] != "yes" || spec.NumFields() != 1 {
		t.Errorf("staged table: props %v spec %v", tbl.Properties(), spec)
	}
	a := e.writeParquet(t, "a.parquet", 0, 2)
	if _, err := addFiles(ctx, tbl, a); err != nil {
		t.Fatalf("append to staged table: %v", err)
	}
	_, err = e.cat.CreateTable(ctx, id, sc, catalog.WithStagedUpdates(table.NewSetPropertiesUpdate(iceberg.Properties{"x": "y"})))
	if !errors.Is(err, catalog.ErrTableAlreadyExists) {
		t.Errorf("staged create of existing table: %v, want ErrTableAlreadyExists", err)
	}
}
