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
		"| SDK fetch only (floor) | 4 |", "| marketrail | 4 |", "| marketrail, default settings | default |",
		"| 1 core: marketrail ≥ 1.7 × zcat \\| grep |", "| tiny objects: within 1.25 × the fetch-only floor |",
		"| gzip inflate only (klauspost, 1 file per core) | 1 |", "| gzip inflate only (klauspost, 1 file per core) | 2 |",
		"| 2 cores: marketrail's 2-core ÷ 1-core speed ≥ 0.95 × the plain inflate's |",
		"| 1 | ", "| 8 | ", "| target | measured (medians) | range over the rounds | met |",
		"| one busy delivery day, local folder | 16 |", "| peak RSS ≤ 200 MiB at default settings, every archive",
		"| iceberg | local folder | again, nothing changed |", "| iceberg | S3 server | first, fresh destination |",
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

// TestReportLocal: each archive of large files gets its own table and targets, from its own
// samples, the escaped one's named so; -only large's report has no escaped targets and no
// tiny-object table.
func TestReportLocal(t *testing.T) {
	runs := func(secs ...float64) []*contender {
		var cs []*contender
		for i, s := range secs {
			cs = append(cs, &contender{name: "c" + itoa(i), cores: 1, samples: []sample{{wall: time.Duration(s * float64(time.Second))}}})
		}
		return cs
	}
	a := &trailArchive{logFiles: []string{"f"}, jsonBytes: 1e6, records: 1}
	o := options{runs: 1, workers: 4}
	// large: zcat|grep 2 s, marketrail 1 s and 0.5 s (2.00 ×), DuckDB 2.5 s and 1.5 s,
	// inflate 0.4 s and 0.2 s (2.00 ×: the scaling is 1.000 of it).
	large := func() *localResult {
		return &localResult{heading: "**Large**", a: a, runs: runs(2, 1, 0.5, 2.5, 1.5, 0.4, 0.2), zcatMin: 1.7, rss: true}
	}
	// escaped: zcat|grep 4 s, marketrail 2 s (2.00 ×) and 1.25 s (1.60 ×), DuckDB 3 s
	// (1.50 ×) and 2.5 s (2.00 ×), inflate 1 s and 0.5 s (2.00 ×: 1.60 is 0.800 of it).
	escaped := &localResult{heading: "**Large log files with escaped text, local folder**", a: a, runs: runs(4, 2, 1.25, 3, 2.5, 1, 0.5), prefix: "escaped text, ", zcatMin: 2.0}
	var full, only bytes.Buffer
	report(&full, "go run ./cmd/perftable", "m", []*localResult{large(), escaped}, a, runs(1, 1, 1), nil, o)
	report(&only, "go run ./cmd/perftable -only large", "m", []*localResult{large()}, nil, nil, nil, o)
	// busy: the inflate's 2 ÷ 1 is 1.20 ×, under busyCore, so the 2-core target cannot be judged.
	busy := &localResult{heading: "**Busy**", a: a, runs: runs(2, 1, 0.5, 2.5, 1.5, 0.6, 0.5), zcatMin: 1.7}
	var busyOut bytes.Buffer
	report(&busyOut, "go run ./cmd/perftable -only large", "m", []*localResult{busy}, nil, nil, nil, o)
	if want := "| 2 cores: marketrail's 2-core ÷ 1-core speed ≥ 0.95 × the plain inflate's | 1.667 × (2.00 × against 1.20 ×) | 1.667–1.667 × | **not measurable**: the inflate's 2 ÷ 1 is 1.20 ×, the second core was busy |"; !strings.Contains(busyOut.String(), want) {
		t.Errorf("the report of a busy run has no %q:\n%s", want, busyOut.String())
	}
	escapedLines := []string{
		"**Large log files with escaped text, local folder**",
		"| escaped text, 1 core: marketrail ≥ 2.0 × zcat \\| grep | 2.00 × | 2.00–2.00 × | yes |",
		"| escaped text, 1 core: marketrail ≥ 2 × DuckDB (1 thread) | 1.50 × | 1.50–1.50 × | **no** |",
		"| escaped text, 2 cores: marketrail ≥ 2 × DuckDB (2 threads) | 2.00 × | 2.00–2.00 × | yes |",
		"| escaped text, 2 cores: marketrail's 2-core ÷ 1-core speed ≥ 0.95 × the plain inflate's | 0.800 × (1.60 × against 2.00 ×) | 0.800–0.800 × | **no** |",
	}
	largeLines := []string{
		"| 1 core: marketrail ≥ 1.7 × zcat \\| grep | 2.00 × | 2.00–2.00 × | yes |",
		"| 2 cores: marketrail's 2-core ÷ 1-core speed ≥ 0.95 × the plain inflate's | 1.000 × (2.00 × against 2.00 ×) | 1.000–1.000 × | yes |",
		"| 1 core: marketrail ≥ 2 × DuckDB (1 thread) | 2.50 × | 2.50–2.50 × | yes |",
		"| 2 cores: marketrail ≥ 2 × DuckDB (2 threads) | 3.00 × | 3.00–3.00 × | yes |",
	}
	for _, want := range append(escapedLines, largeLines...) {
		if !strings.Contains(full.String(), want) {
			t.Errorf("the full report has no %q:\n%s", want, full.String())
		}
	}
	for _, want := range largeLines {
		if !strings.Contains(only.String(), want) {
			t.Errorf("the -only large report has no %q:\n%s", want, only.String())
		}
	}
	for _, unwanted := range append(escapedLines, "tiny objects", "Measured by `go run ./cmd/perftable` ") {
		if strings.Contains(only.String(), unwanted) {
			t.Errorf("the -only large report has %q:\n%s", unwanted, only.String())
		}
	}
}

func TestSameIDs(t *testing.T) {
	for _, tt := range []struct {
		got, want []string
		err       string // "" for no error
	}{
		{nil, nil, ""},
		{[]string{"a", "b"}, []string{"a", "b"}, ""},
		{[]string{"a"}, []string{"a", "b"}, "1 of 2 event ids missing (b), 0 extra ()"},
		{[]string{"a", "b", "c"}, []string{"b"}, "0 of 1 event ids missing (), 2 extra (a, c)"},
		{[]string{"b", "d"}, []string{"a", "c"}, "2 of 2 event ids missing (a, c), 2 extra (b, d)"},
		{nil, []string{"a", "b", "c", "d"}, "4 of 4 event ids missing (a, b, c, …), 0 extra ()"},
	} {
		err := sameIDs(tt.got, tt.want)
		if (err == nil) != (tt.err == "") || (err != nil && err.Error() != tt.err) {
			t.Errorf("sameIDs(%v, %v) = %v, want %q", tt.got, tt.want, err, tt.err)
		}
	}
}

func itoa(i int) string { return string(rune('0' + i)) }
