package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestReportIceberg: iceberg's extra time per day is against hive's run of the same kind on
// the same destination; metadata and requests are per run and per day.
func TestReportIceberg(t *testing.T) {
	row := func(format, where string, again bool, wall time.Duration) *icebergRow {
		r := &icebergRow{format: format, where: where, again: again, samples: []sample{{wall: wall}, {wall: wall}}}
		if format == "iceberg" {
			r.metadata, r.snapshots = 2*7*3000, 7
		}
		if where == "S3 server" {
			r.requests = 2 * 700
		}
		return r
	}
	rows := []*icebergRow{
		row("hive", "local folder", false, 700*time.Millisecond), row("hive", "local folder", true, 70*time.Millisecond),
		row("iceberg", "local folder", false, 1400*time.Millisecond), row("iceberg", "local folder", true, 140*time.Millisecond),
		row("hive", "S3 server", false, time.Second), row("iceberg", "S3 server", false, 3100*time.Millisecond),
	}
	var out bytes.Buffer
	reportIceberg(&out, &trailArchive{from: "2024-05-01", to: "2024-05-07"}, 7, 2, rows)
	for _, want := range []string{
		"| iceberg | local folder | first, fresh destination | 1.400 | 200.0 | +100.0 | 3.0 | 7 | – | – |",
		"| iceberg | local folder | again, nothing changed | 0.140 | 20.0 | +10.0 | 3.0 | 7 | – | – |",
		"| hive | S3 server | first, fresh destination | 1.000 | 142.9 | – | – | – | 700 | 100.0 |",
		"| iceberg | S3 server | first, fresh destination | 3.100 | 442.9 | +300.0 | 3.0 | 7 | 700 | 100.0 |",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the table has no %q:\n%s", want, out.String())
		}
	}
}
