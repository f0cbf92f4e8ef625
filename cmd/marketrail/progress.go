package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/marketrail/marketrail/pkg/trail"
)

// progress shows a run's advance on a terminal, on one line that is redrawn in place:
//
//	[=========>          ]  45%  obj 123/456  12.3/45.6 MiB  1m20s left  days 2/31  events 7890  3.4 MB/s
//
// The bar and the percentage follow the bytes read against the bytes listed (objects when
// there are no bytes), so it moves with every log file read, not once per delivery day. Until
// every delivery day of the window is listed the totals are only a lower bound: the line says
// "listing" and how many days are listed instead of a bar, marks the totals with "+", and
// gives no time left. The line is cut to the terminal's width, asked again at every redraw
// (and redrawn when the terminal is resized): fields are dropped, least useful first, so it
// never wraps. finish draws the final state and ends the line.
type progress struct {
	mu     sync.Mutex
	w      io.Writer
	width  func() int       // the terminal's columns, asked at every redraw
	now    func() time.Time // the clock
	start  time.Time
	drawn  time.Time // the last redraw
	winch  chan os.Signal
	done   chan struct{}
	closed bool

	days     int                // delivery days in the window (-1 until Days is called)
	seen     map[trail.Day]bool // days listed (or finished without a listing)
	finished int                // days done
	files    int                // log files listed so far
	read     int                // log files read
	bytes    int64              // bytes read
	total    int64              // bytes listed so far
	events   int64
}

// redrawEvery is the shortest time between two redraws driven by the run's advance.
const redrawEvery = 100 * time.Millisecond

// newProgress returns a progress line on the terminal f: it follows f's width and redraws
// on SIGWINCH, and once a second so the rate and time left stay current.
func newProgress(f *os.File) *progress {
	p := newProgressLine(f, func() int { return terminalWidth(f) }, time.Now)
	p.winch = make(chan os.Signal, 1)
	signal.Notify(p.winch, syscall.SIGWINCH)
	go p.redrawLoop()
	return p
}

// newProgressLine returns a progress line written to w, width columns wide, that redraws
// only when told: the part of newProgress that tests drive.
func newProgressLine(w io.Writer, width func() int, now func() time.Time) *progress {
	return &progress{w: w, width: width, now: now, start: now(), days: -1,
		seen: map[trail.Day]bool{}, done: make(chan struct{})}
}

// terminalWidth is f's width in columns, or 80 when it cannot be had.
func terminalWidth(f *os.File) int {
	w, _, err := term.GetSize(int(f.Fd()))
	if err != nil || w <= 0 {
		return 80
	}
	return w
}

func (p *progress) redrawLoop() {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-p.done:
			return
		case <-p.winch:
		case <-tick.C:
		}
		p.mu.Lock()
		p.draw()
		p.mu.Unlock()
	}
}

func (p *progress) Days(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.days = n
	p.redraw()
}

func (p *progress) Listed(day trail.Day, files int, bytes int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen[day] = true
	p.files += files
	p.total += bytes
	p.redraw()
}

func (p *progress) Read(bytes int64, events int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.read++
	p.bytes += bytes
	p.events += int64(events)
	p.redraw()
}

func (p *progress) Done(day trail.Day, _ string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen[day] = true // an unchanged day finishes without being listed
	p.finished++
	p.redraw()
}

// Write writes a log record above the line: it clears the line, writes b, and draws the
// line again, so logs and the bar never share a line.
func (p *progress) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.days < 0 {
		return p.w.Write(b)
	}
	io.WriteString(p.w, "\r\x1b[K")
	n, err := p.w.Write(b)
	p.draw()
	return n, err
}

// finish draws the final state, headed by outcome ("done", "interrupted", ...), and ends
// its line, so what follows starts on a clean line.
func (p *progress) finish(outcome string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	close(p.done)
	if p.winch != nil {
		signal.Stop(p.winch)
	}
	if p.days < 0 {
		return // the run never got as far as its days: nothing was drawn
	}
	fmt.Fprintf(p.w, "\r%s\x1b[K\n", p.line(p.width(), outcome))
}

// redraw draws the line unless it was drawn less than redrawEvery ago.
func (p *progress) redraw() {
	if p.now().Sub(p.drawn) >= redrawEvery {
		p.draw()
	}
}

func (p *progress) draw() {
	if p.closed || p.days < 0 {
		return
	}
	p.drawn = p.now()
	fmt.Fprintf(p.w, "\r%s\x1b[K", p.line(p.width(), ""))
}

// line renders the progress in fewer than width columns (the last column is left free:
// some terminals wrap when it is written). outcome, once the run is over, heads the line
// ("" while it runs).
func (p *progress) line(width int, outcome string) string {
	final := outcome != ""
	listing := p.days < 0 || len(p.seen) < p.days
	elapsed := p.now().Sub(p.start)
	frac := -1.0 // unknown
	switch {
	case listing && !final:
	case p.total > 0:
		frac = float64(p.bytes) / float64(p.total)
	case p.files > 0:
		frac = float64(p.read) / float64(p.files)
	case p.days > 0:
		frac = float64(p.finished) / float64(p.days)
	default:
		frac = 1
	}
	frac = min(max(frac, -1), 1)
	more := "" // totals still growing
	if listing && !final {
		more = "+"
	}

	// Fields, most useful first; the least useful are dropped until the line fits.
	var head string
	switch {
	case final:
		head = outcome
	case listing:
		head = fmt.Sprintf("listing %d/%d days", len(p.seen), max(p.days, 0))
		if p.days < 0 {
			head = "listing"
		}
	}
	fields := []string{}
	if frac >= 0 {
		fields = append(fields, fmt.Sprintf("%3.0f%%", frac*100))
	}
	fields = append(fields, fmt.Sprintf("obj %d/%d%s", p.read, p.files, more))
	var timing string
	switch {
	case final:
		timing = "in " + duration(elapsed)
	case frac > 0 && frac < 1 && elapsed >= time.Second:
		timing = duration(time.Duration(float64(elapsed)*(1-frac)/frac)) + " left"
	}
	if timing != "" {
		fields = append(fields, timing)
	}
	fields = append(fields, fmt.Sprintf("%s/%s%s", size(p.bytes), size(p.total), more))
	if p.days >= 0 {
		fields = append(fields, fmt.Sprintf("days %d/%d", p.finished, p.days))
	}
	fields = append(fields, fmt.Sprintf("events %d", p.events))
	if secs := elapsed.Seconds(); secs > 0 {
		fields = append(fields, fmt.Sprintf("%.1f MB/s", float64(p.bytes)/secs/1e6))
	}

	const sep = "  "
	room := width - 1
	// A bar first, a fifth of the line, when the line is wide enough for a bar and the
	// fields that matter most; then as many fields as fit.
	const minBar, maxBar = 10, 30
	bar := ""
	if inner := min(room/5, maxBar); frac >= 0 && room >= 60 && inner >= minBar {
		n := int(frac * float64(inner))
		bar = "[" + strings.Repeat("=", n)
		if n < inner {
			bar += ">" + strings.Repeat(" ", inner-n-1)
		}
		bar += "]"
		room -= len(bar) + len(sep)
	}
	for len(fields) > 1 && textWidth(head, fields, sep) > room {
		fields = fields[:len(fields)-1]
	}
	rest := strings.Join(fields, sep)
	if head != "" {
		rest = head + sep + rest
	}
	rest = strings.TrimLeft(rest, " ")
	if len(rest) > room {
		rest = rest[:max(room, 0)]
	}
	if bar != "" {
		rest = bar + sep + rest
	}
	return rest
}

// textWidth is the length of head and fields joined by sep.
func textWidth(head string, fields []string, sep string) int {
	n := len(strings.Join(fields, sep))
	if head != "" {
		n += len(head) + len(sep)
	}
	return n
}

// duration formats d for the progress line: 0.5s, 45s, 3m05s, 2h10m.
func duration(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	switch {
	case d < 10*time.Second:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	}
	return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
}

func size(b int64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%d B", b)
}
