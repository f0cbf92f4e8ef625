package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"slices"

	"github.com/marketrail/marketrail/internal/gentrail"
)

// busyConfig is the archive of one busy delivery day: about 100,000 Marketplace events (a
// large seller's busiest day; some 1.3 GB of decoded rows before they were spilled to
// disk) in 800 log files of 250 records, half of them Marketplace events. Its files are
// gzipped at the fastest level, which only makes it quicker to generate.
func busyConfig(quick bool) gentrail.Config {
	c := gentrail.Large(800)
	c.Days = 1
	c.RecordsPerFile = 250
	c.MarketplaceRatio = 0.5
	if quick {
		c.Files, c.RecordsPerFile = 16, 50
	}
	return c
}

// memTarget and memRatio are the memory targets of issue 12: peak RSS at default settings
// at most 200 MiB on every archive, and the largest peak within 1.3 × the smallest.
const (
	memTarget = 200 << 20
	memRatio  = 1.3
)

// memoryRow is one archive of the memory table: marketrail at its default settings on it.
type memoryRow struct {
	name    string
	archive *trailArchive
	run     *contender
}

// busiestDay is the most Marketplace records of one delivery day of a's window (every
// copy, before deduplication), and the events written from them.
func busiestDay(a *trailArchive) (records, written int) {
	m, err := gentrail.ReadManifest(a.dir + ".manifest.json")
	if err != nil {
		return 0, 0
	}
	copies, events := map[string]int{}, map[string]int{}
	for _, c := range m.Copies {
		if c.DeliveryDay >= a.from && c.DeliveryDay <= a.to {
			copies[c.DeliveryDay]++
		}
	}
	for _, c := range m.Expected(a.from, a.to) {
		events[c.DeliveryDay]++
	}
	for d, n := range copies {
		if n > records {
			records, written = n, events[d]
		}
	}
	return records, written
}

// defaultLocal is marketrail at its default settings on a local archive, on both cores
// (GOMAXPROCS=2, so the default workers).
func (s *suite) defaultLocal(a *trailArchive, both string) *contender {
	return &contender{name: "marketrail, default settings", cores: 2, run: func(ctx context.Context) (sample, error) { return s.marketrailLocal(ctx, a, both, 2) }}
}

// memoryRows are marketrail's runs at default settings on every archive: the local ones on
// both cores, the tiny one from the S3 server. escaped may be nil (-quick).
func (s *suite) memoryRows(large, escaped, busy, tiny *trailArchive, bucket, both string) []*memoryRow {
	rows := []*memoryRow{{"large files, local folder", large, s.defaultLocal(large, both)}}
	if escaped != nil {
		rows = append(rows, &memoryRow{"escaped text, local folder", escaped, s.defaultLocal(escaped, both)})
	}
	return append(rows,
		&memoryRow{"many tiny objects, S3 server", tiny, &contender{name: "marketrail, default settings", cores: 2,
			run: func(ctx context.Context) (sample, error) { return s.marketrailS3(ctx, tiny, bucket, 0) }}},
		&memoryRow{"one busy delivery day, local folder", busy, s.defaultLocal(busy, both)})
}

// runMemory measures the memory table alone (-only memory): marketrail at its default
// settings on every archive, interleaved over the rounds.
func runMemory(ctx context.Context, o options) error {
	s, err := newSuite(ctx, o.work)
	if err != nil {
		return err
	}
	large, err := archive(largeConfig(o.quick), filepath.Join(o.work, "large"+suffix(o.quick)))
	if err != nil {
		return err
	}
	var escaped *trailArchive
	if !o.quick {
		if escaped, err = archive(escapedConfig(o.quick), filepath.Join(o.work, "escaped")); err != nil {
			return err
		}
	}
	busy, err := archive(busyConfig(o.quick), filepath.Join(o.work, "busy"+suffix(o.quick)))
	if err != nil {
		return err
	}
	tiny, srv, bucket, err := servedTiny(ctx, o.work, o.quick)
	if err != nil {
		return err
	}
	defer srv.stop()
	s.srv = srv
	rows := s.memoryRows(large, escaped, busy, tiny, bucket, bothCores())
	for r := range o.runs {
		for _, m := range rows {
			logf("memory %d/%d: %s", r+1, o.runs, m.name)
			smp, err := m.run.run(ctx)
			if err != nil {
				return fmt.Errorf("memory, %s: %w", m.name, err)
			}
			m.run.samples = append(m.run.samples, smp)
		}
	}
	fmt.Fprintf(o.out, "Measured by `go run ./cmd/perftable -only memory` on %s; %d interleaved rounds.\n", machine(), o.runs)
	reportMemory(o.out, rows, o.runs)
	return nil
}

// bothCores is taskset's list of the first two cores (one, on a machine of one).
func bothCores() string {
	if runtime.NumCPU() > 1 {
		return "0,1"
	}
	return "0"
}

// medianRSS is the median of samples' peak RSS.
func medianRSS(samples []sample) int64 {
	v := make([]int64, len(samples))
	for i, s := range samples {
		v[i] = s.maxRSS
	}
	slices.Sort(v)
	if len(v) == 0 {
		return 0
	}
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// reportMemory prints the memory table and its targets in markdown: each archive's peak RSS
// (median and range over the rounds) and its ratio to the smallest archive's.
func reportMemory(w io.Writer, rows []*memoryRow, rounds int) {
	fmt.Fprintf(w, "\n### Memory: peak RSS at default settings (issue 12)\n\n")
	fmt.Fprintln(w, "| archive | log files | busiest day: Marketplace records (events written) | median time (s) | peak RSS MiB (median) | range over the rounds | × smallest |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|")
	smallest, largest := int64(0), int64(0)
	var largestName string
	for _, m := range rows {
		rss := medianRSS(m.run.samples)
		if smallest == 0 || rss < smallest {
			smallest = rss
		}
		if rss > largest {
			largest, largestName = rss, m.name
		}
	}
	worst := int64(0) // the largest peak of any round
	for _, m := range rows {
		t, _ := median(m.run.samples)
		rss := medianRSS(m.run.samples)
		sp := spread(len(m.run.samples), func(r int) float64 { return float64(m.run.samples[r].maxRSS) / (1 << 20) })
		for _, s := range m.run.samples {
			worst = max(worst, s.maxRSS)
		}
		records, written := busiestDay(m.archive)
		fmt.Fprintf(w, "| %s | %d | %d (%d) | %s | %s | %s | %.2f |\n", m.name, len(m.archive.logFiles), records, written, secs(t), mib(rss),
			sp.format("%.0f", ""), float64(rss)/float64(max(smallest, 1)))
	}
	// Per round: the largest peak over the smallest.
	ratios := spread(rounds, func(r int) float64 {
		lo, hi := int64(0), int64(0)
		for _, m := range rows {
			v := m.run.samples[r].maxRSS
			if lo == 0 || v < lo {
				lo = v
			}
			hi = max(hi, v)
		}
		return float64(hi) / float64(max(lo, 1))
	})
	ratio := float64(largest) / float64(max(smallest, 1))
	targets := []target{
		{what: "peak RSS ≤ 200 MiB at default settings, every archive (the largest peak of any round)", measured: mib(worst) + " MiB", rounds: "–", met: worst <= memTarget},
		{what: fmt.Sprintf("largest peak (%s) ≤ 1.3 × the smallest", largestName), measured: fmt.Sprintf("%.2f ×", ratio), rounds: ratios.format("%.2f", " ×"), met: ratio <= memRatio},
	}
	fmt.Fprintln(w, "\n| target | measured (medians) | range over the rounds | met |")
	fmt.Fprintln(w, "|---|---:|---:|---|")
	for _, t := range targets {
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", t.what, t.measured, t.rounds, yes(t.met))
	}
}
