package pipeline_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/marketrail/marketrail/internal/duckcheck"
	"github.com/marketrail/marketrail/pkg/extract"
	"github.com/marketrail/marketrail/pkg/lake"
	"github.com/marketrail/marketrail/pkg/pipeline"
	"github.com/marketrail/marketrail/pkg/report"
	"github.com/marketrail/marketrail/pkg/trail"
)

// gzipMember returns s compressed as one gzip member. Members concatenated make one gzip
// stream of the concatenated texts, so a huge text is cheap to build from a few members.
func gzipMember(t testing.TB, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	w, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	io.WriteString(w, s)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// repeatedMember is a gzip member of 1 MiB of c, about 1 KB compressed.
func repeatedMember(t testing.TB, c string) []byte {
	return gzipMember(t, strings.Repeat(c, 1<<20))
}

// dayFolder returns a CloudTrail day folder of delivery day d in the source folder src.
func dayFolder(t *testing.T, src string, d trail.Day) string {
	t.Helper()
	var folder string
	filepath.WalkDir(filepath.Join(src, "AWSLogs"), func(p string, de fs.DirEntry, err error) error {
		if folder == "" && err == nil && de.IsDir() && strings.HasSuffix(filepath.ToSlash(p), "/CloudTrail/us-east-1/"+d.Path()) {
			folder = p
		}
		return err
	})
	if folder == "" {
		t.Fatalf("no us-east-1 folder of %s", d)
	}
	return folder
}

// A gzip bomb, a few KB that would inflate to gigabytes, fails as an object over
// --max-object-bytes after inflating no more than the limit; every other event is written.
func TestGzipBomb(t *testing.T) {
	from, to, clean := cleanRun(t)
	want := rows(t, clean)

	src := copyTree(t, sample)
	folder := dayFolder(t, src, from)
	// {"Records":[{"eventSource":"…marketplace…","pad":"aaaa… 4 GiB of a …"}]}, 4 MB of gzip.
	var bomb bytes.Buffer
	bomb.Write(gzipMember(t, `{"Records":[{"eventSource":"metering-marketplace.amazonaws.com","pad":"`))
	a := repeatedMember(t, "a")
	for range 4096 {
		bomb.Write(a)
	}
	bomb.Write(gzipMember(t, `"}]}`))
	// And one of many small records: {"Records":[{},{},… 4 GiB …]}.
	var bomb2 bytes.Buffer
	bomb2.Write(gzipMember(t, `{"Records":[{}`))
	recs := gzipMember(t, strings.Repeat(`,{"eventSource":"s3.amazonaws.com"}`, 30_000)) // 1 MB
	for range 4096 {
		bomb2.Write(recs)
	}
	bomb2.Write(gzipMember(t, `]}`))
	os.WriteFile(filepath.Join(folder, "0_bomb.json.gz"), bomb.Bytes(), 0o644)
	os.WriteFile(filepath.Join(folder, "0_bomb_records.json.gz"), bomb2.Bytes(), 0o644)

	dest := t.TempDir()
	rep := run(t, src, dest, from, to, func(c *pipeline.Config) { c.MaxObjectBytes = 8 << 20 })
	if rep.ExitCode != report.ExitObjectsFail || rep.Totals.ObjectsFailed != 2 {
		t.Fatalf("exit %d, %d failed; want 3, 2", rep.ExitCode, rep.Totals.ObjectsFailed)
	}
	for _, d := range rep.Days {
		for _, f := range d.Failures {
			if !strings.Contains(f.Reason, "over --max-object-bytes (8388608)") || !strings.Contains(f.Key, "0_bomb") {
				t.Errorf("failure %s: %s", f.Key, f.Reason)
			}
		}
	}
	if got := rows(t, dest); !slices.Equal(got, want) {
		t.Errorf("with gzip bombs: %d rows, want the clean run's %d", len(got), len(want))
	}
}

// The default limit exists, is far above any real log file, and stops a bomb of 1 MB that
// inflates past 1 GiB (about 0.5 s, 6 s under the race detector); a file of exactly the limit
// passes.
func TestGzipBombDefaultLimit(t *testing.T) {
	if pipeline.DefaultMaxObjectBytes != 1<<30 {
		t.Errorf("DefaultMaxObjectBytes = %d, want 1 GiB", pipeline.DefaultMaxObjectBytes)
	}
	x := pipeline.NewExtractor(nil)
	if !testing.Short() {
		var bomb bytes.Buffer
		bomb.Write(gzipMember(t, `{"Records":[{"a":"`))
		a := repeatedMember(t, "a")
		for range 1025 {
			bomb.Write(a)
		}
		_, err := x.Extract(bytes.NewReader(bomb.Bytes()), "bomb.json.gz")
		if !errors.Is(err, extract.ErrObjectTooLarge) || !strings.Contains(err.Error(), "over --max-object-bytes (1073741824)") {
			t.Errorf("error %v, want over --max-object-bytes", err)
		}
	}
	x.SetMaxObjectBytes(int64(len(`{"Records":[]}`)) + 3<<20)
	var file bytes.Buffer
	file.Write(gzipMember(t, `{"Records":[]}`))
	sp := repeatedMember(t, " ")
	for range 3 {
		file.Write(sp)
	}
	if _, err := x.Extract(bytes.NewReader(file.Bytes()), "k"); err != nil {
		t.Errorf("a file of exactly the limit: %v", err)
	}
	file.Write(gzipMember(t, " "))
	if _, err := x.Extract(bytes.NewReader(file.Bytes()), "k"); !errors.Is(err, extract.ErrObjectTooLarge) {
		t.Errorf("a file one byte over the limit: %v", err)
	}
}

// hostileRecord is one record of TestHostileRecords' log file and what must become of it.
type hostileRecord struct {
	text       string
	quarantine string // a part of the reason it is quarantined for; "" if it becomes a row (or is not selected)
}

// TestHostileRecords: records that cannot become rows are quarantined, raw, in the day's
// quarantine file and the report, and the rest of their object is written; records that can
// (repaired or leniently read) are written; partitions come only from parsed dates.
func TestHostileRecords(t *testing.T) {
	from, to, clean := cleanRun(t)
	want := rows(t, clean)

	src := copyTree(t, sample)
	folder := dayFolder(t, src, from)
	day := from.String()
	next := from.AddDays(1).String()
	ev := func(id, timeField, extra string) string {
		s := `{"eventVersion":"1.08","eventSource":"agreement-marketplace.amazonaws.com","eventName":"AcceptAgreementRequest","eventID":"` + id + `","awsRegion":"us-east-1"`
		if timeField != "" {
			s += `,"eventTime":` + timeField
		}
		return s + extra + `}`
	}
	good := `"` + day + `T01:00:00Z"`
	records := []hostileRecord{
		{ev("hostile-ok", good, ""), ""},
		{ev("hostile-utf8", good, ",\"userAgent\":\"bad \xff\xfe utf8\",\"requestParameters\":{\"k\":\"\xc3\"}"), ""},
		{ev("hostile-nul-escape", good, `,"userAgent":"nul \u0000 escaped"`), ""},
		{ev("hostile-nul-raw", good, ",\"userAgent\":\"nul \x00 raw\""), "invalid character"},
		{ev("hostile-dup", good, `,"eventName":"Second","readOnly":"True","requestParameters":"just a string","errorCode":404`), ""},
		{`{"eventSource":"s3.amazonaws.com","eventSource":"metering-marketplace.amazonaws.com","eventName":"MeterUsage","eventID":"hostile-dup-source","eventTime":` + good + `}`, ""},
		{`{"eventSource":"metering-marketplace.amazonaws.com","eventSource":"s3.amazonaws.com","eventID":"hostile-dup-source-2","eventTime":` + good + `}`, ""},
		{ev("hostile-no-time", "", ""), "no eventTime"},
		{ev("hostile-time-null", "null", ""), "no eventTime"},
		{ev("hostile-time-number", "12345", ""), "not an RFC 3339 time"},
		{ev("hostile-time-bad", `"yesterday"`, ""), "not an RFC 3339 time"},
		{ev("hostile-time-escape", `"../../x"`, ""), "not an RFC 3339 time"},
		{ev("hostile-time-escape-2", `"2024-01-01/../../.."`, ""), "not an RFC 3339 time"},
		{ev("hostile-time-early", `"2013-10-31T23:59:59Z"`, ""), "before CloudTrail began (2013-11-01)"},
		{ev("hostile-time-first", `"2013-11-01T00:00:00Z"`, ""), ""},
		{ev("hostile-time-late", `"`+from.AddDays(2).String()+`T00:00:00Z"`, ""), "after the day after its delivery day (" + day + ")"},
		{ev("hostile-time-next-day", `"`+next+`T23:59:59.999Z"`, ""), ""},
		{"{\n  \"eventSource\": \"agreement-marketplace.amazonaws.com\",\n  \"eventID\": \"hostile-pretty\",\n  \"eventTime\": \"1999-01-01T00:00:00Z\",\n  \"x\": \"a\\nb\"\n}", "before CloudTrail began"},
		{ev("hostile-deep", good, `,"requestParameters":`+strings.Repeat(`[`, 100_000)+strings.Repeat(`]`, 100_000)), "nested more than 10000 deep"},
		{`{"requestParameters":` + strings.Repeat(`{"a":`, 20_000) + `1` + strings.Repeat(`}`, 20_000) + `,"eventSource":"metering-marketplace.amazonaws.com"}`, ""},
		{`{"eventSource":"s3.amazonaws.com","eventName":"marketplace"}`, ""},
		{ev("hostile-after", good, ""), ""},
	}
	var plain strings.Builder
	plain.WriteString(`{"Records":[`)
	for i, r := range records {
		if i > 0 {
			plain.WriteString(",\n")
		}
		plain.WriteString(r.text)
	}
	// Two records over 64 MiB, written as gzip members: a Marketplace event of 100 MB, and a
	// record of 70 MB whose eventSource comes after the first 64 KiB.
	hugeHead := ev("hostile-huge", good, `,"requestParameters":{"blob":"`)
	hugeHead = hugeHead[:len(hugeHead)-1]
	var gz bytes.Buffer
	gz.Write(gzipMember(t, plain.String()+",\n"+hugeHead))
	a := repeatedMember(t, "a")
	for range 100 {
		gz.Write(a)
	}
	gz.Write(gzipMember(t, `"}},{"x":"`))
	for range 70 {
		gz.Write(a)
	}
	gz.Write(gzipMember(t, `","eventSource":"metering-marketplace.amazonaws.com"},`+ev("hostile-last", good, "")+`]}`))
	records = append(records,
		hostileRecord{hugeHead + strings.Repeat("a", extract.TruncatedSize), "larger than the maximum record size of 67108864 bytes: quarantined truncated to its first 65536 bytes"},
		hostileRecord{`{"x":"`, ""}, // skipped as too large, not selected
		hostileRecord{ev("hostile-last", good, ""), ""})
	// A key with spaces, unicode and a long name.
	name := "0 hostile ünïcødé " + strings.Repeat("x", 180) + ".json.gz"
	key, _ := filepath.Rel(src, filepath.Join(folder, name))
	key = filepath.ToSlash(key)
	os.WriteFile(filepath.Join(folder, name), gz.Bytes(), 0o644)

	dest := t.TempDir()
	scratch := t.TempDir() // the run's temporary files: quarantine spills, Parquet staging
	t.Setenv("TMPDIR", scratch)
	rep := run(t, src, dest, from, to, nil)
	if rep.ExitCode != report.ExitOK || rep.Totals.ObjectsFailed != 0 {
		t.Fatalf("exit %d, %d failed (%v); want 0, 0", rep.ExitCode, rep.Totals.ObjectsFailed, rep.Days[0].Failures)
	}
	if left, _ := os.ReadDir(scratch); len(left) != 0 {
		t.Errorf("the run left %d temporary files behind, %s first", len(left), left[0].Name())
	}
	d := rep.Days[0]
	if d.DeliveryDay != day {
		t.Fatalf("first day %s", d.DeliveryDay)
	}
	// The report: each quarantined record, in file order, with its reason.
	var wantQ []int
	for i, r := range records {
		if r.quarantine != "" {
			wantQ = append(wantQ, i)
		}
	}
	var gotQ []int
	for _, q := range d.Quarantined {
		if q.Key != key || q.Record == nil {
			t.Fatalf("quarantined %+v: want key %s and a record index", q, key)
		}
		gotQ = append(gotQ, *q.Record)
		if r := records[*q.Record]; r.quarantine == "" || !strings.Contains(q.Reason, r.quarantine) {
			t.Errorf("record %d quarantined for %q, want %q", *q.Record, q.Reason, r.quarantine)
		}
	}
	if !slices.Equal(gotQ, wantQ) || d.RecordsQuarantined != int64(len(wantQ)) || rep.Totals.RecordsQuarantined != int64(len(wantQ)) {
		t.Errorf("quarantined records %v (count %d, total %d), want %v", gotQ, d.RecordsQuarantined, rep.Totals.RecordsQuarantined, wantQ)
	}
	if d.RecordsSkipped[pipeline.SkipTooLarge] != 1 || d.RecordsSkipped[pipeline.SkipTooDeep] != 1 || rep.Totals.RecordsSkipped[pipeline.SkipTooLarge] != 1 {
		t.Errorf("records_skipped %v, want 1 too large and 1 too deep", d.RecordsSkipped)
	}
	if d.TextRepaired < 1 {
		t.Errorf("text_repaired %d, want at least the invalid UTF-8 event", d.TextRepaired)
	}

	// The quarantine file: one line per quarantined record, its exact bytes on one line.
	qfile := filepath.Join(dest, filepath.FromSlash(lake.QuarantineKey(from)))
	lines := readGzipLines(t, qfile)
	if len(lines) != len(wantQ) {
		t.Fatalf("quarantine file has %d lines, want %d", len(lines), len(wantQ))
	}
	for n, i := range wantQ {
		want := records[i].text
		if strings.Contains(records[i].quarantine, "truncated") || strings.Contains(records[i].quarantine, "deep") {
			want = want[:min(len(want), extract.TruncatedSize)]
		}
		want = strings.ReplaceAll(strings.ReplaceAll(want, "\n  ", "   "), "a\\nb\" ", "a\\nb\"  ")
		want = strings.ReplaceAll(want, "\"\n}", "\" }")
		if lines[n] != want {
			t.Errorf("line %d of the quarantine file:\n%.200q\nwant record %d:\n%.200q", n, lines[n], i, want)
		}
		if n > 0 && !json.Valid([]byte(lines[n])) && !strings.Contains(records[i].quarantine, "truncated") &&
			!strings.Contains(records[i].quarantine, "deep") && !strings.Contains(records[i].quarantine, "invalid character") {
			t.Errorf("line %d is not JSON: %.200q", n, lines[n])
		}
	}
	var m lake.Manifest
	b, _ := os.ReadFile(filepath.Join(dest, filepath.FromSlash(lake.ManifestKey(from))))
	json.Unmarshal(b, &m)
	if !slices.Contains(m.Files, lake.QuarantineKey(from)) || m.State != lake.StateComplete {
		t.Errorf("manifest (%s) files %q do not list the quarantine file", m.State, m.Files)
	}

	// The rows: the clean run's, plus exactly the hostile records that can become rows.
	got := rows(t, dest)
	var extra []string
	for _, r := range got {
		if !slices.Contains(want, r) {
			var row struct {
				EventID string `json:"event_id"`
			}
			json.Unmarshal([]byte(r), &row)
			extra = append(extra, row.EventID)
		}
	}
	slices.Sort(extra)
	wantExtra := []string{"hostile-after", "hostile-dup", "hostile-dup-source", "hostile-last", "hostile-nul-escape", "hostile-ok", "hostile-time-first", "hostile-time-next-day", "hostile-utf8"}
	if !slices.Equal(extra, wantExtra) || len(got) != len(want)+len(wantExtra) {
		t.Errorf("rows beyond the clean run's: %q (%d rows, clean %d); want %q", extra, len(got), len(want), wantExtra)
	}
	db := duckcheck.Open(t)
	lenient := duckcheck.Strings(t, db, `SELECT event_name, read_only::VARCHAR, request_parameters, error_code, event_date::VARCHAR FROM `+duckcheck.Table(dest, "events")+` WHERE event_id = 'hostile-dup'`)
	if len(lenient) != 1 || strings.Join(lenient[0], "|") != `Second|true|"just a string"|404|`+day {
		t.Errorf("hostile-dup row %q", lenient)
	}
	// Partition folders are only ever dates.
	partition := regexp.MustCompile(`^(events|metering_records)/event_date=\d{4}-\d{2}-\d{2}/\d{4}-\d{2}-\d{2}(-\d{4})?\.parquet$`)
	for _, f := range files(t, dest) {
		if !partition.MatchString(f) {
			t.Errorf("file %s outside the partition layout", f)
		}
	}
	for _, p := range []string{"2013-11-01", next} {
		if _, err := os.Stat(filepath.Join(dest, "events", "event_date="+p, day+".parquet")); err != nil {
			t.Errorf("no partition %s: %v", p, err)
		}
	}

	// Re-running the day replaces the quarantine file; once the file is gone, so is it.
	before, _ := os.ReadFile(qfile)
	run(t, src, dest, from, from, func(c *pipeline.Config) { c.Force = true })
	if after, _ := os.ReadFile(qfile); !bytes.Equal(readGzip(t, before), readGzip(t, after)) {
		t.Errorf("a re-run changed the quarantine file")
	}
	os.Remove(filepath.Join(folder, name))
	rep = run(t, src, dest, from, from, nil)
	if _, err := os.Stat(qfile); !errors.Is(err, fs.ErrNotExist) || rep.Totals.RecordsQuarantined != 0 {
		t.Errorf("after the hostile file is gone: quarantine file %v, %d quarantined", err, rep.Totals.RecordsQuarantined)
	}
	if got := rows(t, dest); !slices.Equal(got, want) {
		t.Errorf("after the hostile file is gone: %d rows, want %d", len(got), len(want))
	}
}

func readGzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func readGzipLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(readGzip(t, b)))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}

// A log file in the source that is a symbolic link to a file outside the source is not read:
// it fails as an object, named, and no event of the file behind it is written.
func TestSourceSymlinkOutside(t *testing.T) {
	from, to, clean := cleanRun(t)
	want := rows(t, clean)

	src := copyTree(t, sample)
	folder := dayFolder(t, src, from)
	secret := filepath.Join(t.TempDir(), "secret.json")
	os.WriteFile(secret, []byte(`{"Records":[{"eventSource":"agreement-marketplace.amazonaws.com","eventID":"outside-secret","eventTime":"`+from.String()+`T01:00:00Z"}]}`), 0o644)
	if err := os.Symlink(secret, filepath.Join(folder, "0_link.json")); err != nil {
		t.Skip("no symbolic links here:", err)
	}
	dest := t.TempDir()
	rep := run(t, src, dest, from, to, nil)
	if rep.ExitCode != report.ExitObjectsFail || rep.Totals.ObjectsFailed != 1 || !strings.HasSuffix(rep.Days[0].Failures[0].Key, "/0_link.json") {
		t.Errorf("exit %d, %d failed (%v); want 3 and the link failed", rep.ExitCode, rep.Totals.ObjectsFailed, rep.Days[0].Failures)
	}
	if got := rows(t, dest); !slices.Equal(got, want) {
		t.Errorf("%d rows, want the clean run's %d", len(got), len(want))
	}
}
