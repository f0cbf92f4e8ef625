package main

// End-to-end tests of --table-format iceberg: the binary writes the sample trail as Iceberg
// tables (SQLite catalog, warehouse in a local folder or on versitygw; a REST catalog
// served in-process), and the tables are read back without iceberg-go: the catalog's
// SQLite file gives the metadata location, internal/icebergread parses the metadata and
// the Avro manifests, and DuckDB reads the live data files. The rows must be those of a
// Hive run of the same window, nested columns included.

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marketrail/marketrail/internal/duckcheck"
	"github.com/marketrail/marketrail/internal/icebergread"
	"github.com/marketrail/marketrail/internal/restcatalog"
	"github.com/marketrail/marketrail/internal/s3test"
	"github.com/marketrail/marketrail/internal/sqstest"
)

// icebergTables are the tables of an Iceberg destination.
var icebergTables = []string{"events", "metering_records"}

// hiveRows reads the Hive tables under dir: each table's rows as JSON, sorted, with the
// columns in the Go definitions' order (the Parquet files' own), without event_date (the
// folder's, which Iceberg tables have as a partition of event_time instead).
func hiveRows(t *testing.T, dir string) (rows map[string][]string, columns map[string]string) {
	t.Helper()
	db := duckcheck.Open(t)
	rows, columns = map[string][]string{}, map[string]string{}
	for _, table := range icebergTables {
		from := duckcheck.Table(dir, table)
		var cols []string
		for _, r := range duckcheck.Strings(t, db, `SELECT column_name FROM (DESCRIBE SELECT * EXCLUDE (filename, event_date) FROM `+from+`)`) {
			cols = append(cols, `"`+r[0]+`"`)
		}
		columns[table] = strings.Join(cols, ", ")
		for _, r := range duckcheck.Strings(t, db, `SELECT to_json(t)::VARCHAR FROM (SELECT `+columns[table]+` FROM `+from+`) t`) {
			rows[table] = append(rows[table], canonical(t, r[0]))
		}
		slices.Sort(rows[table])
	}
	return rows, columns
}

// canonical is the JSON row with every object's keys sorted: the Iceberg data files'
// Parquet schema lists a struct's fields by name (parquet-go's groups are sorted), the Hive
// files' in the Go definitions' order, and readers of either match fields by name or id.
func canonical(t *testing.T, row string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(row), &v); err != nil {
		t.Fatalf("row %s: %v", row, err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// icebergLake is an Iceberg destination as a test reads it.
type icebergLake struct {
	catalogDB string // the SQLite file holding the tables' metadata locations
	namespace string // "" for marketrail's default
	// metadata, if set, gives a table's metadata location instead (a catalog other than
	// SQLite's).
	metadata func(t *testing.T, table string) string
	// local maps a table file's URI to a local path: the destination itself, or a
	// download of it.
	local func(uri string) string
}

// state reads table's current state, without iceberg-go.
func (l icebergLake) state(t *testing.T, table string) *icebergread.Table {
	t.Helper()
	var loc string
	if l.metadata != nil {
		loc = l.metadata(t, table)
	} else {
		var err error
		if loc, err = icebergread.SQLiteMetadataLocation(l.catalogDB, cmp.Or(l.namespace, "marketrail"), table); err != nil {
			t.Fatal(err)
		}
	}
	read := func(ctx context.Context, uri string) ([]byte, error) { return os.ReadFile(l.local(uri)) }
	tbl, err := icebergread.Load(context.Background(), read, loc)
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}

// rows reads the rows of the live data files of each table with DuckDB, as hiveRows does,
// and checks each file's partition value and event_time bounds against its rows.
func (l icebergLake) rows(t *testing.T, columns map[string]string) map[string][]string {
	t.Helper()
	db := duckcheck.Open(t)
	out := map[string][]string{}
	for _, table := range icebergTables {
		st := l.state(t, table)
		if st.FormatVersion != 2 {
			t.Errorf("%s: format version %d, want 2", table, st.FormatVersion)
		}
		if len(st.PartitionFields) != 1 || st.PartitionFields[0].Transform != "day" || st.PartitionFields[0].Name != "event_time_day" {
			t.Errorf("%s: partitioned by %+v, want day(event_time) as event_time_day", table, st.PartitionFields)
		}
		var files []string
		for _, f := range st.Files {
			p := l.local(f.Path)
			files = append(files, "'"+p+"'")
			got := duckcheck.Strings(t, db, `SELECT count(*), epoch_us(min(event_time)), epoch_us(max(event_time)),
				datediff('day', DATE '1970-01-01', min(event_time)::DATE), datediff('day', DATE '1970-01-01', max(event_time)::DATE)
				FROM read_parquet('`+p+`')`)[0]
			day, _ := f.Partition["event_time_day"].(int32)
			lo, err1 := icebergread.TimestampMicros(f.LowerBounds[2])
			hi, err2 := icebergread.TimestampMicros(f.UpperBounds[2])
			want := fmt.Sprintf("%d %d %d %d %d", f.Records, lo.UnixMicro(), hi.UnixMicro(), day, day)
			if g := strings.Join(got, " "); g != want || err1 != nil || err2 != nil {
				t.Errorf("%s: data file %s: rows, event_time bounds and days are %s; its manifest entry says %s (%v %v)", table, f.Path, g, want, err1, err2)
			}
		}
		if len(files) == 0 {
			continue
		}
		for _, r := range duckcheck.Strings(t, db, `SELECT to_json(t)::VARCHAR FROM (SELECT `+columns[table]+` FROM read_parquet([`+strings.Join(files, ", ")+`])) t`) {
			out[table] = append(out[table], canonical(t, r[0]))
		}
		slices.Sort(out[table])
	}
	return out
}

// sameRows fails the test unless got holds exactly want's rows in every table.
func sameRows(t *testing.T, what string, got, want map[string][]string) {
	t.Helper()
	for _, table := range icebergTables {
		if len(want[table]) == 0 {
			t.Fatalf("%s: the Hive run wrote no %s", what, table)
		}
		if !slices.Equal(got[table], want[table]) {
			g, w := got[table], want[table]
			var first string
			for i := range min(len(g), len(w)) {
				if g[i] != w[i] {
					first = "\n got " + g[i] + "\nwant " + w[i]
					break
				}
			}
			t.Errorf("%s: table %s has %d rows, want the Hive run's %d%s", what, table, len(g), len(w), first)
		}
	}
}

// localLake is an Iceberg destination in the folder dest, with the default catalog.
func localLake(dest string) icebergLake {
	return icebergLake{
		catalogDB: filepath.Join(dest, "_marketrail", "iceberg-catalog.db"),
		local:     func(uri string) string { return strings.TrimPrefix(uri, "file://") },
	}
}

// sampleHive runs the sample window as Hive tables and returns their rows and columns.
func sampleHive(t *testing.T, m *manifest) (map[string][]string, map[string]string) {
	t.Helper()
	return hiveWindow(t, m.Window.From, m.Window.To)
}

// hiveWindow runs the sample trail's delivery days from..to as Hive tables and returns
// their rows and columns.
func hiveWindow(t *testing.T, from, to string) (map[string][]string, map[string]string) {
	t.Helper()
	dir := t.TempDir()
	if r := marketrail(t, nil, "run", "--source", sampleTrail, "--dest", dir, "--from", from, "--to", to); r.code != 0 {
		t.Fatalf("hive run: exit %d\n%s", r.code, r.stderr)
	}
	return hiveRows(t, dir)
}

// snapshots counts each table's snapshots and returns its live files' record counts by path.
func snapshots(t *testing.T, l icebergLake) (map[string]int, map[string]map[string]int64) {
	t.Helper()
	n, live := map[string]int{}, map[string]map[string]int64{}
	for _, table := range icebergTables {
		st := l.state(t, table)
		n[table] = len(st.Snapshots)
		live[table] = map[string]int64{}
		for _, f := range st.Files {
			live[table][f.Path] = f.Records
		}
	}
	return n, live
}

// TestIcebergLikeHive: the Iceberg tables hold the Hive run's rows, in local folders and
// on the S3 server; a run again changes nothing, even with --force, and a run with
// other settings replaces every day's files (one new snapshot per day and table) instead
// of adding to them.
func TestIcebergLikeHive(t *testing.T) {
	m := readManifest(t, sampleManifest)
	want, columns := sampleHive(t, m)
	for _, kind := range []string{"local", "s3"} {
		t.Run(kind, func(t *testing.T) {
			var env []string
			var dest string
			var lake func() icebergLake
			args := []string{"--table-format", "iceberg"}
			switch kind {
			case "local":
				dest = filepath.Join(t.TempDir(), "lake")
				lake = func() icebergLake { return localLake(dest) }
			case "s3":
				c, srv := s3test.Client(t)
				bucket := s3test.Bucket(t, c)
				env, dest = srv.Env(), "s3://"+bucket+"/lake"
				db := filepath.Join(t.TempDir(), "catalog.db")
				args = append(args, "--catalog", "sqlite:"+db)
				lake = func() icebergLake {
					dir := download(t, c, bucket, "lake/")
					return icebergLake{catalogDB: db, local: func(uri string) string {
						return filepath.Join(dir, strings.TrimPrefix(uri, dest+"/"))
					}}
				}
			}
			run := func(extra ...string) result {
				a := append([]string{"run", "--source", sampleTrail, "--dest", dest, "--from", m.Window.From, "--to", m.Window.To}, args...)
				r := marketrail(t, env, append(a, extra...)...)
				if r.code != 0 {
					t.Fatalf("iceberg run %q: exit %d\n%s", extra, r.code, r.stderr)
				}
				return r
			}
			rep := runReport(t, run())
			if rep["table_format"] != "iceberg" || !strings.HasPrefix(fmt.Sprint(rep["catalog"]), "sqlite:") {
				t.Errorf("the report says table format %v, catalog %v", rep["table_format"], rep["catalog"])
			}
			l := lake()
			sameRows(t, "iceberg run", l.rows(t, columns), want)
			before, live := snapshots(t, l)
			sum := l.state(t, "events").CurrentSnapshot.Summary
			for _, k := range []string{"marketrail.delivery-day", "marketrail.publication", "marketrail.version", "marketrail.fingerprint", "marketrail.inputs"} {
				if sum[k] == "" {
					t.Errorf("the snapshot summary has no %s: %v", k, sum)
				}
			}

			// Nothing changed: no snapshot, even with --force (the files it writes are
			// byte for byte those the tables have, and are kept).
			for _, extra := range [][]string{nil, {"--force"}} {
				run(extra...)
				again, still := snapshots(t, lake())
				if !maps.Equal(again, before) || !maps.EqualFunc(still, live, maps.Equal) {
					t.Errorf("a run %q with nothing changed made snapshots: %v, then %v", extra, before, again)
				}
			}

			// Other settings (files of at most 7 rows) rewrite every day: one overwrite
			// snapshot per day and table replaces the day's larger files (a file of 7 rows or
			// fewer is the same, and kept), and the rows stay the same.
			run("--max-rows-per-file", "7")
			l = lake()
			sameRows(t, "iceberg run again with other settings", l.rows(t, columns), want)
			after, relive := snapshots(t, l)
			days := 3 // the sample window
			for _, table := range icebergTables {
				if after[table] != before[table]+days {
					t.Errorf("%s: %d snapshots after the days were rewritten, want %d + %d (one per day)", table, after[table], before[table], days)
				}
				if len(relive[table]) <= len(live[table]) {
					t.Errorf("%s: %d files after splitting them at 7 rows, had %d", table, len(relive[table]), len(live[table]))
				}
				for p, n := range live[table] {
					if _, still := relive[table][p]; still && n > 7 {
						t.Errorf("%s: %s of %d rows is still live after its day was split in files of 7", table, p, n)
					}
				}
				for p, n := range relive[table] {
					if n > 7 {
						t.Errorf("%s: %s has %d rows, more than 7", table, p, n)
					}
				}
			}
			if op := l.state(t, "events").CurrentSnapshot.Operation; op != "overwrite" {
				t.Errorf("a day rewritten is a snapshot of operation %q, want overwrite", op)
			}
		})
	}
}

// TestIcebergKilled kills marketrail (SIGKILL) at the lake's hook points — halfway through
// an upload, after the first and the second table's commit of a day, after a day's commits
// and before its manifest says so, between days — and at random moments, then runs it
// again: the tables hold exactly the Hive run's rows.
func TestIcebergKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	m := readManifest(t, sampleManifest)
	want, columns := sampleHive(t, m)
	env := []string{leaseEnv + "=2s"} // a killed run's leases expire in 2 s
	args := func(dest string) []string {
		return []string{"run", "--source", sampleTrail, "--dest", dest, "--from", m.Window.From, "--to", m.Window.To, "--table-format", "iceberg"}
	}
	check := func(t *testing.T, dest string) {
		t.Helper()
		if r := marketrail(t, env, args(dest)...); r.code != 0 {
			t.Fatalf("re-run: exit %d\n%s", r.code, r.stderr)
		}
		sameRows(t, "re-run after the kill", localLake(dest).rows(t, columns), want)
	}
	for _, point := range []string{"upload:2", "committed:1", "committed:2", "committed:4", "published:1", "between-days:1"} {
		t.Run(point, func(t *testing.T) {
			dest := filepath.Join(t.TempDir(), "lake")
			r := marketrail(t, append(slices.Clip(env), crashEnv+"="+point), args(dest)...)
			if r.code != -1 {
				t.Fatalf("the run was not killed at %s (exit %d)\n%s", point, r.code, r.stderr)
			}
			check(t, dest)
		})
	}
	// Random moments of a clean run's time, reproducibly chosen.
	began := time.Now()
	if r := marketrail(t, nil, args(filepath.Join(t.TempDir(), "clean"))...); r.code != 0 {
		t.Fatalf("clean run: exit %d\n%s", r.code, r.stderr)
	}
	runTime := time.Since(began)
	rng := rand.New(rand.NewPCG(14, 9))
	for i := range 4 {
		delay := runTime/5 + time.Duration(rng.Int64N(int64(runTime*3/5)))
		t.Run(fmt.Sprintf("random-%d", i), func(t *testing.T) {
			dest := filepath.Join(t.TempDir(), "lake")
			killAfter(t, delay, env, args(dest)...)
			check(t, dest)
		})
	}
}

// TestIcebergShards runs three shards of the window at once into one destination, five
// times over: they commit to the same tables at the same moments (the SQLite catalog's
// compare-and-swap refuses all but one commit; the others are computed again from the new
// head), and end with the Hive run's rows.
func TestIcebergShards(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	m := readManifest(t, sampleManifest)
	want, columns := sampleHive(t, m)
	for round := range 5 {
		dest := filepath.Join(t.TempDir(), "lake")
		var wg sync.WaitGroup
		results := make([]result, 3)
		for i := range 3 {
			wg.Go(func() {
				results[i] = marketrail(t, nil, "run", "--source", sampleTrail, "--dest", dest, "--from", m.Window.From, "--to", m.Window.To,
					"--table-format", "iceberg", "--shard", fmt.Sprintf("%d/3", i))
			})
		}
		wg.Wait()
		for i, r := range results {
			if r.code != 0 {
				t.Fatalf("round %d, shard %d/3: exit %d\n%s", round, i, r.code, r.stderr)
			}
		}
		sameRows(t, fmt.Sprintf("round %d", round), localLake(dest).rows(t, columns), want)
	}
}

// TestIcebergREST publishes through a REST catalog (internal/restcatalog: the Iceberg REST
// API over a SQL catalog, on 127.0.0.1), the same code path as Glue's Iceberg REST
// endpoint or S3 Tables but for SigV4: the tables hold the Hive run's rows, and every
// commit went through the REST API.
func TestIcebergREST(t *testing.T) {
	m := readManifest(t, sampleManifest)
	want, columns := sampleHive(t, m)
	dest := filepath.Join(t.TempDir(), "lake")
	db := filepath.Join(t.TempDir(), "rest-catalog.db")
	srv, url := restcatalog.Start(t, db, "file://"+dest)
	r := marketrail(t, nil, "run", "--source", sampleTrail, "--dest", dest, "--from", m.Window.From, "--to", m.Window.To,
		"--table-format", "iceberg", "--catalog", "rest+"+url, "--database", "marketplace_lake")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	l := icebergLake{catalogDB: db, namespace: "marketplace_lake", local: localLake(dest).local}
	if loc := l.state(t, "events").Location; loc != "file://"+dest+"/events" {
		t.Errorf("the REST catalog has events at %q, want in the destination", loc)
	}
	commits := srv.Requests()["POST /v1/{prefix}/namespaces/{namespace}/tables/{table}"]
	if commits < 2*3 {
		t.Errorf("%d commits through the REST API, want at least one per day and table (6): %v", commits, srv.Requests())
	}
	sameRows(t, "REST catalog", l.rows(t, columns), want)
}

// TestIcebergMisconfigured: each mistake is one line naming it, and nothing is written.
func TestIcebergMisconfigured(t *testing.T) {
	m := readManifest(t, sampleManifest)
	hive := t.TempDir()
	if r := marketrail(t, nil, "run", "--source", sampleTrail, "--dest", hive, "--from", m.Window.From, "--to", m.Window.From); r.code != 0 {
		t.Fatalf("hive run: exit %d\n%s", r.code, r.stderr)
	}
	for _, c := range []struct {
		name string
		args []string
		env  []string
		code int
		want string
	}{
		{"unknown format", []string{"--table-format", "delta"}, nil, 2, "--table-format must be hive or iceberg"},
		{"catalog without iceberg", []string{"--catalog", "glue"}, nil, 2, "--catalog and --database are for --table-format iceberg"},
		{"s3 dest without a catalog", []string{"--table-format", "iceberg", "--dest", "s3://bucket/lake"}, nil, 2, "needs --catalog"},
		{"not a catalog", []string{"--table-format", "iceberg", "--catalog", "hive://x"}, nil, 1, `--catalog "hive://x": not a catalog`},
		{"plain http off this host", []string{"--table-format", "iceberg", "--catalog", "rest+http://catalog.example.com/iceberg"}, nil, 1, "reached over https"},
		{"REST catalog unreachable", []string{"--table-format", "iceberg", "--catalog", "rest+http://127.0.0.1:9/iceberg"}, nil, 1, "open the REST catalog http://127.0.0.1:9/iceberg"},
		{"glue without a region", []string{"--table-format", "iceberg", "--catalog", "glue"}, []string{"AWS_ACCESS_KEY_ID=x", "AWS_SECRET_ACCESS_KEY=y"}, 1, "no AWS region"},
		{"a Hive destination", []string{"--table-format", "iceberg", "--dest", hive}, nil, 1, "holds hive tables, not iceberg"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dest := filepath.Join(t.TempDir(), "lake")
			args := []string{"run", "--source", sampleTrail, "--dest", dest, "--from", m.Window.From, "--to", m.Window.From}
			r := marketrail(t, c.env, append(args, c.args...)...)
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			var fatal []string
			for _, l := range lines {
				if strings.HasPrefix(l, "marketrail") {
					fatal = append(fatal, l)
				}
			}
			if r.code != c.code || len(fatal) != 1 || !strings.Contains(fatal[0], c.want) {
				t.Fatalf("exit %d, want %d; want one line saying %q, got:\n%s", r.code, c.code, c.want, r.stderr)
			}
			// Nothing was published: no manifest, no table metadata.
			for _, d := range []string{dest, hive} {
				for _, f := range listAll(t, d) {
					if strings.Contains(f, "/metadata/") || d == dest && strings.HasPrefix(f, "_marketrail/days/") {
						t.Errorf("%s was written", filepath.Join(d, f))
					}
				}
			}
		})
	}
}

// TestIcebergBucketOwnerAndSSE: with Iceberg tables on S3, every file — data files,
// metadata.json, manifest lists and manifests, which iceberg-go writes through marketrail's
// own s3:// file IO (pkg/storage) — is written with the encryption asked for, and every
// request to the destination bucket carries its expected owner.
func TestIcebergBucketOwnerAndSSE(t *testing.T) {
	m := readManifest(t, sampleManifest)
	want, columns := sampleHive(t, m)
	c, srv, src, dst, p := ownedBuckets(t)
	db := filepath.Join(t.TempDir(), "catalog.db")
	r := marketrail(t, srv.Env(), "run", "--source", "s3://"+src+"/logs", "--dest", "s3://"+dst+"/lake",
		"--from", m.Window.From, "--to", m.Window.To, "--endpoint-url", p.URL,
		"--source-bucket-owner", sourceAccount, "--dest-bucket-owner", destAccount,
		"--sse", "aws:kms", "--sse-kms-key-id", testKMSKey,
		"--table-format", "iceberg", "--catalog", "sqlite:"+db)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	reqs := p.Recorded()
	checkRequests(t, reqs, map[string]string{src: sourceAccount, dst: destAccount}, "aws:kms", testKMSKey)
	kinds := map[string]int{}
	for _, q := range reqs {
		if q.Method != http.MethodPut {
			continue
		}
		switch {
		case strings.HasSuffix(q.Path, ".metadata.json"):
			kinds["metadata.json"]++
		case strings.Contains(q.Path, "/metadata/snap-"):
			kinds["manifest list"]++
		case strings.HasSuffix(q.Path, ".avro"):
			kinds["manifest"]++
		case strings.HasSuffix(q.Path, ".parquet"):
			kinds["data"]++
		}
	}
	for _, k := range []string{"metadata.json", "manifest list", "manifest", "data"} {
		if kinds[k] == 0 {
			t.Errorf("no %s file was written through the checked requests: %v", k, kinds)
		}
	}
	dir := download(t, c, dst, "lake/")
	l := icebergLake{catalogDB: db, local: func(uri string) string {
		return filepath.Join(dir, strings.TrimPrefix(uri, "s3://"+dst+"/lake/"))
	}}
	sameRows(t, "iceberg on owned buckets with SSE-KMS", l.rows(t, columns), want)
}

// TestIcebergFollow: follow with --table-format iceberg drains a queue announcing the
// sample trail into Iceberg tables holding a Hive run's rows; a file announced again makes a
// batch whose rows are unchanged, which commits nothing; follow's upkeep expires snapshots;
// and a nightly run afterwards finds every day unchanged.
func TestIcebergFollow(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	fx := newFollowFixture(t)
	want, columns := hiveWindow(t, fx.from, fx.to) // every day a log file of the sample is in
	announceAll(t, fx.qc, fx.queueURL, fx.bucket, "logs/", fx.keys)
	db := filepath.Join(t.TempDir(), "catalog.db")
	dest := "s3://" + fx.bucket + "/lake"
	args := []string{"--queue", fx.queueURL, "--source", "s3://" + fx.bucket + "/logs", "--dest", dest,
		"--interval", "1s", "--visibility", "5s", "--log-format", "json", "--table-format", "iceberg", "--catalog", "sqlite:" + db}
	f := startFollow(t, fx.env, append(args, "--snapshot-retention", "1ms")...)
	drained(t, fx.qc, fx.queueURL, f, 60*time.Second)
	lake := func() icebergLake {
		dir := download(t, fx.sc, fx.bucket, "lake/")
		return icebergLake{catalogDB: db, local: func(uri string) string { return filepath.Join(dir, strings.TrimPrefix(uri, dest+"/")) }}
	}
	// The last batch's commits may still be under way once the queue is empty.
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(f.log(), `"msg":"iceberg snapshots expired"`) && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(f.log(), `"msg":"iceberg snapshots expired"`) {
		t.Errorf("follow's upkeep did not run:\n%s", f.log())
	}
	before, _ := snapshots(t, lake())
	sqstest.Send(t, fx.qc, fx.queueURL, ctBody(fx.bucket, "logs/"+fx.keys[0]))
	drained(t, fx.qc, fx.queueURL, f, 30*time.Second)
	if code := f.stop(t); code != 0 {
		t.Fatalf("follow exited %d after SIGTERM\n%s", code, f.log())
	}
	l := lake()
	sameRows(t, "follow into iceberg tables", l.rows(t, columns), want)
	if after, _ := snapshots(t, l); !maps.Equal(after, before) {
		t.Errorf("a batch with no changed rows committed: snapshots %v, then %v", before, after)
	}
	r := marketrail(t, fx.srv.Env(), "run", "--source", "s3://"+fx.bucket+"/logs", "--dest", dest, "--from", fx.from, "--to", fx.to,
		"--table-format", "iceberg", "--catalog", "sqlite:"+db)
	if r.code != 0 {
		t.Fatalf("nightly run: exit %d\n%s", r.code, r.stderr)
	}
	for _, d := range runReport(t, r)["days"].([]any) {
		if day := d.(map[string]any); day["action"] != "unchanged" {
			t.Errorf("the nightly run found delivery day %v %v (%v), want unchanged", day["delivery_day"], day["action"], day["reason"])
		}
	}
}

// TestIcebergDDL: 'marketrail ddl --table-format iceberg' prints the guide for the catalog
// given to 'run', and refuses what makes no sense.
func TestIcebergDDL(t *testing.T) {
	r := marketrail(t, nil, "ddl", "--table-format", "iceberg", "--catalog", "glue", "--database", "mkt")
	if r.code != 0 || !strings.Contains(r.stdout, `SELECT count(*) FROM "mkt"."events";`) {
		t.Errorf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--table-format", "iceberg"}, "needs --catalog"},
		{[]string{"--table-format", "delta", "--location", "s3://b/p"}, "--table-format must be hive or iceberg"},
		{[]string{"--catalog", "glue", "--location", "s3://b/p"}, "--catalog is for --table-format iceberg"},
		{[]string{"--table-format", "iceberg", "--catalog", "glue", "--database", "a;b"}, "not a plain name"},
	} {
		r := marketrail(t, nil, append([]string{"ddl"}, c.args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("ddl %q: exit %d, want 2 with %q\n%s", c.args, r.code, c.want, r.stderr)
		}
	}
}

// TestBuildWithoutIceberg: go build -tags noiceberg links no iceberg-go (nor arrow-go, the
// catalogs' drivers and their start-up cost), writes Hive tables as the standard build
// does, and refuses --table-format iceberg with one line before touching anything.
func TestBuildWithoutIceberg(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	lean := filepath.Join(t.TempDir(), "marketrail")
	build := exec.Command("go", "build", "-tags", "noiceberg", "-o", lean, ".")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build -tags noiceberg: %v\n%s", err, b)
	}
	mods, err := exec.Command("go", "version", "-m", lean).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"github.com/apache/iceberg-go", "github.com/apache/arrow-go", "modernc.org/sqlite", "github.com/substrait-io"} {
		if strings.Contains(string(mods), m) {
			t.Errorf("the build without Iceberg links %s", m)
		}
	}
	m := readManifest(t, sampleManifest)
	run := func(dest string, extra ...string) result {
		cmd := exec.Command(lean, append([]string{"run", "--source", sampleTrail, "--dest", dest, "--from", m.Window.From, "--to", m.Window.To}, extra...)...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		r := result{code: cmd.ProcessState.ExitCode(), stdout: out.String(), stderr: errb.String()}
		if err != nil && r.code <= 0 {
			t.Fatal(err)
		}
		return r
	}
	dest := filepath.Join(t.TempDir(), "lake")
	if r := run(dest, "--table-format", "iceberg"); r.code != 2 || !strings.Contains(r.stderr, "built without Iceberg support") {
		t.Errorf("--table-format iceberg: exit %d, want 2 saying the build has no Iceberg\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(dest); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the refused run made its destination (%v)", err)
	}
	if r := run(dest); r.code != 0 {
		t.Fatalf("hive run: exit %d\n%s", r.code, r.stderr)
	}
	got, _ := written(t, dest)
	diff(t, "the build without Iceberg", got, m.expected(m.Window.From, m.Window.To))
}
