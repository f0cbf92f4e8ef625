package report

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// listedNames is how many failed objects or quarantined records the text summary names;
// the rest are counted, and the JSON report has them all.
const listedNames = 3

// Text returns the run summary for a person at a terminal: a dozen short lines saying how
// the run ended, its window, what became of its delivery days, the objects read and failed
// (the first few by name), events and rows per table, quarantined records and the time it
// took. The JSON report (JSON) is the complete one; Text leaves out what a person does not
// need at a glance.
func (r *Report) Text() string {
	var b strings.Builder
	line := func(label, format string, args ...any) {
		fmt.Fprintf(&b, "  %-12s %s\n", label, fmt.Sprintf(format, args...))
	}

	outcome := r.Status
	switch {
	case r.Status == StatusInterrupted && r.Error != "":
		outcome = r.Error
	case r.Status == StatusOK && r.DryRun:
		outcome = "dry run, nothing read or written"
	}
	fmt.Fprintf(&b, "marketrail run: %s (exit %d) in %s\n", outcome, r.ExitCode, elapsed(r.Elapsed))
	if r.Status == StatusFatal && r.Error != "" {
		line("error", "%s", r.Error)
	}
	if w := Window(r.From, r.To); w != "" {
		line("window", "%s", w)
	}
	if r.Shard != "" {
		line("shard", "%s", r.Shard)
	}
	line("days", "%s", r.daysText())
	if r.DryRun {
		line("planned", "%s GET requests, %s", count(r.Totals.PlannedReads), bytesText(r.Totals.PlannedBytes))
	}

	t := r.Totals
	objects := fmt.Sprintf("%s read, %s failed, of %s listed", count(t.LogFilesRead), count(t.ObjectsFailed), count(t.ObjectsListed))
	if n := sum(t.ObjectsSkipped); n > 0 {
		objects += fmt.Sprintf(" (%s skipped: %s)", count(n), byKey(t.ObjectsSkipped))
	}
	line("objects", "%s", objects)
	var failures, quarantined []Failure
	for _, d := range r.Days {
		failures = append(failures, d.Failures...)
		quarantined = append(quarantined, d.Quarantined...)
	}
	names(line, "failed", failures, "days[].failures")
	if !r.DryRun {
		line("events", "%s matched, %s read (%s)", count(t.EventsMatched), count(t.RecordsScanned), bytesText(t.BytesRead))
		rows := "none"
		if len(t.RowsWritten) > 0 {
			rows = byKey(t.RowsWritten)
		}
		line("rows", "%s", rows)
		line("quarantined", "%s", plural(t.RecordsQuarantined, "record"))
		names(line, "", quarantined, "days[].quarantined")
	}
	if d := r.Digests; d != nil {
		if d.Problems() {
			line("digests", "%d changed, %d missing, %d chain breaks, %d bad digests: see the report's digests section",
				len(d.HashMismatch), len(d.Missing), len(d.ChainBreaks), len(d.BadDigests))
		} else {
			line("digests", "%s log files verified, no problems", count(int64(d.LogFilesVerified)))
		}
	}
	return b.String()
}

// Window describes the delivery days from and to (YYYY-MM-DD): "2024-03-01 to 2024-03-31
// (31 days)", or "2024-03-01 (1 day)"; "" when either is not a date.
func Window(from, to string) string {
	f, err1 := time.Parse(time.DateOnly, from)
	l, err2 := time.Parse(time.DateOnly, to)
	if err1 != nil || err2 != nil {
		return ""
	}
	n := int(l.Sub(f).Hours()/24) + 1
	if n == 1 {
		return from + " (1 day)"
	}
	return fmt.Sprintf("%s to %s (%s days)", from, to, count(int64(n)))
}

// daysText says what became of the days: "2 written, 1 unchanged", the known actions in
// this order (held: a lease another run held), any other action after them in alphabetical
// order, then how many days are incomplete because objects failed.
func (r *Report) daysText() string {
	actions := map[string]int{}
	failed := 0
	for _, d := range r.Days {
		action := d.Action
		if action == "" {
			action = "unfinished"
		}
		actions[action]++
		if d.ObjectsFailed > 0 {
			failed++
		}
	}
	if len(actions) == 0 {
		return "none finished"
	}
	var parts []string
	for _, a := range []string{ActionWritten, ActionUnchanged, "held", ActionPlanned} {
		if n, ok := actions[a]; ok {
			parts = append(parts, fmt.Sprintf("%d %s", n, a))
			delete(actions, a)
		}
	}
	for _, a := range slices.Sorted(maps.Keys(actions)) {
		parts = append(parts, fmt.Sprintf("%d %s", actions[a], a))
	}
	s := strings.Join(parts, ", ")
	if failed > 0 {
		s += fmt.Sprintf("; %d failed (objects not read: the day runs again next time)", failed)
	}
	return s
}

// names adds a line per failure for the first few, and one counting the rest.
func names(line func(label, format string, args ...any), label string, fs []Failure, where string) {
	for i, f := range fs {
		if i == listedNames {
			line("", "... and %d more (the JSON report's %s)", len(fs)-listedNames, where)
			return
		}
		key := f.Key
		if f.Record != nil {
			key += " record " + strconv.Itoa(*f.Record)
		}
		line(label, "%s: %s", key, f.Reason)
		label = ""
	}
}

// byKey formats a map of counts as "a 1, b 2", keys sorted.
func byKey(m map[string]int64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+" "+count(m[k]))
	}
	return strings.Join(parts, ", ")
}

// plural formats n things: "1 record", "2 records".
func plural(n int64, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return count(n) + " " + thing + "s"
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// count formats n with thousands separators: 1,234,567.
func count(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// bytesText formats a size in bytes: 512 B, 1.5 MiB.
func bytesText(b int64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%d B", b)
	}
	v, i := float64(b)/unit, 0
	for v >= unit && i < 4 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTP"[i])
}

// elapsed formats seconds: 0.4 s, 12.3 s, 3m05s, 2h10m.
func elapsed(s float64) string {
	switch {
	case s < 60:
		return fmt.Sprintf("%.1f s", s)
	case s < 3600:
		n := int(s + 0.5)
		return fmt.Sprintf("%dm%02ds", n/60, n%60)
	}
	n := int(s/60 + 0.5)
	return fmt.Sprintf("%dh%02dm", n/60, n%60)
}
