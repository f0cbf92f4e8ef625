package report

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestTextFailedObjects(t *testing.T) {
	rec := 7
	day := func(name, action string, read, failed int64, rows map[string]int64) *Day {
		d := NewDay(name)
		d.Action = action
		d.LogFilesRead, d.ObjectsListed, d.ObjectsFailed = read, read+failed, failed
		d.EventsMatched, d.RecordsScanned, d.BytesRead = rows["events"], 10*read, 1536*read
		d.RowsWritten = rows
		return d
	}
	d1 := day("2024-03-01", ActionWritten, 4, 0, map[string]int64{"events": 1200, "metering_records": 30})
	d2 := day("2024-03-02", ActionUnchanged, 0, 0, map[string]int64{})
	d3 := day("2024-03-03", ActionWritten, 2, 4, map[string]int64{"events": 5})
	d3.Failures = []Failure{{"a.json.gz", nil, "gzip: invalid header"}, {"b.json.gz", nil, "truncated"},
		{"c.json.gz", nil, "not CloudTrail"}, {"d.json.gz", nil, "truncated"}}
	d3.RecordsQuarantined = 1
	d3.Quarantined = []Failure{{"q.json.gz", &rec, "no eventTime"}}
	d4 := day("2024-03-04", "held", 0, 0, map[string]int64{})
	d5 := day("2024-03-05", "frozen", 0, 0, map[string]int64{}) // an action this code does not know
	r := &Report{From: "2024-03-01", To: "2024-03-05", Started: time.Now(), Days: []*Day{d5, d4, d3, d2, d1}}
	r.Finish(nil, 0)
	r.Elapsed = 75.4

	want := `marketrail run: failed_objects (exit 3) in 1m15s
  window       2024-03-01 to 2024-03-05 (5 days)
  days         2 written, 1 unchanged, 1 held, 1 frozen; 1 failed (objects not read: the day runs again next time)
  objects      6 read, 4 failed, of 10 listed
  failed       a.json.gz: gzip: invalid header
               b.json.gz: truncated
               c.json.gz: not CloudTrail
               ... and 1 more (the JSON report's days[].failures)
  events       1,205 matched, 60 read (9.0 KiB)
  rows         events 1,205, metering_records 30
  quarantined  1 record
               q.json.gz record 7: no eventTime
`
	if got := r.Text(); got != want {
		t.Errorf("Text:\n%s\nwant:\n%s", got, want)
	}
}

func TestTextDryRunAndInterrupted(t *testing.T) {
	d := NewDay("2024-03-01")
	d.Action, d.PlannedReads, d.PlannedBytes, d.ObjectsListed = ActionPlanned, 1234, 3<<20, 1230
	r := &Report{From: "2024-03-01", To: "2024-03-01", DryRun: true, Started: time.Now(), Days: []*Day{d}}
	r.Finish(nil, 0)
	r.Elapsed = 0.25
	want := `marketrail run: dry run, nothing read or written (exit 0) in 0.2 s
  window       2024-03-01 (1 day)
  days         1 planned
  planned      1,234 GET requests, 3.0 MiB
  objects      0 read, 0 failed, of 1,230 listed
`
	if got := r.Text(); got != want {
		t.Errorf("dry run Text:\n%s\nwant:\n%s", got, want)
	}

	r = &Report{From: "2024-03-01", To: "2024-04-30", Started: time.Now()}
	r.Finish(nil, ExitSIGTERM)
	r.Error = "interrupted by SIGTERM"
	if got := r.Text(); !strings.HasPrefix(got, "marketrail run: interrupted by SIGTERM (exit 143) in ") ||
		!strings.Contains(got, "window       2024-03-01 to 2024-04-30 (61 days)\n") ||
		!strings.Contains(got, "days         none finished\n") {
		t.Errorf("interrupted Text:\n%s", got)
	}

	r = &Report{Started: time.Now()}
	r.Finish(errors.New("source s3://x: access denied"), 0)
	if got := r.Text(); !strings.HasPrefix(got, "marketrail run: fatal (exit 1) in ") ||
		!strings.Contains(got, "  error        source s3://x: access denied\n") || strings.Contains(got, "window") {
		t.Errorf("fatal Text:\n%s", got)
	}
}

func TestCount(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -12345: "-12,345"} {
		if got := count(n); got != want {
			t.Errorf("count(%d) = %q, want %q", n, got, want)
		}
	}
}
