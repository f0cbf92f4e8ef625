package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestReportHiveBuild: each figure shows both builds' medians over the rounds with their
// ranges, the difference and the ratio of the medians, and the range of the per-round ratios
// (not the ratio of the ranges); a workload is named on its first line only.
func TestReportHiveBuild(t *testing.T) {
	ms := func(v ...float64) []sample {
		var s []sample
		for _, x := range v {
			s = append(s, sample{wall: time.Duration(x * float64(time.Millisecond)), cpu: time.Duration(x / 2 * float64(time.Millisecond)), maxRSS: int64(x) << 20})
		}
		return s
	}
	large := &trailArchive{logFiles: make([]string, 200), jsonBytes: 639e6}
	tiny := &trailArchive{logFiles: make([]string, 2000)}
	rows := hiveBuildRows(large, tiny, 20)
	// Per round, standard ÷ noiceberg: 1.100, 1.050, 1.200 (median 1.100); medians 1100 and 1000.
	rows[0].std, rows[0].lean = ms(1100, 1050, 1320), ms(1000, 1000, 1100)
	// 2000 objects in 1 s and 0.8 s: 2000 and 2500 objects/s.
	rows[1].std, rows[1].lean = ms(1000, 1000, 1000), ms(800, 800, 800)
	// The start-up: 127.5 ms against 7.5 ms, one round odd.
	rows[2].std, rows[2].lean = ms(127.5, 120, 130), ms(7.5, 7.5, 6.5)
	var out bytes.Buffer
	reportHiveBuild(&out, rows, [2]int64{126088342, 29215365}, 3)
	for _, want := range []string{
		"| large files, local folder (200 files, 639 MB of JSON), 2 cores | wall s | 1.100 (1.050–1.320) | 1.000 (1.000–1.100) | +0.100 | 1.100 | 1.050–1.200 |",
		"|  | CPU s | 0.550 (0.525–0.660) | 0.500 (0.500–0.550) | +0.050 | 1.100 | 1.050–1.200 |",
		"|  | peak RSS MiB | 1100.0 (1050.0–1320.0) | 1000.0 (1000.0–1100.0) | +100.0 | 1.100 | 1.050–1.200 |",
		"| many tiny objects, S3 server (2000 log files), default settings | wall s | 1.000 (1.000–1.000) | 0.800 (0.800–0.800) | +0.200 | 1.250 | 1.250–1.250 |",
		"|  | objects/s | 2000 (2000–2000) | 2500 (2500–2500) | -500 | 0.800 | 0.800–0.800 |",
		"| start-up: `marketrail version` (median of 20 starts a round) | wall ms | 127.5 (120.0–130.0) | 7.5 (6.5–7.5) | +120.0 | 17.000 | 16.000–20.000 |",
		"| binary | size, bytes | 126088342 | 29215365 | +96872977 | 4.316 | – |",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the table has no %q:\n%s", want, out.String())
		}
	}
}

func TestMedianOf(t *testing.T) {
	for _, tt := range []struct {
		v    []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := medianOf(tt.v); got != tt.want {
			t.Errorf("medianOf(%v) = %v, want %v", tt.v, got, tt.want)
		}
	}
}

// TestHiveBuildQuick runs -only hive-build's harness on the tiny archives, one round (it is
// not part of the full run, so TestQuick does not): both builds must build, link iceberg-go
// or not as their tags say, and pass every run's checks. It asserts no timings.
func TestHiveBuildQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		t.Skip("taskset is not installed")
	}
	if os.Getenv("MARKETRAIL_TEST_S3_ENDPOINT") == "" && os.Getenv("CI") == "true" {
		t.Fatal("MARKETRAIL_TEST_S3_ENDPOINT is not set under CI=true: run the tests with scripts/test.sh")
	}
	var out bytes.Buffer
	if err := runHiveBuild(context.Background(), options{work: t.TempDir(), quick: true, runs: 1, out: &out}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| large files, local folder (8 files,", "| many tiny objects, S3 server (40 log files), default settings | wall s |",
		"| start-up: `marketrail version` (median of 3 starts a round) | wall ms |", "| binary | size, bytes |"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the table has no %q:\n%s", want, out.String())
		}
	}
}
