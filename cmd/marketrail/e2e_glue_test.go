package main

// End-to-end test of --catalog glue: the binary publishes Iceberg tables through
// iceberg-go's Glue catalog to internal/gluetest (a model of the Glue Data Catalog API on
// 127.0.0.1, reached through AWS_ENDPOINT_URL_GLUE), and the tables are read back without
// iceberg-go from the metadata location the fake Glue holds in the table's parameters.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/marketrail/marketrail/internal/gluetest"
	"github.com/marketrail/marketrail/internal/icebergread"
)

// glueEnv is the binary's environment for the fake Glue at url.
func glueEnv(url string) []string {
	return []string{"AWS_ENDPOINT_URL_GLUE=" + url, "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=x", "AWS_SECRET_ACCESS_KEY=y"}
}

// glueState reads table's current state from the metadata location Glue's table
// parameters name, after checking that they make it an Iceberg table.
func glueState(t *testing.T, srv *gluetest.Server, db, table string) (*icebergread.Table, string) {
	t.Helper()
	p, ok := srv.Table(db, table)
	if !ok {
		t.Fatalf("Glue has no table %s.%s", db, table)
	}
	loc := p["metadata_location"]
	if p["table_type"] != "ICEBERG" || loc == "" {
		t.Fatalf("Glue table %s.%s is not an Iceberg table: parameters %v", db, table, p)
	}
	st, err := icebergread.Load(context.Background(), icebergread.LocalRead, loc)
	if err != nil {
		t.Fatal(err)
	}
	return st, loc
}

// glueLake is the Iceberg tables of database db in Glue, in the local destination: read
// as the other Iceberg tests read them, from the metadata location Glue's table names.
func glueLake(srv *gluetest.Server, db string) icebergLake {
	return icebergLake{
		metadata: func(t *testing.T, table string) string { _, loc := glueState(t, srv, db, table); return loc },
		local:    func(uri string) string { return strings.TrimPrefix(uri, "file://") },
	}
}

// TestIcebergGlue publishes the sample window through --catalog glue: the Glue tables
// are Iceberg tables in the destination holding the Hive run's rows; a run again commits
// nothing; and two shards at once into a fresh database end with the same rows, through
// Glue's optimistic concurrency (a stale VersionId is refused, and retried).
func TestIcebergGlue(t *testing.T) {
	m := readManifest(t, sampleManifest)
	want, columns := sampleHive(t, m)
	srv, url := gluetest.Start(t)
	env := glueEnv(url)
	run := func(dest, db string, extra ...string) result {
		args := []string{"run", "--source", sampleTrail, "--dest", dest, "--from", m.Window.From, "--to", m.Window.To,
			"--table-format", "iceberg", "--catalog", "glue", "--database", db}
		return marketrail(t, env, append(args, extra...)...)
	}

	dest := filepath.Join(t.TempDir(), "lake")
	if r := run(dest, "mkt"); r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	calls := srv.Calls()
	if calls["CreateDatabase"] == 0 || calls["CreateTable"] != len(icebergTables) || calls["UpdateTable"] < 2*3 {
		t.Errorf("Glue calls %v: want the database, %d tables created and at least one commit per day and table (6)", calls, len(icebergTables))
	}
	locs := map[string]string{}
	for _, table := range icebergTables {
		st, loc := glueState(t, srv, "mkt", table)
		locs[table] = loc
		if st.Location != "file://"+dest+"/"+table {
			t.Errorf("Glue has %s at %q, want in the destination", table, st.Location)
		}
		if !strings.HasPrefix(loc, st.Location+"/metadata/") {
			t.Errorf("%s: metadata location %s is not under the table", table, loc)
		}
		if p, _ := srv.Table("mkt", table); p["previous_metadata_location"] == "" {
			t.Errorf("%s: no previous_metadata_location after its commits: %v", table, p)
		}
	}
	if _, err := os.Stat(filepath.Join(dest, "_marketrail", "iceberg-catalog.db")); err == nil {
		t.Errorf("--catalog glue made the default SQLite catalog in the destination")
	}
	sameRows(t, "glue catalog", glueLake(srv, "mkt").rows(t, columns), want)

	// Nothing changed: no commit.
	r := run(dest, "mkt")
	if r.code != 0 {
		t.Fatalf("run again: exit %d\n%s", r.code, r.stderr)
	}
	for _, d := range runReport(t, r)["days"].([]any) {
		if day := d.(map[string]any); day["action"] != "unchanged" {
			t.Errorf("the run again found delivery day %v %v (%v), want unchanged", day["delivery_day"], day["action"], day["reason"])
		}
	}
	again := srv.Calls()
	if again["UpdateTable"] != calls["UpdateTable"] || again["CreateTable"] != calls["CreateTable"] {
		t.Errorf("a run with nothing changed updated Glue: calls %v, then %v", calls, again)
	}
	for _, table := range icebergTables {
		if p, _ := srv.Table("mkt", table); p["metadata_location"] != locs[table] {
			t.Errorf("%s: metadata location %s, then %s after a run with nothing changed", table, locs[table], p["metadata_location"])
		}
	}

	// Two shards at once into a fresh destination and database.
	dest2 := filepath.Join(t.TempDir(), "lake")
	var wg sync.WaitGroup
	results := make([]result, 2)
	for i := range 2 {
		wg.Go(func() { results[i] = run(dest2, "mkt_shards", "--shard", fmt.Sprintf("%d/2", i)) })
	}
	wg.Wait()
	for i, r := range results {
		if r.code != 0 {
			t.Fatalf("shard %d/2: exit %d\n%s", i, r.code, r.stderr)
		}
	}
	sameRows(t, "two shards through glue", glueLake(srv, "mkt_shards").rows(t, columns), want)
	conflicts := srv.Errors()["UpdateTable ConcurrentModificationException"]
	var retried []string
	for _, r := range results {
		for _, l := range strings.Split(r.stderr, "\n") {
			if strings.Contains(l, "retrying from the table's new head") {
				retried = append(retried, l)
			}
		}
	}
	t.Logf("two shards: %d ConcurrentModificationException from UpdateTable; Glue errors %v; %d retries logged:\n%s",
		conflicts, srv.Errors(), len(retried), strings.Join(retried, "\n"))
}
