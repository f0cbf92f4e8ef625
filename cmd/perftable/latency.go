package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/marketrail/marketrail/internal/faultproxy"
)

// latencyPerRequest is what the latency regime adds to every request: S3 answers a client
// in its own region in tens of milliseconds, the local server in well under one.
const latencyPerRequest = 20 * time.Millisecond

// latencyInFlight are the requests in flight the latency regime's fetch floor tries; the
// floor is the best of them.
func latencyInFlight() []int { return []int{64, 128, 256} }

// latencySweep are the --requests values marketrail runs at under latency, beside its
// defaults, to show what its in-flight count buys.
func latencySweep() []int { return []int{16, 64, 128, 256} }

// latencyTarget is the latency regime's target: marketrail with its default settings takes
// at most this many times the fetch floor.
const latencyTarget = 1.25

// latencyResult is the latency regime, measured: the fetch floor at each in-flight count,
// marketrail with its default settings and at each of latencySweep's --requests, each over
// the same rounds.
type latencyResult struct {
	rounds     int
	floor      []*scalePoint // workers = requests in flight; only fetch is set
	marketrail []sample
	sweep      []*scalePoint // workers = marketrail's --requests; only marketrail is set
	requests   int64         // requests the proxy served during marketrail's default rounds
}

// best is the in-flight count whose median is the fastest, and that median.
func (l *latencyResult) best() (int, time.Duration) {
	var n int
	var d time.Duration
	for _, p := range l.floor {
		if m, _ := median(p.fetch); n == 0 || m < d {
			n, d = p.workers, m
		}
	}
	return n, d
}

// latencyRegime measures the tiny archive's bucket through a faultproxy that holds every
// request latencyPerRequest: the fetch floor (a flat listing, then one GET of each log
// file) at each of latencyInFlight's counts, and marketrail with its default settings,
// interleaved over rounds.
func (s *suite) latencyRegime(ctx context.Context, tiny *trailArchive, bucket string, rounds int) (*latencyResult, error) {
	p, err := faultproxy.New(s.srv.endpoint, faultproxy.Config{Latency: latencyPerRequest})
	if err != nil {
		return nil, err
	}
	defer p.Close()
	proxied := *s
	proxied.srv = &server{endpoint: p.URL, access: s.srv.access, secret: s.srv.secret}
	// marketrail writes its lake to S3 through the proxy too: the destination's checks,
	// leases, manifests and uploads pay the latency as in production.
	empty, err := os.MkdirTemp(s.work, "lake-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(empty)
	if proxied.destBucket, err = s.srv.upload(ctx, empty); err != nil {
		return nil, err
	}
	res := &latencyResult{rounds: rounds}
	for _, n := range latencyInFlight() {
		res.floor = append(res.floor, &scalePoint{workers: n})
	}
	for _, n := range latencySweep() {
		res.sweep = append(res.sweep, &scalePoint{workers: n})
	}
	for r := range rounds {
		for _, pt := range res.floor {
			logf("latency regime %d/%d: fetch floor, %d in flight", r+1, rounds, pt.workers)
			var smp sample
			err := s.besideCPU(&smp, func() (err error) {
				smp, err = proxied.fetch(ctx, tiny, bucket, pt.workers)
				return err
			})
			if err != nil {
				return nil, fmt.Errorf("latency regime, fetch floor at %d in flight: %w", pt.workers, err)
			}
			pt.fetch = append(pt.fetch, smp)
		}
		logf("latency regime %d/%d: marketrail, default settings", r+1, rounds)
		before := p.Requests.Load()
		var smp sample
		err := s.besideCPU(&smp, func() (err error) {
			smp, err = proxied.marketrailS3(ctx, tiny, bucket, 0)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("latency regime, marketrail: %w", err)
		}
		res.requests += p.Requests.Load() - before
		res.marketrail = append(res.marketrail, smp)
		for _, pt := range res.sweep {
			logf("latency regime %d/%d: marketrail, --requests %d", r+1, rounds, pt.workers)
			smp, err := proxied.marketrail(ctx, tiny, proxied.srv.env(), "", "s3://"+bucket, "--requests", strconv.Itoa(pt.workers))
			if err != nil {
				return nil, fmt.Errorf("latency regime, marketrail --requests %d: %w", pt.workers, err)
			}
			pt.marketrail = append(pt.marketrail, smp)
		}
	}
	return res, nil
}

// reportLatency prints the latency regime's tables in markdown.
func reportLatency(w io.Writer, tiny *trailArchive, l *latencyResult) {
	fmt.Fprintf(w, "\n### Latency regime: %d ms per request (issue 12)\n\n", latencyPerRequest.Milliseconds())
	fmt.Fprintf(w, "The tiny-object archive (%d log files, %.0f KB of gzip on average, %s to %s) on the local S3 server behind a faultproxy that holds every request %s; marketrail writes its lake to another bucket of that server through the same proxy; medians of %d rounds.\n\n",
		len(tiny.logFiles), float64(tiny.gzBytes)/float64(max(len(tiny.logFiles), 1))/1000, tiny.from, tiny.to, latencyPerRequest, l.rounds)
	bestN, floor := l.best()
	mr, rss := median(l.marketrail)
	fmt.Fprintln(w, "| contender | in flight | wall s | × floor | peak RSS MiB | its CPU s | server and proxy CPU s | cores busy |")
	fmt.Fprintln(w, "|---|---|---|---|---|---:|---:|---:|")
	floorSamples := l.floor[0].fetch
	for _, p := range l.floor {
		if p.workers == bestN {
			floorSamples = p.fetch
		}
	}
	_, floorRSS := median(floorSamples)
	fmt.Fprintf(w, "| SDK fetch only (floor, best in flight) | %d | %s | 1.00 | %s | %s |\n", bestN, secs(floor), mib(floorRSS), cpuColumns(floorSamples))
	fmt.Fprintf(w, "| marketrail, default settings | default | %s | %.2f | %s | %s |\n", secs(mr), ratio(mr, floor), mib(rss), cpuColumns(l.marketrail))
	mrSpan := spread(len(l.marketrail), func(r int) float64 { return l.marketrail[r].wall.Seconds() / floor.Seconds() })
	met := "met"
	if ratio(mr, floor) > latencyTarget {
		met = "not met"
	}
	fmt.Fprintf(w, "\nTarget: default settings ≤ %.2f × floor: %.2f × (median; %s over the rounds, each against the floor's median): %s.\n",
		latencyTarget, ratio(mr, floor), mrSpan.format("%.2f", " ×"), met)
	fmt.Fprintf(w, "\nmarketrail's requests per run: %d (%d log files).\n", l.requests/int64(max(len(l.marketrail), 1)), len(tiny.logFiles))
	fmt.Fprintln(w, "\nmarketrail by `--requests` (GETs in flight; other settings default):")
	fmt.Fprintln(w, "\n| --requests | wall s | range over the rounds | × floor |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, p := range l.sweep {
		m, _ := median(p.marketrail)
		sp := spread(len(p.marketrail), func(r int) float64 { return p.marketrail[r].wall.Seconds() })
		fmt.Fprintf(w, "| %d | %s | %s | %.2f |\n", p.workers, secs(m), sp.format("%.3f", " s"), ratio(m, floor))
	}
	fmt.Fprintln(w, "\nThe fetch floor by requests in flight:")
	fmt.Fprintln(w, "\n| in flight | wall s | range over the rounds |")
	fmt.Fprintln(w, "|---|---|---|")
	for _, p := range l.floor {
		m, _ := median(p.fetch)
		sp := spread(len(p.fetch), func(r int) float64 { return p.fetch[r].wall.Seconds() })
		fmt.Fprintf(w, "| %d | %s | %s |\n", p.workers, secs(m), sp.format("%.3f", " s"))
	}
}

// cpuColumns are the latency table's CPU columns of samples (medians): the contender's
// CPU time, the server's and the proxy's during its runs, and how many of the machine's
// cores all of them kept busy on average. A floor whose cores are all busy is bounded by
// the machine's CPU, not by the latency, and every CPU second a contender adds to it
// lengthens the run.
func cpuColumns(samples []sample) string {
	others := make([]sample, len(samples))
	busy := make([]sample, len(samples))
	for i, s := range samples {
		others[i].wall = s.others
		// cores busy, in thousandths, as a duration so that median serves
		busy[i].wall = time.Duration(1000 * (s.cpu + s.others).Seconds() / s.wall.Seconds())
	}
	b, _ := median(busy)
	o, _ := median(others)
	return fmt.Sprintf("%s | %s | %.2f of %d", secs(medianCPU(samples)), secs(o), float64(b)/1000, runtime.NumCPU())
}

// besideCPU runs fn and sets smp.others to the CPU time the S3 server and this process
// (the proxy) spent meanwhile, read from /proc and getrusage; it stays 0 where they cannot
// be read.
func (s *suite) besideCPU(smp *sample, fn func() error) error {
	before, ok := s.serverAndSelfCPU()
	if err := fn(); err != nil {
		return err
	}
	if after, ok2 := s.serverAndSelfCPU(); ok && ok2 {
		smp.others = after - before
	}
	return nil
}

// serverAndSelfCPU is the S3 server's CPU time so far plus this process's.
func (s *suite) serverAndSelfCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil || s.srv == nil || s.srv.cmd == nil || s.srv.cmd.Process == nil {
		return 0, false
	}
	self := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.srv.cmd.Process.Pid))
	if err != nil {
		return 0, false
	}
	// Fields 14 and 15 (utime, stime, in clock ticks) follow the parenthesised command name.
	_, rest, ok := strings.Cut(string(stat), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		return 0, false
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	const tick = 10 * time.Millisecond // USER_HZ is 100 on Linux
	return self + time.Duration(ut+st)*tick, true
}

// ratio is a / b, 0 when b is 0.
func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return a.Seconds() / b.Seconds()
}
