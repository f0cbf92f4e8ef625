package main

import (
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/marketrail/marketrail/pkg/trail"
)

// progress shows a run's advance on a terminal: a bar over the window's delivery days, with
// the objects, bytes and events read so far, the rate and the time left.
type progress struct {
	bar                  *progressbar.ProgressBar
	w                    io.Writer
	files, read          int
	bytes, total, events int64
	start                time.Time
}

func newProgress(w io.Writer) *progress { return &progress{w: w, start: time.Now()} }

func (p *progress) Days(n int) {
	p.bar = progressbar.NewOptions(n,
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionSetDescription("days"),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionSetWidth(20),
		progressbar.OptionClearOnFinish(),
	)
}

func (p *progress) Listed(_ trail.Day, files int, bytes int64) {
	p.files += files
	p.total += bytes
	p.describe()
}

func (p *progress) Read(bytes int64, events int) {
	p.read++
	p.bytes += bytes
	p.events += int64(events)
	p.describe()
}

func (p *progress) Done(trail.Day, string) { p.bar.Add(1) }

func (p *progress) describe() {
	rate := float64(p.bytes) / max(time.Since(p.start).Seconds(), 1e-3) / 1e6
	p.bar.Describe(fmt.Sprintf("objects %d/%d  %s/%s  events %d  %.1f MB/s  days",
		p.read, p.files, size(p.bytes), size(p.total), p.events, rate))
}

// finish clears the bar so the summary that follows starts on a clean line.
func (p *progress) finish() {
	if p.bar != nil {
		p.bar.Finish()
	}
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
