package main

import (
	"context"
	"debug/buildinfo"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"time"
)

// The Hive path with and without iceberg-go (-only hive-build). iceberg-go's packages cost
// every marketrail process about 100 ms and 45 MB at start-up (an init of
// iceberg-go/table/substrait loads a YAML catalogue) and some 68 MB of binary, whatever the
// table format; `go build -tags noiceberg` (cmd/marketrail/iceberg_off.go) links the same
// Hive path without them. So marketrail is built twice from the same tree and both builds
// run the same Hive jobs, alternately, in the same rounds: the standard build's ratio to
// the noiceberg build's is what Iceberg's dependencies cost the Hive path.

// icebergModule is the module a standard build links and a -tags noiceberg build must not.
const icebergModule = "github.com/apache/iceberg-go"

// hiveBuildStarts is how many times a round starts `marketrail version` with each build
// (alternately); the round's sample is their median.
const hiveBuildStarts = 20

// hiveFigure is one figure the hive-build table shows of a workload's samples.
type hiveFigure struct {
	name string // with its unit
	verb string // how its values print
	of   func(sample) float64
}

// hiveBuildRow is one workload of the hive-build table: its samples with the standard build
// and with the noiceberg build, one per round each, and the figures the table shows.
type hiveBuildRow struct {
	workload  string
	figures   []hiveFigure
	std, lean []sample
	// pair runs the workload once with each build, the noiceberg build first when leanFirst.
	pair func(ctx context.Context, leanFirst bool) (std, lean sample, err error)
}

// inTurn calls f for the standard build (lean false) and the noiceberg build (lean true), the
// noiceberg build first when leanFirst.
func inTurn(leanFirst bool, f func(lean bool) error) error {
	for _, lean := range []bool{leanFirst, !leanFirst} {
		if err := f(lean); err != nil {
			return err
		}
	}
	return nil
}

// pairOf runs one job with each build's suite (std's and lean's marketrail): the job's own
// checks (marketrailLocal's and marketrailS3's: the whole archive read, its events written)
// hold for both.
func pairOf(std, lean *suite, job func(context.Context, *suite) (sample, error)) func(context.Context, bool) (sample, sample, error) {
	return func(ctx context.Context, leanFirst bool) (sample, sample, error) {
		var got [2]sample
		err := inTurn(leanFirst, func(l bool) error {
			s := std
			if l {
				s = lean
			}
			smp, err := job(ctx, s)
			got[b2i(l)] = smp
			return err
		})
		return got[0], got[1], err
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// startOnce starts `bin version` straight from perftable (no rsswrap or taskset: their own
// start would count in its time) and returns its wall and CPU time and what it printed.
func startOnce(ctx context.Context, bin string) (wall, cpu time.Duration, out string, err error) {
	cmd := exec.CommandContext(ctx, bin, "version")
	var b strings.Builder
	cmd.Stdout = &b
	began := time.Now()
	err = cmd.Run()
	wall = time.Since(began)
	if err != nil {
		return 0, 0, "", fmt.Errorf("%s version: %w", bin, err)
	}
	return wall, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), b.String(), nil
}

// startups starts `marketrail version` n times with each build, alternately, and once more
// each through rsswrap for its peak RSS (a child of perftable's own would count perftable's
// memory, see rsswrap). Each build's sample is the median wall and CPU time of its n starts
// and that peak RSS. Both builds must print the same "marketrail VERSION" line.
func startups(ctx context.Context, std, lean *suite, n int, leanFirst bool) (sample, sample, error) {
	var walls, cpus [2][]sample // as samples' wall times, for median
	var printed [2]string
	check := func(l bool, out string) error {
		if !strings.HasPrefix(out, "marketrail ") || strings.Count(out, "\n") != 1 {
			return fmt.Errorf("marketrail version printed %q, want one line \"marketrail VERSION\"", out)
		}
		if printed[b2i(l)] = out; printed[0] != "" && printed[1] != "" && printed[0] != printed[1] {
			return fmt.Errorf("the standard build printed %q and the noiceberg build %q: not the same tree", printed[0], printed[1])
		}
		return nil
	}
	for range n {
		err := inTurn(leanFirst, func(l bool) error {
			s := std
			if l {
				s = lean
			}
			wall, cpu, out, err := startOnce(ctx, s.bin)
			if err != nil {
				return err
			}
			walls[b2i(l)] = append(walls[b2i(l)], sample{wall: wall})
			cpus[b2i(l)] = append(cpus[b2i(l)], sample{wall: cpu})
			return check(l, out)
		})
		if err != nil {
			return sample{}, sample{}, err
		}
	}
	var got [2]sample
	err := inTurn(leanFirst, func(l bool) error {
		s := std
		if l {
			s = lean
		}
		smp, out, err := s.child(ctx, nil, "", s.bin, "version")
		if err != nil {
			return err
		}
		wall, _ := median(walls[b2i(l)])
		cpu, _ := median(cpus[b2i(l)])
		got[b2i(l)] = sample{wall: wall, cpu: cpu, maxRSS: smp.maxRSS}
		return check(l, string(out))
	})
	return got[0], got[1], err
}

// linksIceberg reports whether the binary at bin links iceberg-go, from its build
// information: the standard build must, the noiceberg build must not.
func linksIceberg(bin string) (bool, error) {
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(bi.Deps, func(m *debug.Module) bool { return m.Path == icebergModule }), nil
}

// runHiveBuild measures the Hive path of the standard build against the same tree built
// with -tags noiceberg (-only hive-build): marketrail on both cores on the large archive in a
// local folder, marketrail at default settings on the tiny objects from the S3 server, and
// `marketrail version` (the start-up alone), hiveBuildStarts times a round. The builds run
// alternately within each round, the noiceberg build first in every other round. It stays
// out of the full run, which measures the standard build alone: the comparison is a question
// of its own (what iceberg-go costs a Hive run), and it needs a second build of marketrail.
func runHiveBuild(ctx context.Context, o options) error {
	if err := os.MkdirAll(o.work, 0o755); err != nil {
		return err
	}
	loadBefore := loadAverage()
	rsswrap, err := build(ctx, o.work, "./cmd/perftable/rsswrap")
	if err != nil {
		return err
	}
	// Both builds back to back, under names of their own (another perftable in the same
	// -work builds work/marketrail).
	var bins [2]string
	var sizes [2]int64
	for i, tags := range []string{"", "noiceberg"} {
		name := "marketrail-standard"
		if tags != "" {
			name = "marketrail-" + tags
		}
		if bins[i], err = buildTagged(ctx, o.work, "./cmd/marketrail", name, tags); err != nil {
			return err
		}
		linked, err := linksIceberg(bins[i])
		if err != nil {
			return err
		}
		if linked != (tags == "") {
			return fmt.Errorf("%s links %s: %v, want %v", bins[i], icebergModule, linked, tags == "")
		}
		st, err := os.Stat(bins[i])
		if err != nil {
			return err
		}
		sizes[i] = st.Size()
	}
	large, err := archive(largeConfig(o.quick), filepath.Join(o.work, "large"+suffix(o.quick)))
	if err != nil {
		return err
	}
	tiny, srv, bucket, err := servedTiny(ctx, o.work, o.quick)
	if err != nil {
		return err
	}
	defer srv.stop()
	std := &suite{bin: bins[0], rsswrap: rsswrap, work: o.work, srv: srv}
	lean := *std
	lean.bin = bins[1]
	starts := hiveBuildStarts
	if o.quick {
		starts = 3
	}
	rows := hiveBuildRows(large, tiny, starts)
	rows[0].pair = pairOf(std, &lean, func(ctx context.Context, s *suite) (sample, error) {
		return s.marketrailLocal(ctx, large, bothCores(), 2)
	})
	rows[1].pair = pairOf(std, &lean, func(ctx context.Context, s *suite) (sample, error) { return s.marketrailS3(ctx, tiny, bucket, 0) })
	rows[2].pair = func(ctx context.Context, leanFirst bool) (sample, sample, error) {
		return startups(ctx, std, &lean, starts, leanFirst)
	}
	for r := range o.runs {
		for _, row := range rows {
			logf("hive-build %d/%d: %s", r+1, o.runs, row.workload)
			s, l, err := row.pair(ctx, r%2 == 1)
			if err != nil {
				return fmt.Errorf("hive-build, %s: %w", row.workload, err)
			}
			row.std, row.lean = append(row.std, s), append(row.lean, l)
		}
	}
	command := "go run ./cmd/perftable -only hive-build"
	if o.runsSet {
		command += fmt.Sprintf(" -runs %d", o.runs)
	}
	fmt.Fprintf(o.out, "Measured by `%s` on %s; medians of %d interleaved rounds; load average (1 min) %s before, %s after.\n",
		command, machine(), o.runs, loadBefore, loadAverage())
	reportHiveBuild(o.out, rows, sizes, o.runs)
	return nil
}

// hiveBuildRows are the workloads of the hive-build table, without their runs: the large
// archive in a local folder, the tiny objects from the S3 server, and the start-up.
func hiveBuildRows(large, tiny *trailArchive, starts int) []*hiveBuildRow {
	wallS := hiveFigure{"wall s", "%.3f", func(s sample) float64 { return s.wall.Seconds() }}
	rss := hiveFigure{"peak RSS MiB", "%.1f", func(s sample) float64 { return float64(s.maxRSS) / (1 << 20) }}
	return []*hiveBuildRow{
		{workload: fmt.Sprintf("large files, local folder (%d files, %.0f MB of JSON), 2 cores", len(large.logFiles), float64(large.jsonBytes)/1e6),
			figures: []hiveFigure{wallS, {"CPU s", "%.3f", func(s sample) float64 { return s.cpu.Seconds() }}, rss}},
		{workload: fmt.Sprintf("many tiny objects, S3 server (%d log files), default settings", len(tiny.logFiles)),
			figures: []hiveFigure{wallS, {"objects/s", "%.0f", func(s sample) float64 { return float64(len(tiny.logFiles)) / s.wall.Seconds() }}, rss}},
		{workload: fmt.Sprintf("start-up: `marketrail version` (median of %d starts a round)", starts),
			figures: []hiveFigure{{"wall ms", "%.1f", func(s sample) float64 { return s.wall.Seconds() * 1e3 }},
				{"CPU ms", "%.1f", func(s sample) float64 { return s.cpu.Seconds() * 1e3 }}, rss}},
	}
}

// medianOf is the median of v (0 for none); it sorts a copy.
func medianOf(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Sorted(slices.Values(v))
	if n := len(v); n%2 == 0 {
		return (v[n/2-1] + v[n/2]) / 2
	}
	return v[len(v)/2]
}

// reportHiveBuild prints the hive-build table in markdown: for each workload's figures the
// standard build's and the noiceberg build's medians over the rounds (and their ranges),
// the difference and the ratio of the medians, and the range of the per-round ratios; then
// the binaries' sizes. A workload is named on its first figure's line.
func reportHiveBuild(w io.Writer, rows []*hiveBuildRow, sizes [2]int64, rounds int) {
	fmt.Fprintf(w, "\n**The Hive path, standard build against -tags noiceberg**: marketrail built twice from the same tree (CGO_ENABLED=0, -trimpath), as is and with -tags noiceberg (no %s: marketrail without Iceberg's dependencies), running the same Hive jobs alternately in each round (the noiceberg build first in every other round); medians of %d rounds (range in brackets), the ratio of the medians and the range of the per-round ratios.\n\n", icebergModule, rounds)
	fmt.Fprintln(w, "| workload | figure | standard build | noiceberg build | standard − noiceberg | standard ÷ noiceberg | range over the rounds |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|")
	for _, row := range rows {
		for i, f := range row.figures {
			workload := row.workload // on its first figure's line only
			if i > 0 {
				workload = ""
			}
			n := min(len(row.std), len(row.lean))
			values := func(samples []sample) ([]float64, string) {
				v := make([]float64, n)
				for r := range n {
					v[r] = f.of(samples[r])
				}
				return v, spread(n, func(r int) float64 { return v[r] }).format(f.verb, "")
			}
			sv, srange := values(row.std)
			lv, lrange := values(row.lean)
			sm, lm := medianOf(sv), medianOf(lv)
			ratios := spread(n, func(r int) float64 { return sv[r] / lv[r] })
			fmt.Fprintf(w, "| %s | %s | "+f.verb+" (%s) | "+f.verb+" (%s) | "+strings.Replace(f.verb, "%", "%+", 1)+" | %.3f | %s |\n",
				workload, f.name, sm, srange, lm, lrange, sm-lm, sm/lm, ratios.format("%.3f", ""))
		}
	}
	fmt.Fprintf(w, "| binary | size, bytes | %d | %d | %+d | %.3f | – |\n", sizes[0], sizes[1], sizes[0]-sizes[1], float64(sizes[0])/float64(sizes[1]))
}

// loadAverage is the machine's load average over the last minute, from /proc/loadavg ("?"
// where there is none): the hive-build table is measured on a machine others may share.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}
