package main

import (
	"fmt"
	"io"
	"time"
)

// target is one of the performance issue's targets, as measured: the figure from the
// medians, and the range of the same figure over the rounds (each round runs every
// contender once, one after the other), which shows how much the machine's noise moves it.
type target struct {
	what     string
	measured string
	rounds   string
	met      bool
}

// span is the smallest and the largest of a figure over the rounds.
type span struct{ lo, hi float64 }

// spread returns the span of f(r) over n rounds.
func spread(n int, f func(r int) float64) span {
	var s span
	for r := range n {
		v := f(r)
		if r == 0 || v < s.lo {
			s.lo = v
		}
		if r == 0 || v > s.hi {
			s.hi = v
		}
	}
	return s
}

// format prints the span with verb (for each end) and a unit.
func (s span) format(verb, unit string) string {
	return fmt.Sprintf(verb+"–"+verb+"%s", s.lo, s.hi, unit)
}

func mib(b int64) string {
	if b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f", float64(b)/(1<<20))
}

func secs(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "**no**"
}

// report prints the tables in markdown.
// escaped and escapedRuns are nil when the escaped archive was not measured (-quick).
func report(w io.Writer, machine string, large, escaped, tiny *trailArchive, largeRuns, escapedRuns, tinyRuns []*contender, scaling []*scalePoint, o options) {
	fmt.Fprintf(w, "Measured by `go run ./cmd/perftable` on %s; medians of %d interleaved rounds.\n\n", machine, o.runs)

	fmt.Fprintf(w, "**Large log files, local folder**: %d files, %.1f MB of gzip, %.1f MB of JSON, %d records, %.0f%% Marketplace events (%d).\n\n",
		len(large.logFiles), float64(large.gzBytes)/1e6, float64(large.jsonBytes)/1e6, large.records, large.cfg.MarketplaceRatio*100, large.copies)
	fmt.Fprintln(w, "| run | cores | median time (s) | JSON MB/s | peak RSS (MiB) |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|")
	var rate []float64 // JSON MB/s of largeRuns, in order
	for _, c := range largeRuns {
		t, rss := median(c.samples)
		mbs := float64(large.jsonBytes) / 1e6 / t.Seconds()
		rate = append(rate, mbs)
		fmt.Fprintf(w, "| %s | %d | %s | %.0f | %s |\n", c.name, c.cores, secs(t), mbs, mib(rss))
	}

	var erate []float64 // JSON MB/s of escapedRuns, in order
	if escaped != nil {
		fmt.Fprintf(w, "\n**Large log files with escaped text, local folder** (policy documents and templates as JSON text): %d files, %.1f MB of gzip, %.1f MB of JSON, %d records, %.0f%% Marketplace events (%d).\n\n",
			len(escaped.logFiles), float64(escaped.gzBytes)/1e6, float64(escaped.jsonBytes)/1e6, escaped.records, escaped.cfg.MarketplaceRatio*100, escaped.copies)
		fmt.Fprintln(w, "| run | cores | median time (s) | JSON MB/s | peak RSS (MiB) |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|")
		for _, c := range escapedRuns {
			t, rss := median(c.samples)
			mbs := float64(escaped.jsonBytes) / 1e6 / t.Seconds()
			erate = append(erate, mbs)
			fmt.Fprintf(w, "| %s | %d | %s | %.0f | %s |\n", c.name, c.cores, secs(t), mbs, mib(rss))
		}
	}

	fmt.Fprintf(w, "\n**Many tiny objects, S3 server on 127.0.0.1** (versitygw): %d log files of about %.1f KB of gzip and %d records.\n\n",
		len(tiny.logFiles), float64(tiny.gzBytes)/float64(len(tiny.logFiles))/1e3, tiny.records/len(tiny.logFiles))
	fmt.Fprintln(w, "| run | workers | median time (s) | objects/s | peak RSS (MiB) |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|")
	var tinyTime []time.Duration // of tinyRuns, in order
	var defaultRSS int64
	for _, c := range tinyRuns {
		t, rss := median(c.samples)
		tinyTime = append(tinyTime, t)
		workers := fmt.Sprint(c.workers)
		if c.workers == 0 {
			workers = "default"
			defaultRSS = rss
		}
		fmt.Fprintf(w, "| %s | %s | %s | %.0f | %s |\n", c.name, workers, secs(t), float64(len(tiny.logFiles))/t.Seconds(), mib(rss))
	}

	// The contenders' order is run's: zcat|grep, marketrail 1 and 2 cores, DuckDB 1 and 2
	// threads; the fetch floor, marketrail at -workers, marketrail at its default.
	zg, mr1, mr2, dk1, dk2 := rate[0], rate[1], rate[2], rate[3], rate[4]
	_, largeRSS := median(largeRuns[2].samples)
	_, largeRSS1 := median(largeRuns[1].samples)
	objs := float64(len(tiny.logFiles)) / tinyTime[1].Seconds()
	floorRatio := tinyTime[1].Seconds() / tinyTime[0].Seconds()
	// Per round: the time of contender a over that of b (a speed ratio of b over a), and a
	// contender's figures.
	ratio := func(runs []*contender, a, b int) span {
		return spread(o.runs, func(r int) float64 { return runs[a].samples[r].wall.Seconds() / runs[b].samples[r].wall.Seconds() })
	}
	per := func(c *contender, f func(s sample) float64) span {
		return spread(o.runs, func(r int) float64 { return f(c.samples[r]) })
	}
	rssMiB := func(s sample) float64 { return float64(s.maxRSS) / (1 << 20) }
	objsPerSec := func(s sample) float64 { return float64(len(tiny.logFiles)) / s.wall.Seconds() }
	largeRSSRounds := spread(o.runs, func(r int) float64 {
		return max(rssMiB(largeRuns[1].samples[r]), rssMiB(largeRuns[2].samples[r]))
	})
	targets := []target{
		{"1 core: marketrail ≥ 1.7 × zcat \\| grep", fmt.Sprintf("%.2f ×", mr1/zg), ratio(largeRuns, 0, 1).format("%.2f", " ×"), mr1 >= 1.7*zg},
		{"2 cores: marketrail ≥ 1.85 × its 1-core figure", fmt.Sprintf("%.2f ×", mr2/mr1), ratio(largeRuns, 1, 2).format("%.2f", " ×"), mr2 >= 1.85*mr1},
		{"1 core: marketrail ≥ 2 × DuckDB (1 thread)", fmt.Sprintf("%.2f ×", mr1/dk1), ratio(largeRuns, 3, 1).format("%.2f", " ×"), mr1 >= 2*dk1},
		{"2 cores: marketrail ≥ 2 × DuckDB (2 threads)", fmt.Sprintf("%.2f ×", mr2/dk2), ratio(largeRuns, 4, 2).format("%.2f", " ×"), mr2 >= 2*dk2},
		{fmt.Sprintf("tiny objects: ≥ 1,500 objects/s (%d workers)", o.workers), fmt.Sprintf("%.0f objects/s", objs), per(tinyRuns[1], objsPerSec).format("%.0f", ""), objs >= 1500},
		{"tiny objects: within 1.25 × the fetch-only floor", fmt.Sprintf("%.2f ×", floorRatio), ratio(tinyRuns, 1, 0).format("%.2f", " ×"), floorRatio <= 1.25},
		{"peak RSS ≤ 200 MiB at default workers, large files", mib(max(largeRSS, largeRSS1)) + " MiB", largeRSSRounds.format("%.0f", " MiB"), max(largeRSS, largeRSS1) <= 200<<20},
		{"peak RSS ≤ 200 MiB at default workers, tiny objects", mib(defaultRSS) + " MiB", per(tinyRuns[2], rssMiB).format("%.0f", " MiB"), defaultRSS <= 200<<20},
	}
	if escaped != nil {
		zg, mr1, dk1 := erate[0], erate[1], erate[3]
		targets = append(targets,
			target{"escaped text, 1 core: marketrail ≥ 2.0 × zcat \\| grep", fmt.Sprintf("%.2f ×", mr1/zg), ratio(escapedRuns, 0, 1).format("%.2f", " ×"), mr1 >= 2.0*zg},
			target{"escaped text, 1 core: marketrail ≥ 2 × DuckDB (1 thread)", fmt.Sprintf("%.2f ×", mr1/dk1), ratio(escapedRuns, 3, 1).format("%.2f", " ×"), mr1 >= 2*dk1},
		)
	}
	fmt.Fprintln(w, "\n| target | measured (medians) | range over the rounds | met |")
	fmt.Fprintln(w, "|---|---:|---:|---|")
	for _, t := range targets {
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", t.what, t.measured, t.rounds, yes(t.met))
	}

	fmt.Fprintf(w, "\n**Workers, tiny objects from the S3 server** (medians of %d runs; objects/s):\n\n", min(o.runs, 3))
	fmt.Fprintln(w, "| workers | fetch only | marketrail | marketrail ÷ floor (time) |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|")
	for _, p := range scaling {
		f, _ := median(p.fetch)
		m, _ := median(p.marketrail)
		n := float64(len(tiny.logFiles))
		fmt.Fprintf(w, "| %d | %.0f | %.0f | %.2f |\n", p.workers, n/f.Seconds(), n/m.Seconds(), m.Seconds()/f.Seconds())
	}
}
