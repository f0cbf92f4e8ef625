// Package report defines the run summary: the one JSON document marketrail prints at the end
// of a run and writes with --report. Fields are only ever added to it, never renamed, so a
// scheduler or dashboard that reads it keeps working. docs/report.md describes every field.
package report

import (
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"time"
)

// Exit statuses, as documented in --help and the README.
const (
	ExitOK          = 0   // every object was read and every event written
	ExitFatal       = 1   // the run could not do its job (credentials, bucket, destination)
	ExitUsage       = 2   // bad command line
	ExitObjectsFail = 3   // finished, but some objects could not be read (they are listed), or some days were held by another run
	ExitDigests     = 4   // finished, but --verify-digests found log files or digests CloudTrail did not write
	ExitNoTrail     = 5   // no trail found: no trail folder, an --accounts/--regions value matching none, or no log file in the whole window
	ExitSIGINT      = 130 // interrupted by SIGINT
	ExitSIGTERM     = 143 // interrupted by SIGTERM
)

// Actions: what a run did with a delivery day (Day.Action).
const (
	ActionWritten   = "written"   // read and published
	ActionUnchanged = "unchanged" // complete before, with the same inputs: skipped
	ActionPlanned   = "planned"   // listed by a dry run; nothing read or written
	ActionHeld      = "held"      // another run held the day's lease throughout the wait: not done; it runs next time
)

// Status values of Report.Status.
const (
	StatusOK            = "ok"
	StatusFailedObjects = "failed_objects"
	StatusFatal         = "fatal"
	StatusInterrupted   = "interrupted"
	StatusDigests       = "digest_problems"
	StatusNoTrail       = "no_trail"
	StatusDaysHeld      = "days_held" // exit 3: some days were held by another run and not done
)

// ErrNoTrail is wrapped by the error of a run that found nothing to read where it looked:
// no trail folder below the source, an --accounts or --regions value that matches no
// folder, or a window whose folders hold no log file at all. Finish gives it StatusNoTrail
// and ExitNoTrail rather than a fatal error's.
var ErrNoTrail = errors.New("no trail found")

// Report is the summary of one run.
type Report struct {
	Tool    string `json:"tool"`    // always "marketrail"
	Version string `json:"version"` // marketrail's version
	Source  string `json:"source"`  // where log files were read from
	Dest    string `json:"dest"`    // where Parquet was written
	// TableFormat is the tables' format: hive, or iceberg (with the catalog's spec).
	TableFormat   string    `json:"table_format,omitempty"`
	Catalog       string    `json:"catalog,omitempty"`
	From          string    `json:"from"`     // first delivery day of the window, YYYY-MM-DD
	To            string    `json:"to"`       // last delivery day of the window, YYYY-MM-DD
	Started       time.Time `json:"started"`  // when the run began (UTC)
	Finished      time.Time `json:"finished"` // when it ended (UTC)
	Elapsed       float64   `json:"elapsed_seconds"`
	DryRun        bool      `json:"dry_run"`         // --dry-run: nothing was read or written
	Shard         string    `json:"shard,omitempty"` // "I/N" when sharded
	Status        string    `json:"status"`          // ok, failed_objects, digest_problems, no_trail, fatal, interrupted
	ExitCode      int       `json:"exit_code"`       // the process's exit status
	Error         string    `json:"error,omitempty"` // the fatal error, if any
	Folders       int       `json:"trail_folders"`   // account/region folders discovered
	MaxFailed     int       `json:"max_failed"`      // failed objects allowed before the exit status is 3
	DaysWritten   int       `json:"days_written"`    // delivery days read and published
	DaysUnchanged int       `json:"days_unchanged"`  // delivery days skipped: complete and unchanged
	DaysPlanned   int       `json:"days_planned"`    // delivery days a dry run listed
	DaysHeld      int       `json:"days_held"`       // delivery days another run held: not done
	// EmptyDays lists the delivery days whose trail folders hold no log file at all
	// (Day.Empty), in order; never null.
	EmptyDays []string `json:"empty_days"`
	Totals    Counts   `json:"totals"` // the sum over Days
	Days      []*Day   `json:"days"`   // one entry per delivery day, in order

	// Digests is, with --verify-digests, what checking the log files read against
	// CloudTrail's integrity digests found.
	Digests *Digests `json:"digests,omitempty"`
}

// Counts are the figures kept per delivery day and in total.
type Counts struct {
	ObjectsListed      int64            `json:"objects_listed"`      // objects found in the day folders
	LogFilesRead       int64            `json:"log_files_read"`      // log files read to the end without error
	ObjectsSkipped     map[string]int64 `json:"objects_skipped"`     // objects not read, by reason
	ObjectsFailed      int64            `json:"objects_failed"`      // log files that could not be read; see failures
	BytesRead          int64            `json:"bytes_read"`          // bytes read from storage (compressed)
	BytesDecompressed  int64            `json:"bytes_decompressed"`  // JSON bytes after decompression
	RecordsScanned     int64            `json:"records_scanned"`     // CloudTrail records seen
	EventsMatched      int64            `json:"events_matched"`      // records selected by the event-source filter
	RecordsQuarantined int64            `json:"records_quarantined"` // selected records that could not become rows, kept raw in the quarantine; see quarantined
	RecordsSkipped     map[string]int64 `json:"records_skipped"`     // records too large or too deep to read that the filter did not select, by reason
	DuplicatesDropped  int64            `json:"duplicates_dropped"`  // copies of an eventID already seen that day
	// RedeliveriesDropped counts events dropped because the previous delivery day's tail
	// (its log files from 23:00Z on) holds their eventID: CloudTrail delivered them again.
	RedeliveriesDropped int64 `json:"redeliveries_dropped"`
	// TailFilesRead counts log files of the previous delivery day's tail read for this day
	// alone (when the previous day is read in the same run, its own reads serve).
	TailFilesRead int64            `json:"tail_files_read"`
	TextRepaired  int64            `json:"text_repaired"`  // events whose text held invalid UTF-8, replaced by U+FFFD
	UsageUnparsed int64            `json:"usage_unparsed"` // metering usage timestamps or quantities kept as null because they could not be parsed
	RowsWritten   map[string]int64 `json:"rows_written"`   // rows per table
	PlannedReads  int64            `json:"planned_reads"`  // dry run: log files a run would read (one GET each)
	PlannedBytes  int64            `json:"planned_bytes"`  // dry run: their size in bytes
	// UnknownOperations counts the events written whose operation the table of known
	// Marketplace operations does not list, by event source and event name, so that a new
	// API shows up here; nil (absent) when there are none, or when --event-source replaced
	// the Marketplace sources.
	UnknownOperations map[string]map[string]int64 `json:"unknown_operations,omitempty"`
}

// Add adds o to c.
func (c *Counts) Add(o Counts) {
	c.ObjectsListed += o.ObjectsListed
	c.LogFilesRead += o.LogFilesRead
	c.ObjectsFailed += o.ObjectsFailed
	c.BytesRead += o.BytesRead
	c.BytesDecompressed += o.BytesDecompressed
	c.RecordsScanned += o.RecordsScanned
	c.EventsMatched += o.EventsMatched
	c.RecordsQuarantined += o.RecordsQuarantined
	c.DuplicatesDropped += o.DuplicatesDropped
	c.RedeliveriesDropped += o.RedeliveriesDropped
	c.TailFilesRead += o.TailFilesRead
	c.TextRepaired += o.TextRepaired
	c.UsageUnparsed += o.UsageUnparsed
	c.PlannedReads += o.PlannedReads
	c.PlannedBytes += o.PlannedBytes
	c.ObjectsSkipped = addMap(c.ObjectsSkipped, o.ObjectsSkipped)
	c.RecordsSkipped = addMap(c.RecordsSkipped, o.RecordsSkipped)
	c.RowsWritten = addMap(c.RowsWritten, o.RowsWritten)
	for source, names := range o.UnknownOperations {
		if c.UnknownOperations == nil {
			c.UnknownOperations = map[string]map[string]int64{}
		}
		if c.UnknownOperations[source] == nil {
			c.UnknownOperations[source] = map[string]int64{}
		}
		for name, n := range names {
			c.UnknownOperations[source][name] += n
		}
	}
}

func addMap(dst, src map[string]int64) map[string]int64 {
	if dst == nil {
		dst = map[string]int64{}
	}
	for k, v := range src {
		dst[k] += v
	}
	return dst
}

// Day is the report of one delivery day.
type Day struct {
	DeliveryDay string `json:"delivery_day"` // YYYY-MM-DD
	Action      string `json:"action"`       // written, unchanged, planned or held
	// HeldBy names the run that held the day (host:pid:token), for action held.
	HeldBy string `json:"held_by,omitempty"`
	// Reason says why the day was written or planned (new, inputs_changed,
	// neighbour_changed, settings_changed, partial, publishing, forced), or unchanged.
	Reason string `json:"reason"`
	Counts
	Failures    []Failure                   `json:"failures"`    // objects that failed, with why
	Archived    []string                    `json:"archived"`    // objects a read found archived (skipped as "archived"), sorted
	Quarantined []Failure                   `json:"quarantined"` // selected records that could not become rows, in the order of the quarantine file's lines
	Partitions  map[string]map[string]int64 `json:"partitions"`  // table → event_date → rows written
	Files       []string                    `json:"files"`       // files written, relative to the destination
	Elapsed     float64                     `json:"elapsed_seconds"`
	// Empty is true when none of the day's trail folders holds a log file: a quiet day, or
	// a trail that delivers nothing (see ExitNoTrail).
	Empty bool `json:"empty"`
}

// Failure names an object (and, for a record, its index) and why it could not be used.
type Failure struct {
	Key    string `json:"key"`
	Record *int   `json:"record,omitempty"`
	Reason string `json:"reason"`
}

// NewDay returns an empty day report with its maps made, so it encodes as {} not null.
func NewDay(day string) *Day {
	return &Day{
		DeliveryDay: day,
		Counts:      Counts{ObjectsSkipped: map[string]int64{}, RecordsSkipped: map[string]int64{}, RowsWritten: map[string]int64{}},
		Failures:    []Failure{},
		Archived:    []string{},
		Quarantined: []Failure{},
		Partitions:  map[string]map[string]int64{},
		Files:       []string{},
	}
}

// Finish computes the totals, status and exit code. fatal is the error that stopped the run
// (nil if none); interrupted is the exit code of the signal that stopped it (0 if none).
func (r *Report) Finish(fatal error, interrupted int) {
	r.Finished = time.Now().UTC()
	r.Elapsed = r.Finished.Sub(r.Started).Seconds()
	r.Totals = Counts{ObjectsSkipped: map[string]int64{}, RecordsSkipped: map[string]int64{}, RowsWritten: map[string]int64{}}
	slices.SortFunc(r.Days, func(a, b *Day) int {
		switch {
		case a.DeliveryDay < b.DeliveryDay:
			return -1
		case a.DeliveryDay > b.DeliveryDay:
			return 1
		}
		return 0
	})
	r.DaysWritten, r.DaysUnchanged, r.DaysPlanned, r.DaysHeld = 0, 0, 0, 0
	r.EmptyDays = []string{}
	for _, d := range r.Days {
		if d.Empty {
			r.EmptyDays = append(r.EmptyDays, d.DeliveryDay)
		}
		r.Totals.Add(d.Counts)
		switch d.Action {
		case ActionWritten:
			r.DaysWritten++
		case ActionUnchanged:
			r.DaysUnchanged++
		case ActionPlanned:
			r.DaysPlanned++
		case ActionHeld:
			r.DaysHeld++
		}
	}
	switch {
	case interrupted != 0:
		r.Status, r.ExitCode = StatusInterrupted, interrupted
	case errors.Is(fatal, ErrNoTrail):
		r.Status, r.ExitCode = StatusNoTrail, ExitNoTrail
	case fatal != nil:
		r.Status, r.ExitCode = StatusFatal, ExitFatal
	case r.Totals.ObjectsFailed > int64(r.MaxFailed):
		r.Status, r.ExitCode = StatusFailedObjects, ExitObjectsFail
	case r.DaysHeld > 0:
		r.Status, r.ExitCode = StatusDaysHeld, ExitObjectsFail
	case r.Digests.Problems():
		r.Status, r.ExitCode = StatusDigests, ExitDigests
	default:
		r.Status, r.ExitCode = StatusOK, ExitOK
	}
	if fatal != nil {
		r.Error = fatal.Error()
	}
	if r.Days == nil {
		r.Days = []*Day{}
	}
}

// JSON returns the report as indented JSON with a trailing newline.
func (r *Report) JSON() []byte {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		panic(err) // the types above always marshal
	}
	return append(b, '\n')
}

// Tables lists the tables a day wrote rows to, sorted.
func (d *Day) Tables() []string { return slices.Sorted(maps.Keys(d.Partitions)) }
