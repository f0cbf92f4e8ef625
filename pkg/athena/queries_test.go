package athena_test

// The queries of docs/athena.md, run with DuckDB over the output of the sample trail, and
// their answers checked against the sample generator's manifest: what the generator
// injected, never what marketrail computed.

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/marketrail/marketrail/internal/duckcheck"
	"github.com/marketrail/marketrail/internal/gentrail"
	"github.com/marketrail/marketrail/pkg/pipeline"
	"github.com/marketrail/marketrail/pkg/storage"
	"github.com/marketrail/marketrail/pkg/trail"
)

const (
	sampleTrail    = "../../testdata/trail"
	sampleManifest = "../../testdata/trail-manifest.json"
	athenaDoc      = "../../docs/athena.md"
)

// query is one SQL block of the Queries section, named by its heading (and its place under
// the heading when there are several).
type query struct{ name, sql string }

func documentedQueries(t *testing.T) []query {
	t.Helper()
	b, err := os.ReadFile(athenaDoc)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i := strings.Index(doc, "\n## Queries\n")
	if i < 0 {
		t.Fatal("docs/athena.md has no Queries section")
	}
	doc = doc[i:]
	if j := strings.Index(doc[1:], "\n## "); j >= 0 {
		doc = doc[:j+1]
	}
	var out []query
	heading, n := "", 0
	block := regexp.MustCompile("(?s)^```sql\n(.*?)```")
	for k := 0; k < len(doc); k++ {
		rest := doc[k:]
		if k > 0 && doc[k-1] != '\n' {
			continue
		}
		if h, ok := strings.CutPrefix(rest, "### "); ok {
			heading, n = strings.TrimSpace(h[:strings.IndexByte(h+"\n", '\n')]), 0
			continue
		}
		if m := block.FindStringSubmatch(rest); m != nil {
			n++
			out = append(out, query{fmt.Sprintf("%s #%d", heading, n), m[1]})
		}
	}
	if len(out) < 6 {
		t.Fatalf("found %d queries in docs/athena.md", len(out))
	}
	return out
}

// sample runs the pipeline over the sample trail's window and returns the output folder and
// the manifest.
func sample(t *testing.T) (string, *gentrail.Manifest) {
	t.Helper()
	m, err := gentrail.ReadManifest(sampleManifest)
	if err != nil {
		t.Fatal(err)
	}
	src, err := storage.OpenLocal(sampleTrail, false)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	out := t.TempDir()
	dst, err := storage.OpenLocal(out, true)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	from, _ := trail.ParseDay(m.Window.From)
	to, _ := trail.ParseDay(m.Window.To)
	rep, err := pipeline.Run(context.Background(), pipeline.Config{Source: src, Dest: dst, From: from, To: to, Version: "test"})
	if err != nil || rep.ExitCode != 0 {
		t.Fatalf("run: %v (exit %d)", err, rep.ExitCode)
	}
	return out, m
}

// lake opens DuckDB with the tables as Athena has them: database marketplace, event_date a
// string partition column, timestamps in UTC.
func lake(t *testing.T, dir string) *sql.DB {
	t.Helper()
	db := duckcheck.Open(t)
	db.SetMaxOpenConns(1) // one connection, so the session settings hold for every query
	stmts := []string{"SET TimeZone = 'UTC'", "CREATE SCHEMA marketplace"}
	for _, table := range []string{"events", "metering_records"} {
		glob := dir + "/" + table + "/*/[!_.]*.parquet"
		stmts = append(stmts, fmt.Sprintf("CREATE VIEW marketplace.%s AS SELECT * FROM read_parquet('%s', hive_partitioning = true, hive_types = {'event_date': VARCHAR})", table, glob))
	}
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	return db
}

// rowsOf runs q and renders each row: NULL, timestamps as RFC 3339 UTC, the rest with %v.
func rowsOf(t *testing.T, db *sql.DB, q string) [][]string {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("duckdb: %v\n%s", err, q)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out [][]string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		r := make([]string, len(cols))
		for i, v := range vals {
			switch v := v.(type) {
			case nil:
				r[i] = "NULL"
			case time.Time:
				r[i] = v.UTC().Format(time.RFC3339)
			default:
				r[i] = fmt.Sprint(v)
			}
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// unique is the manifest's answer to the dedup views: the events a run over the window
// writes, one copy of each eventID (the earliest partition, then the smallest source key),
// every copy without one.
func unique(expected []gentrail.Copy) []gentrail.Copy {
	best := map[string]gentrail.Copy{}
	var out []gentrail.Copy
	for _, c := range expected {
		if c.EventID == "" {
			out = append(out, c)
			continue
		}
		if b, ok := best[c.EventID]; !ok || c.EventDate < b.EventDate || c.EventDate == b.EventDate && c.SourceKey < b.SourceKey {
			best[c.EventID] = c
		}
	}
	for _, c := range best {
		out = append(out, c)
	}
	return out
}

// status is the metering_records status the manifest implies for one usage record.
func status(c gentrail.Copy, u gentrail.Metering) string {
	switch {
	case c.EventName == "MeterUsage" && strings.HasSuffix(c.Variant, "/dry_run"):
		return "DryRun"
	case c.ErrorCode != "":
		return "Failed"
	case c.EventName == "MeterUsage":
		return "Success"
	case strings.HasSuffix(c.Variant, "no_response"): // BatchMeterUsage/no_response, …/concurrent_agreements_no_response
		return "Unknown"
	case u.Unprocessed:
		return "Unprocessed"
	}
	return u.Status
}

func customer(u gentrail.Metering) string {
	if u.CustomerAWSAccountID != "" {
		return u.CustomerAWSAccountID
	}
	return u.CustomerIdentifier
}

func orNull(s string) string {
	if s == "" {
		return "NULL"
	}
	return s
}

func month(rfc3339 string) string { return rfc3339[:7] }

func sortedRows(rows [][]string) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = strings.Join(r, " | ")
	}
	slices.Sort(out)
	return out
}

func equalRows(t *testing.T, name string, got [][]string, want [][]string) {
	t.Helper()
	g, w := sortedRows(got), sortedRows(want)
	if !slices.Equal(g, w) {
		count := map[string]int{}
		for _, r := range g {
			count[r]++
		}
		for _, r := range w {
			count[r]--
		}
		var extra, missing []string
		for r, n := range count {
			for ; n > 0; n-- {
				extra = append(extra, r)
			}
			for ; n < 0; n++ {
				missing = append(missing, r)
			}
		}
		slices.Sort(extra)
		slices.Sort(missing)
		t.Errorf("%s: %d rows, manifest says %d\nnot in the manifest:\n  %s\nmissing:\n  %s", name, len(g), len(w),
			strings.Join(extra, "\n  "), strings.Join(missing, "\n  "))
	}
	if len(w) == 0 {
		t.Errorf("%s: the sample has no rows for this query: the check proves nothing", name)
	}
}

// ordered fails unless rows are sorted by the columns at idx, NULLs last (as both Athena
// and DuckDB sort them by default).
func ordered(t *testing.T, name string, rows [][]string, idx ...int) {
	t.Helper()
	key := func(r []string) string {
		var k []string
		for _, i := range idx {
			if r[i] == "NULL" {
				k = append(k, "\xff")
				continue
			}
			k = append(k, r[i])
		}
		return strings.Join(k, "\x00")
	}
	for i := 1; i < len(rows); i++ {
		if key(rows[i-1]) > key(rows[i]) {
			t.Errorf("%s: row %d is out of order: %v before %v", name, i, rows[i-1], rows[i])
			return
		}
	}
}

// TestDocumentedQueries runs every query of docs/athena.md in order and checks each answer
// against the manifest. A query without a check fails the test.
func TestDocumentedQueries(t *testing.T) {
	dir, m := sample(t)
	db := lake(t, dir)
	expected := m.Expected(m.Window.From, m.Window.To)
	uniq := unique(expected)

	checks := map[string]func(t *testing.T, q string){
		"Remove the duplicates delivered on two days #1": func(t *testing.T, q string) {
			got := rowsOf(t, db, "SELECT coalesce(event_id, 'NULL'), source_key FROM marketplace.events_unique")
			var want [][]string
			for _, c := range uniq {
				want = append(want, []string{orNull(c.EventID), c.SourceKey})
			}
			equalRows(t, "events_unique", got, want)
			if len(uniq) >= len(expected) {
				t.Errorf("the sample has no event delivered on two days: the view is not tested")
			}
		},
		"Remove the duplicates delivered on two days #2": func(t *testing.T, q string) {
			got := rowsOf(t, db, "SELECT event_id, source_key, count(*) FROM marketplace.metering_records_unique GROUP BY 1, 2")
			var want [][]string
			for _, c := range uniq {
				if len(c.Metering) > 0 {
					want = append(want, []string{c.EventID, c.SourceKey, strconv.Itoa(len(c.Metering))})
				}
			}
			equalRows(t, "metering_records_unique", got, want)
		},
		"Monthly usage per product, licence, customer and dimension #1": func(t *testing.T, q string) {
			got := rowsOf(t, db, q)
			type key struct{ month, product, license, customer, dim string }
			sum, n := map[key]int{}, map[key]int{}
			licensed := 0
			for _, c := range uniq {
				if c.EventDate < "2024-02-01" || c.EventDate > "2024-03-31" {
					continue
				}
				for _, u := range c.Metering {
					if status(c, u) == "Success" {
						k := key{month(u.Timestamp), orNull(u.ProductCode), orNull(u.LicenseARN), orNull(customer(u)), u.Dimension}
						sum[k] += u.Quantity
						n[k]++
						if u.LicenseARN != "" {
							licensed++
						}
					}
				}
			}
			var want [][]string
			for k, s := range sum {
				want = append(want, []string{k.month, k.product, k.license, k.customer, k.dim, strconv.Itoa(s), strconv.Itoa(n[k])})
			}
			for _, r := range got {
				r[0] = month(r[0])
			}
			equalRows(t, "monthly usage", got, want)
			ordered(t, "monthly usage", got, 0, 1, 2, 3, 4)
			if licensed == 0 {
				t.Error("the sample has no accepted usage under a licence: grouping by licence is not tested")
			}
		},
		"Usage per agreement (licence) and customer account per month #1": func(t *testing.T, q string) {
			got := rowsOf(t, db, q)
			type key struct{ month, license, account, dim string }
			sum, n := map[key]int{}, map[key]int{}
			for _, c := range uniq {
				if c.EventDate < "2024-02-01" || c.EventDate > "2024-03-31" {
					continue
				}
				for _, u := range c.Metering {
					if u.LicenseARN != "" && status(c, u) == "Success" {
						k := key{month(u.Timestamp), u.LicenseARN, orNull(u.CustomerAWSAccountID), u.Dimension}
						sum[k] += u.Quantity
						n[k]++
					}
				}
			}
			var want [][]string
			for k, s := range sum {
				want = append(want, []string{k.month, k.license, k.account, k.dim, strconv.Itoa(s), strconv.Itoa(n[k])})
			}
			for _, r := range got {
				r[0] = month(r[0])
			}
			equalRows(t, "usage per licence", got, want)
			ordered(t, "usage per licence", got, 0, 1, 2, 3)
		},
		"Hours a customer was metered under two licences #1": func(t *testing.T, q string) {
			got := rowsOf(t, db, q)
			type key struct{ hour, account string }
			licenses, sum, n := map[key]map[string]bool{}, map[key]int{}, map[key]int{}
			for _, c := range uniq {
				if c.EventDate < "2024-02-01" {
					continue
				}
				for _, u := range c.Metering {
					if u.LicenseARN == "" || status(c, u) != "Success" {
						continue
					}
					k := key{u.Timestamp[:13] + ":00:00Z", orNull(u.CustomerAWSAccountID)}
					if licenses[k] == nil {
						licenses[k] = map[string]bool{}
					}
					licenses[k][u.LicenseARN] = true
					sum[k] += u.Quantity
					n[k]++
				}
			}
			var want [][]string
			for k, l := range licenses {
				if len(l) > 1 {
					want = append(want, []string{k.hour, k.account, strconv.Itoa(len(l)), strconv.Itoa(sum[k]), strconv.Itoa(n[k])})
				}
			}
			equalRows(t, "two licences in an hour", got, want)
			ordered(t, "two licences in an hour", got, 0, 1)
		},
		"Metering that did not succeed #1": func(t *testing.T, q string) {
			got := rowsOf(t, db, q)
			var want [][]string
			for _, c := range uniq {
				if c.EventDate < "2024-02-01" {
					continue
				}
				for _, u := range c.Metering {
					st := status(c, u)
					if st == "Success" || st == "DryRun" {
						continue
					}
					want = append(want, []string{c.EventTime, c.EventName, orNull(u.ProductCode), orNull(u.LicenseARN), orNull(customer(u)), u.Dimension,
						strconv.Itoa(u.Quantity), u.Timestamp, st, orNull(c.ErrorCode), c.EventID, c.SourceKey})
				}
			}
			trimmed := make([][]string, len(got))
			for i, r := range got {
				if r[10] == "NULL" {
					t.Errorf("metering failure without caller_arn: %v", r)
				}
				trimmed[i] = append(slices.Clone(r[:10]), r[11:]...) // caller_arn: the manifest does not record it
			}
			equalRows(t, "metering not succeeded", trimmed, want)
			ordered(t, "metering not succeeded", got, 0, 11)
			statuses := map[string]bool{}
			for _, r := range want {
				statuses[r[8]] = true
				if r[3] != "NULL" {
					statuses[r[8]+" under a licence"] = true
				}
			}
			for _, s := range []string{"Failed", "Unprocessed", "Unknown", "CustomerNotSubscribed",
				"Failed under a licence", "Unprocessed under a licence", "Unknown under a licence"} {
				if !statuses[s] {
					t.Errorf("the sample has no metering with status %s: that case is not tested", s)
				}
			}
		},
		"Agreements accepted and cancelled per month #1": func(t *testing.T, q string) {
			got := rowsOf(t, db, q)
			type key struct{ month, name string }
			calls, ids := map[key]int{}, map[key]map[string]bool{}
			for _, c := range uniq {
				if (c.EventName != "AcceptAgreementRequest" && c.EventName != "CancelAgreement") || c.ErrorCode != "" {
					continue
				}
				k := key{month(c.EventTime), c.EventName}
				calls[k]++
				if ids[k] == nil {
					ids[k] = map[string]bool{}
				}
				if c.AgreementID != "" {
					ids[k][c.AgreementID] = true
				}
			}
			var want [][]string
			for k, n := range calls {
				want = append(want, []string{k.month, k.name, strconv.Itoa(n), strconv.Itoa(len(ids[k]))})
			}
			for _, r := range got {
				r[0] = month(r[0])
			}
			equalRows(t, "agreements", got, want)
			ordered(t, "agreements", got, 0, 1)
		},
		"Who changed catalog entities #1": func(t *testing.T, q string) {
			got := rowsOf(t, db, q)
			changes := []string{"StartChangeSet", "CancelChangeSet", "PutResourcePolicy", "DeleteResourcePolicy", "TagResource", "UntagResource"}
			var want [][]string
			for _, c := range uniq {
				if (c.EventSource == "marketplacecatalog.amazonaws.com" || c.EventSource == "aws-marketplace.amazonaws.com") && slices.Contains(changes, c.EventName) {
					want = append(want, []string{c.EventTime, c.UserIdentityType, c.EventName, orNull(c.EntityID), orNull(c.ChangeSetID), orNull(c.ErrorCode), c.EventID})
				}
			}
			var trimmed [][]string
			for _, r := range got {
				if r[1] == "NULL" || r[4] != "AWSMarketplace" {
					t.Errorf("catalog change without caller or catalog: %v", r)
				}
				trimmed = append(trimmed, []string{r[0], r[2], r[3], r[5], r[6], r[7], r[9]})
			}
			equalRows(t, "catalog changes", trimmed, want)
			ordered(t, "catalog changes", got, 0, 9)
		},
		"Daily event counts by source #1": func(t *testing.T, q string) {
			got := rowsOf(t, db, q)
			n := map[[2]string]int{}
			for _, c := range expected {
				n[[2]string{c.EventDate, c.EventSource}]++
			}
			var want [][]string
			for k, v := range n {
				want = append(want, []string{k[0], k[1], strconv.Itoa(v)})
			}
			equalRows(t, "daily counts", got, want)
			ordered(t, "daily counts", got, 0, 1)
		},
	}
	used := map[string]bool{}
	for _, q := range documentedQueries(t) {
		check, ok := checks[q.name]
		if !ok {
			t.Errorf("docs/athena.md query %q has no check in this test", q.name)
			continue
		}
		used[q.name] = true
		t.Run(q.name, func(t *testing.T) {
			if strings.HasPrefix(strings.TrimSpace(q.sql), "CREATE") {
				if _, err := db.Exec(q.sql); err != nil {
					t.Fatalf("duckdb: %v\n%s", err, q.sql)
				}
			}
			check(t, strings.TrimSuffix(strings.TrimSpace(q.sql), ";"))
		})
	}
	for name := range checks {
		if !used[name] {
			t.Errorf("check %q has no query in docs/athena.md", name)
		}
	}
}

// TestMeteringRecordsMatchManifest: every row of metering_records, all columns a usage
// record carries, equals what the generator injected into the sample.
func TestMeteringRecordsMatchManifest(t *testing.T) {
	dir, m := sample(t)
	db := lake(t, dir)
	got := rowsOf(t, db, `SELECT event_id, event_name, event_time, event_date, source_key, coalesce(product_code, 'NULL'),
		coalesce(customer_identifier, 'NULL'), coalesce(customer_aws_account_id, 'NULL'), coalesce(license_arn, 'NULL'), dimension, quantity, usage_time,
		status, coalesce(metering_record_id, 'NULL'), coalesce(error_code, 'NULL'), seller_account_id, aws_region
		FROM marketplace.metering_records`)
	var want [][]string
	for _, c := range m.Expected(m.Window.From, m.Window.To) {
		for _, u := range c.Metering {
			want = append(want, []string{c.EventID, c.EventName, c.EventTime, c.EventDate, c.SourceKey, orNull(u.ProductCode),
				orNull(u.CustomerIdentifier), orNull(u.CustomerAWSAccountID), orNull(u.LicenseARN), u.Dimension, strconv.Itoa(u.Quantity), u.Timestamp,
				status(c, u), orNull(u.MeteringRecordID), orNull(c.ErrorCode), c.RecipientAccountID, c.AWSRegion})
		}
	}
	equalRows(t, "metering_records", got, want)
}

// TestEventsLicenseMatchManifest: every events row's license_arn is the top-level licenseArn
// the generator wrote into that record (ResolveCustomer's response), else null: never one of
// BatchMeterUsage's per-record licences.
func TestEventsLicenseMatchManifest(t *testing.T) {
	dir, m := sample(t)
	db := lake(t, dir)
	got := rowsOf(t, db, `SELECT coalesce(event_id, 'NULL'), source_key, coalesce(license_arn, 'NULL'),
		coalesce(customer_aws_account_id, 'NULL'), coalesce(product_code, 'NULL') FROM marketplace.events`)
	var want [][]string
	licensed := 0
	for _, c := range m.Expected(m.Window.From, m.Window.To) {
		want = append(want, []string{orNull(c.EventID), c.SourceKey, orNull(c.LicenseARN), orNull(c.CustomerAWSAccountID), orNull(c.ProductCode)})
		if c.LicenseARN != "" {
			licensed++
		}
	}
	equalRows(t, "events license_arn", got, want)
	if licensed == 0 {
		t.Error("the sample has no event with a licenseArn: the column is not tested")
	}
}
