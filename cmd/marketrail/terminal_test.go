package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/marketrail/marketrail/pkg/trail"
)

// fakeClock is a clock that a test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

// lastLine is the line a terminal shows after out was written to it: the text after the
// last carriage return, without the erase-to-end-of-line sequence.
func lastLine(out string) string {
	out = strings.TrimSuffix(out, "\n")
	if i := strings.LastIndexByte(out, '\r'); i >= 0 {
		out = out[i+1:]
	}
	return strings.TrimSuffix(out, "\x1b[K")
}

// TestProgressFitsWidth drives a progress line through a run at 40, 80 and 120 columns:
// every line drawn leaves the last column free (no wrap, so no scrolling), the line says
// "listing" with "+" totals and no time left until every day is listed, then moves with
// each object read, and it ends on the final state.
func TestProgressFitsWidth(t *testing.T) {
	day := func(i int) trail.Day { return trail.Day{Year: 2024, Month: 3, Dom: 1 + i} }
	for _, width := range []int{40, 80, 120} {
		var out bytes.Buffer
		clock := &fakeClock{time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC)}
		p := newProgressLine(&out, func() int { return width }, clock.now)
		var drawn []string
		step := func(what string, f func()) string {
			t.Helper()
			clock.advance(time.Second) // past the redraw throttle
			out.Reset()
			f()
			line := lastLine(out.String())
			if n := len([]rune(line)); n >= width {
				t.Errorf("width %d, %s: line of %d columns: %q", width, what, n, line)
			}
			if strings.Contains(line, "\n") {
				t.Errorf("width %d, %s: a line break in %q", width, what, line)
			}
			drawn = append(drawn, line)
			return line
		}
		step("days", func() { p.Days(3) })
		l := step("first day listed", func() { p.Listed(day(0), 1000, 900<<20) })
		if !strings.HasPrefix(l, "listing 1/3 days") || !strings.Contains(l, "/1000+") || strings.Contains(l, "left") {
			t.Errorf("width %d: while listing: %q; want listing 1/3 days, a 1000+ total, no time left", width, l)
		}
		step("read while listing", func() { p.Read(300<<20, 5000) })
		step("second day unchanged", func() { p.Done(day(1), "unchanged") })
		l = step("third day listed", func() { p.Listed(day(2), 1000, 300<<20) })
		if strings.Contains(l, "listing") || strings.Contains(l, "+") || !strings.Contains(l, "25%") {
			t.Errorf("width %d: all days listed, 300 of 1200 MiB read: %q; want 25%% and no listing", width, l)
		}
		if width >= 80 && !strings.Contains(l, "obj 1/2000") {
			t.Errorf("width %d: %q does not count objects 1/2000", width, l)
		}
		l = step("one more object", func() { p.Read(300<<20, 100_000_000) })
		if !strings.Contains(l, "50%") || width >= 80 && !strings.Contains(l, "left") {
			t.Errorf("width %d: after 600 of 1200 MiB: %q; want 50%% (and the time left at 80 columns)", width, l)
		}
		if width >= 80 && !strings.Contains(l, "[") {
			t.Errorf("width %d: no bar in %q", width, l)
		}
		step("rest read", func() {
			for range 1998 {
				p.Read(600<<20/1998, 1)
			}
		})
		out.Reset()
		p.Done(day(0), "written")
		p.Done(day(2), "written")
		p.finish("done")
		if !strings.HasSuffix(out.String(), "\n") {
			t.Errorf("width %d: finish does not end the line: %q", width, out.String())
		}
		final := lastLine(out.String())
		if len(final) >= width || !strings.HasPrefix(final, "[") && width >= 80 || !strings.Contains(final, "done") || !strings.Contains(final, "100%") {
			t.Errorf("width %d: final line %q; want the done state at 100%% within the width", width, final)
		}
		if width >= 80 && !strings.Contains(final, "obj 2000/2000") {
			t.Errorf("width %d: final line %q does not count 2000/2000 objects", width, final)
		}
		if testing.Verbose() {
			t.Logf("width %d:\n%s\n%s", width, strings.Join(drawn, "\n"), final)
		}
	}
}

// TestProgressThrottle: the line is redrawn at most every redrawEvery, whatever the rate of
// reads, and a log record is written on a line of its own with the bar drawn again below.
func TestProgressThrottle(t *testing.T) {
	var out bytes.Buffer
	clock := &fakeClock{time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC)}
	p := newProgressLine(&out, func() int { return 80 }, clock.now)
	p.Days(1)
	p.Listed(trail.Day{Year: 2024, Month: 3, Dom: 1}, 100, 100)
	out.Reset()
	for range 100 {
		clock.advance(time.Millisecond)
		p.Read(1, 1)
	}
	if n := strings.Count(out.String(), "\r"); n != 1 {
		t.Errorf("100 reads in 100 ms drew %d lines, want 1", n)
	}
	out.Reset()
	io.WriteString(p, "level=WARN msg=hello\n")
	if got := out.String(); !strings.HasPrefix(got, "\r\x1b[Klevel=WARN msg=hello\n\r") {
		t.Errorf("a log record under the bar: %q", got)
	}
}

// TestProgressNothingDrawnBeforeDays: a run that fails before it knows its days draws no
// line at all, and finish leaves the terminal alone.
func TestProgressNothingDrawnBeforeDays(t *testing.T) {
	var out bytes.Buffer
	p := newProgressLine(&out, func() int { return 80 }, time.Now)
	p.finish("fatal")
	if out.Len() != 0 {
		t.Errorf("drew %q", out.String())
	}
}

func TestSummaryStreams(t *testing.T) {
	var stdout, stderr bytes.Buffer
	for _, c := range []struct {
		name                string
		report              string
		outTerm, errTerm    bool
		wantJSON, wantHuman io.Writer
	}{
		{"pipes (a scheduler, the e2e tests)", "", false, false, &stdout, nil},
		{"stdout piped, stderr a terminal", "", false, true, &stdout, &stderr},
		{"both terminals", "", true, true, nil, &stderr},
		{"both terminals, --report -", "-", true, true, &stdout, &stderr},
		{"both terminals, --report FILE", "run.json", true, true, nil, &stderr},
		{"stdout a terminal, stderr to a file", "", true, false, nil, &stdout},
		{"stdout a terminal, stderr to a file, --report -", "-", true, false, &stdout, nil},
		{"pipes, --report s3://", "s3://b/k", false, false, &stdout, nil},
	} {
		isTerm := func(w io.Writer) bool { return w == &stdout && c.outTerm || w == &stderr && c.errTerm }
		j, h := summaryStreams(c.report, &stdout, &stderr, isTerm)
		if j != c.wantJSON || h != c.wantHuman {
			t.Errorf("%s: JSON to %s, summary to %s; want %s and %s", c.name, streamName(j, &stdout), streamName(h, &stdout),
				streamName(c.wantJSON, &stdout), streamName(c.wantHuman, &stdout))
		}
	}
}

func streamName(w, stdout io.Writer) string {
	switch {
	case w == nil:
		return "nowhere"
	case w == stdout:
		return "stdout"
	}
	return "stderr"
}

func TestHelpAndSuggestions(t *testing.T) {
	cases := []struct {
		args     []string
		code     int
		out, err string // expected in stdout, stderr
		notOut   string
	}{
		{[]string{"help", "bogus"}, 2, "", `marketrail help: unknown command "bogus"`, ""},
		{[]string{"help", "rn"}, 2, "", `unknown command "rn"; did you mean run?`, ""},
		{[]string{"rnu"}, 2, "", `marketrail: unknown command "rnu"; did you mean run?`, ""},
		{[]string{"help", "run", "ddl"}, 2, "", "give one command", ""},
		{[]string{"help"}, 0, "Usage:", "", ""},
		{[]string{"help", "ddl"}, 0, "--location s3://BUCKET/PREFIX\n", "", ""},
		{[]string{"help", "run"}, 0, "--digest-public-keys FILE\n", "", "list-public-keys`"},
		{[]string{"run", "--help"}, 0, "--accounts ID,...\n", "", " value\n"},
		{[]string{"run", "--help"}, 0, "--regions NAME,...\n", "", "--digest-public-keys aws"},
		{[]string{"run", "--source", "x", "--dest", "y", "--regoins", "us-east-1"}, 2, "", "unknown flag --regoins; did you mean --regions?", ""},
		{[]string{"run", "--source", "x", "--dest", "y", "-acounts", "1"}, 2, "", "unknown flag --acounts; did you mean --accounts?", ""},
		{[]string{"run", "--source", "x", "--dest", "y", "--frobnicate"}, 2, "", "unknown flag --frobnicate\n", ""},
		{[]string{"ddl", "--locaton", "s3://b/p"}, 2, "", "unknown flag --locaton; did you mean --location?", ""},
	}
	for _, c := range cases {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), c.args, &stdout, &stderr, nil)
		if code != c.code || !strings.Contains(stdout.String(), c.out) || !strings.Contains(stderr.String(), c.err) ||
			c.notOut != "" && strings.Contains(stdout.String(), c.notOut) {
			t.Errorf("%q: exit %d, stdout %.300q, stderr %.300q; want exit %d with %q (not %q) and %q",
				c.args, code, stdout.String(), stderr.String(), c.code, c.out, c.notOut, c.err)
		}
	}
}

func TestEditDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"run", "run", 0}, {"", "ddl", 3}, {"regoins", "regions", 1}, {"rn", "run", 1},
		{"acounts", "accounts", 1}, {"kitten", "sitting", 3}, {"source", "dest", 6},
	} {
		if got := editDistance(c.a, c.b); got != c.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
	if got := didYouMean("sorce", []string{"source", "dest"}, "--"); got != "; did you mean --source?" {
		t.Errorf("sorce: %q", got)
	}
	if got := didYouMean("xyz", []string{"run", "ddl"}, ""); got != "" {
		t.Errorf("xyz: %q, want no suggestion", got)
	}
}

// TestFromAlone: --from without --to runs until yesterday, at most 31 days; a longer window
// needs --to, and an explicit backfill of any length keeps working.
func TestFromAlone(t *testing.T) {
	now := time.Date(2024, 6, 15, 3, 0, 0, 0, time.UTC) // yesterday: 2024-06-14
	for _, c := range []struct {
		from, to string
		err      string // "" for none
	}{
		{"2024-05-15", "", ""}, // 31 days
		{"2024-05-14", "", "--from 2024-05-14 without --to means until yesterday: 2024-05-14 to 2024-06-14 (32 days); give --to for a window of more than 31 days"},
		{"2021-06-01", "", "2021-06-01 to 2024-06-14 (1,110 days)"},
		{"2021-06-01", "2024-06-14", ""},
		{"", "2024-06-14", ""},
	} {
		o := runOptions{source: "s", dest: "d", from: c.from, to: c.to, workers: 1, requests: 1, maxRows: 1, maxObjectBytes: 1, logFormat: "auto", progress: "auto"}
		_, err := o.config(now, func(string) string { return "" })
		switch {
		case c.err == "" && err != nil:
			t.Errorf("--from %q --to %q: %v", c.from, c.to, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("--from %q --to %q: error %v, want one with %q", c.from, c.to, err, c.err)
		}
	}
}

// TestSignalBeforeRun: a SIGTERM or SIGINT received before the run gets anywhere (here,
// before the flags are even parsed) still ends in the summary, with status interrupted and
// the signal's exit status, and nothing written to the destination.
func TestSignalBeforeRun(t *testing.T) {
	for sig, code := range map[os.Signal]int{syscall.SIGTERM: 143, os.Interrupt: 130} {
		signals := make(chan os.Signal, 1)
		signals <- sig
		dest := t.TempDir()
		var stdout, stderr bytes.Buffer
		got := run(context.Background(), []string{"run", "--source", "../../testdata/trail", "--dest", dest,
			"--from", "2024-03-01", "--to", "2024-03-03"}, &stdout, &stderr, signals)
		var rep struct {
			Status   string `json:"status"`
			ExitCode int    `json:"exit_code"`
			Error    string `json:"error"`
			From     string `json:"from"`
		}
		if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
			t.Fatalf("%v: no JSON summary on stdout (%v): %q, stderr %q", sig, err, stdout.String(), stderr.String())
		}
		if got != code || rep.ExitCode != code || rep.Status != "interrupted" || !strings.HasPrefix(rep.Error, "interrupted by SIG") || rep.From != "2024-03-01" {
			t.Errorf("%v: exit %d, summary %+v; want %d, interrupted", sig, got, rep, code)
		}
		if ents, _ := os.ReadDir(dest); len(ents) != 0 {
			t.Errorf("%v: the destination was written to before the run began", sig)
		}
	}
}
