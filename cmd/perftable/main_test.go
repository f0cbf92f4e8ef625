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

// TestMain lets the test binary serve as perftable's child processes, as the command does.
func TestMain(m *testing.M) {
	if code, ok := subcommand(os.Args[1:]); ok {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// TestQuick runs the whole harness on tiny archives, one round, so that it cannot rot: every
// contender must run and pass its own checks (each one verifies it read the whole archive),
// and the table must have every line. It asserts no timings.
func TestQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	for _, tool := range []string{"taskset", "zcat", "grep", "sh"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	if os.Getenv("MARKETRAIL_TEST_S3_ENDPOINT") == "" && os.Getenv("CI") == "true" {
		t.Fatal("MARKETRAIL_TEST_S3_ENDPOINT is not set under CI=true: run the tests with scripts/test.sh")
	}
	var out bytes.Buffer
	o := options{work: t.TempDir(), quick: true, workers: 4, out: &out}
	if err := run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	table := out.String()
	for _, want := range []string{
		"| zcat \\| grep -c marketplace | 1 |", "| marketrail | 1 |", "| marketrail | 2 |", "| DuckDB | 1 |", "| DuckDB | 2 |",
		"| SDK fetch only (floor) | 4 |", "| marketrail | 4 |", "| marketrail, default workers | default |",
		"| 1 core: marketrail ≥ 1.7 × zcat \\| grep |", "| tiny objects: within 1.25 × the fetch-only floor |",
		"| 1 | ", "| 8 | ", "| target | measured (medians) | range over the rounds | met |",
		"| one busy delivery day, local folder | 16 |", "| peak RSS ≤ 200 MiB at default settings, every archive",
	} {
		if !strings.Contains(table, want) {
			t.Errorf("the table has no line %q:\n%s", want, table)
		}
	}
}

func TestSpread(t *testing.T) {
	for _, tt := range []struct {
		vals []float64
		want string
	}{
		{[]float64{1.9}, "1.90–1.90 ×"},
		{[]float64{1.87, 1.83, 1.91, 1.88}, "1.83–1.91 ×"},
		{[]float64{-1, 2, 0}, "-1.00–2.00 ×"},
	} {
		if got := spread(len(tt.vals), func(r int) float64 { return tt.vals[r] }).format("%.2f", " ×"); got != tt.want {
			t.Errorf("spread(%v) = %q, want %q", tt.vals, got, tt.want)
		}
	}
}

// TestReportEscaped: the full run's escaped archive gets its own table and targets, from its
// own samples; -quick's report (no escaped archive) has neither.
func TestReportEscaped(t *testing.T) {
	runs := func(secs ...float64) []*contender {
		var cs []*contender
		for i, s := range secs {
			cs = append(cs, &contender{name: "c" + itoa(i), cores: 1, samples: []sample{{wall: time.Duration(s * float64(time.Second))}}})
		}
		return cs
	}
	a := &trailArchive{logFiles: []string{"f"}, jsonBytes: 1e6, records: 1}
	o := options{runs: 1, workers: 4}
	// escaped: zcat|grep 4 s, marketrail 1 core 2 s (2.00 ×), DuckDB 1 thread 3 s (1.50 ×).
	var full, quick bytes.Buffer
	report(&full, "m", a, a, a, runs(2, 1, 1, 2, 2), runs(4, 2, 1, 3, 3), runs(1, 1, 1), nil, o)
	report(&quick, "m", a, nil, a, runs(2, 1, 1, 2, 2), nil, runs(1, 1, 1), nil, o)
	for _, want := range []string{
		"**Large log files with escaped text, local folder**",
		"| escaped text, 1 core: marketrail ≥ 2.0 × zcat \\| grep | 2.00 × | 2.00–2.00 × | yes |",
		"| escaped text, 1 core: marketrail ≥ 2 × DuckDB (1 thread) | 1.50 × | 1.50–1.50 × | **no** |",
	} {
		if !strings.Contains(full.String(), want) {
			t.Errorf("the full report has no %q:\n%s", want, full.String())
		}
		if strings.Contains(quick.String(), want) {
			t.Errorf("the quick report has %q", want)
		}
	}
}

func itoa(i int) string { return string(rune('0' + i)) }
