package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/marketrail/marketrail/internal/faultproxy"
	"github.com/marketrail/marketrail/internal/gentrail"
	"github.com/marketrail/marketrail/internal/icebergread"
	"github.com/marketrail/marketrail/pkg/iceberg"
	"github.com/marketrail/marketrail/pkg/storage"
)

// icebergConfig is the archive of -only iceberg: gentrail.Large's week of delivery days in
// 280 log files of 200 records, 5 % of them Marketplace events. Its days are small, so what
// --table-format iceberg adds to each day's publication (a commit per table to the catalog,
// a metadata file, a manifest list and manifests) shows against the Hive run's time, and
// a round of both formats on both destinations stays within seconds. Every day of the window
// has log files and events: gentrail.Large's 32 trail folders hold about 40 files a day. The
// quick archive has 4 folders, one file of each a day.
func icebergConfig(quick bool) gentrail.Config {
	c := gentrail.Large(280)
	c.RecordsPerFile = 200
	if quick {
		c.Files, c.RecordsPerFile = 28, 40
		c.Accounts, c.DigestAccounts = 1, 1
	}
	return c
}

// eventDays is the number of delivery days of a's window that have events to write: a day
// with none makes no Iceberg snapshot.
func eventDays(a *trailArchive) (int, error) {
	m, err := gentrail.ReadManifest(a.dir + ".manifest.json")
	if err != nil {
		return 0, err
	}
	days := map[string]bool{}
	for _, c := range m.Expected(a.from, a.to) {
		days[c.DeliveryDay] = true
	}
	return len(days), nil
}

// icebergTables are the tables of an Iceberg destination, in the default namespace.
var icebergTables = []string{"events", "metering_records"}

// icebergRow is one line of the Iceberg table: one format on one destination, its first run
// into a fresh destination or its run again with nothing changed.
type icebergRow struct {
	format, where string
	again         bool // the run again into the first run's destination
	samples       []sample
	requests      int64 // S3 requests over the rounds (the S3 destination)
	metadata      int64 // bytes of the tables' */metadata/* files the run wrote, over the rounds
	snapshots     int   // snapshots of each table after the run (the same for every table and round)
}

// icebergTarget is one format on one destination (a local folder, or the S3 server when s3)
// and its two rows.
type icebergTarget struct {
	format string
	s3     bool
	first  *icebergRow
	again  *icebergRow
}

// icebergRegime measures --table-format iceberg against hive on one archive.
type icebergRegime struct {
	s      *suite
	a      *trailArchive
	days   int               // delivery days of the window
	snaps  int               // snapshots per Iceberg table after a run: one per day with events
	proxy  *faultproxy.Proxy // counts the S3 destination's requests
	env    []string          // marketrail's environment for the S3 destination: through the proxy
	bucket string            // the S3 destination's bucket, a new prefix each run
	s3c    *s3.Client        // straight to the server, for the checks (not counted)
	n      int               // destinations so far
}

// runIceberg measures what --table-format iceberg costs a delivery day against hive
// (-only iceberg): marketrail at default settings reads a local archive of a week into a
// fresh destination, a local folder (its default SQLite catalog) and a bucket of the S3
// server through a proxy that counts the requests (a SQLite catalog in a local file), in
// each format, then again with nothing changed into the same destination, which must not
// make a snapshot. Every run of every round is interleaved; the table shows medians.
func runIceberg(ctx context.Context, o options) error {
	s, err := newSuite(ctx, o.work)
	if err != nil {
		return err
	}
	a, err := archive(icebergConfig(o.quick), filepath.Join(o.work, "iceberg"+suffix(o.quick)))
	if err != nil {
		return err
	}
	srv, err := s3Server(ctx, o.work)
	if err != nil {
		return err
	}
	defer srv.stop()
	s.srv = srv
	rows, err := s.icebergRegime(ctx, a, o.runs)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.out, "Measured by `go run ./cmd/perftable -only iceberg` on %s.\n", machine())
	reportIceberg(o.out, a, windowDays(a), o.runs, rows)
	return nil
}

// windowDays is the number of delivery days of a's window.
func windowDays(a *trailArchive) int {
	from, err1 := time.Parse("2006-01-02", a.from)
	to, err2 := time.Parse("2006-01-02", a.to)
	if err1 != nil || err2 != nil {
		return 1
	}
	return int(to.Sub(from)/(24*time.Hour)) + 1
}

// icebergRegime runs the Iceberg table's rows on a for rounds, on s's S3 server, and returns
// them: for each destination (local folder, S3 server) hive then iceberg, each a first run
// and a run again.
func (s *suite) icebergRegime(ctx context.Context, a *trailArchive, rounds int) ([]*icebergRow, error) {
	p, err := faultproxy.New(s.srv.endpoint, faultproxy.Config{})
	if err != nil {
		return nil, err
	}
	defer p.Close()
	empty, err := os.MkdirTemp(s.work, "lake-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(empty)
	r := &icebergRegime{s: s, a: a, days: windowDays(a), proxy: p}
	if r.snaps, err = eventDays(a); err != nil {
		return nil, err
	}
	if r.bucket, err = s.srv.upload(ctx, empty); err != nil { // upload points this process's AWS variables at the server
		return nil, err
	}
	if r.s3c, err = storage.NewS3Client(ctx, storage.S3Options{}); err != nil {
		return nil, err
	}
	proxied := server{endpoint: p.URL, access: s.srv.access, secret: s.srv.secret}
	r.env = proxied.env()
	var targets []*icebergTarget
	var rows []*icebergRow
	for _, onS3 := range []bool{false, true} {
		where := "local folder"
		if onS3 {
			where = "S3 server"
		}
		for _, format := range []string{"hive", "iceberg"} {
			t := &icebergTarget{format: format, s3: onS3,
				first: &icebergRow{format: format, where: where}, again: &icebergRow{format: format, where: where, again: true}}
			targets = append(targets, t)
			rows = append(rows, t.first, t.again)
		}
	}
	for round := range rounds {
		for _, t := range targets {
			logf("iceberg %d/%d: %s, %s", round+1, rounds, t.format, t.first.where)
			if err := r.round(ctx, t); err != nil {
				return nil, fmt.Errorf("iceberg, %s on the %s: %w", t.format, t.first.where, err)
			}
		}
	}
	return rows, nil
}

// round runs t's format into a fresh destination, then again into it, and records both.
func (r *icebergRegime) round(ctx context.Context, t *icebergTarget) error {
	local, err := os.MkdirTemp(r.s.work, "out-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(local)
	dest, catalog, env := local, filepath.Join(local, "_marketrail", "iceberg-catalog.db"), []string(nil)
	args := []string{r.s.bin, "run", "--source", r.a.dir, "--from", r.a.from, "--to", r.a.to,
		"--progress", "off", "--log-format", "json", "--table-format", t.format}
	if t.s3 {
		r.n++
		dest, catalog, env = fmt.Sprintf("s3://%s/lake-%d", r.bucket, r.n), filepath.Join(local, "catalog.db"), r.env
		if t.format == "iceberg" {
			args = append(args, "--catalog", "sqlite:"+catalog)
		}
	}
	args = append(args, "--dest", dest)
	var meta int64
	for _, row := range []*icebergRow{t.first, t.again} {
		before := r.proxy.Requests.Load()
		smp, out, err := r.s.child(ctx, env, "", args...)
		if err != nil {
			return err
		}
		row.requests += r.proxy.Requests.Load() - before
		var sum runSummary
		if err := json.Unmarshal(out, &sum); err != nil {
			return fmt.Errorf("marketrail's summary: %v", err)
		}
		if sum.ExitCode != 0 {
			return fmt.Errorf("marketrail exited %d", sum.ExitCode)
		}
		if !row.again && (sum.Totals.LogFilesRead != int64(len(r.a.logFiles)) || sum.Totals.EventsMatched != int64(r.a.copies)) {
			return fmt.Errorf("marketrail read %d of %d log files and matched %d of %d events",
				sum.Totals.LogFilesRead, len(r.a.logFiles), sum.Totals.EventsMatched, r.a.copies)
		}
		row.samples = append(row.samples, smp)
		m, err := r.metadataBytes(ctx, dest)
		if err != nil {
			return err
		}
		row.metadata += m - meta
		meta = m
		if t.format == "iceberg" {
			n, err := r.snapshots(ctx, catalog)
			if err != nil {
				return err
			}
			if n != r.snaps { // one per delivery day with events, and none for the run again
				return fmt.Errorf("%d snapshots per table after the run (again: %v), want one per delivery day with events (%d)", n, row.again, r.snaps)
			}
			row.snapshots = n
		}
	}
	return nil
}

// metadataBytes is the size of the files under dest in a folder named metadata: the Iceberg
// tables' metadata files, manifest lists and manifests (a Hive lake has none).
func (r *icebergRegime) metadataBytes(ctx context.Context, dest string) (int64, error) {
	isMeta := func(rel string) bool {
		parts := strings.Split(rel, "/")
		return slices.Contains(parts[:len(parts)-1], "metadata")
	}
	var n int64
	if bucket, prefix, ok := strings.Cut(strings.TrimPrefix(dest, "s3://"), "/"); ok && strings.HasPrefix(dest, "s3://") {
		pages := s3.NewListObjectsV2Paginator(r.s3c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix + "/")})
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if err != nil {
				return 0, err
			}
			for _, o := range page.Contents {
				if isMeta(strings.TrimPrefix(aws.ToString(o.Key), prefix+"/")) {
					n += aws.ToInt64(o.Size)
				}
			}
		}
		return n, nil
	}
	err := filepath.WalkDir(dest, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dest, p)
		if isMeta(filepath.ToSlash(rel)) {
			info, err := d.Info()
			if err != nil {
				return err
			}
			n += info.Size()
		}
		return nil
	})
	return n, err
}

// snapshots is the number of snapshots of the Iceberg tables the SQLite catalog in file
// names, read from their current metadata (the repository's independent reader, not
// iceberg-go); an error unless every table has the same number.
func (r *icebergRegime) snapshots(ctx context.Context, catalog string) (int, error) {
	read := func(ctx context.Context, uri string) ([]byte, error) {
		bucket, key, ok := strings.Cut(strings.TrimPrefix(uri, "s3://"), "/")
		if !ok || !strings.HasPrefix(uri, "s3://") {
			return icebergread.LocalRead(ctx, uri)
		}
		out, err := r.s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			return nil, err
		}
		defer out.Body.Close()
		return io.ReadAll(out.Body)
	}
	n := -1
	for _, table := range icebergTables {
		loc, err := icebergread.SQLiteMetadataLocation(catalog, iceberg.DefaultNamespace, table)
		if err != nil {
			return 0, err
		}
		t, err := icebergread.Load(ctx, read, loc)
		if err != nil {
			return 0, err
		}
		if n >= 0 && len(t.Snapshots) != n {
			return 0, fmt.Errorf("table %s has %d snapshots, %s %d", table, len(t.Snapshots), icebergTables[0], n)
		}
		n = len(t.Snapshots)
	}
	return n, nil
}

// reportIceberg prints the Iceberg table in markdown: per row the median wall time, the
// time per delivery day, for iceberg what it adds per day to hive's run of the same kind on
// the same destination, the metadata written per day, the snapshots per table, and on the
// S3 server the requests per run and per day.
func reportIceberg(w io.Writer, a *trailArchive, days, rounds int, rows []*icebergRow) {
	fmt.Fprintf(w, "\n**--table-format iceberg against hive** (%d log files, %.1f MB of gzip, %d delivery days %s to %s, %d Marketplace events): marketrail at default settings, on both cores, from the archive in a local folder into a fresh destination — a local folder (iceberg: its default SQLite catalog, DEST/_marketrail/iceberg-catalog.db) or a bucket of the local S3 server through a proxy that counts the requests (iceberg: `--catalog sqlite:` a local file) — then again into the same destination with nothing changed; medians of %d rounds.\n\n",
		len(a.logFiles), float64(a.gzBytes)/1e6, days, a.from, a.to, a.copies, rounds)
	fmt.Fprintln(w, "| format | destination | run | wall s | per day ms | iceberg − hive per day ms | metadata per day KB | snapshots per table | S3 requests per run | per day |")
	fmt.Fprintln(w, "|---|---|---|--:|--:|--:|--:|--:|--:|--:|")
	hive := map[string]time.Duration{}
	for _, r := range rows {
		wall, _ := median(r.samples)
		key := fmt.Sprintf("%s/%v", r.where, r.again)
		run, extra, meta, snaps, reqs, perDay := "first, fresh destination", "–", "–", "–", "–", "–"
		if r.again {
			run = "again, nothing changed"
		}
		if r.format == "hive" {
			hive[key] = wall
		} else {
			if h, ok := hive[key]; ok {
				extra = fmt.Sprintf("%+.1f", float64(wall-h)/float64(days)/1e6)
			}
			meta = fmt.Sprintf("%.1f", float64(r.metadata)/float64(max(len(r.samples), 1))/float64(days)/1e3)
			snaps = fmt.Sprint(r.snapshots)
		}
		if r.where == "S3 server" {
			n := float64(r.requests) / float64(max(len(r.samples), 1))
			reqs, perDay = fmt.Sprintf("%.0f", n), fmt.Sprintf("%.1f", n/float64(days))
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %.1f | %s | %s | %s | %s | %s |\n", r.format, r.where, run, secs(wall),
			float64(wall)/float64(days)/1e6, extra, meta, snaps, reqs, perDay)
	}
}
