// Package pipeline runs marketrail's job: for each delivery day of a window it lists the day
// folders of the source, streams their log files through a pool of workers (read →
// decompress → scan records → filter → decode candidates), then deduplicates the day's events
// and publishes them as Parquet.
//
// Stages are joined by channels under one errgroup and cancelled by one context:
//
//	lister ──jobs──▶ workers ──results──▶ collector ──▶ lake.PublishDay
//	   └────────────── day listed ──────────▲
//
// At most a few delivery days are in flight at once, so memory depends on how busy a day is,
// not on the length of the window.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/marketrail/marketrail/pkg/lake"
	"github.com/marketrail/marketrail/pkg/marketplace"
	"github.com/marketrail/marketrail/pkg/report"
	"github.com/marketrail/marketrail/pkg/source"
	"github.com/marketrail/marketrail/pkg/storage"
	"github.com/marketrail/marketrail/pkg/trail"
)

// Config is one run's job.
type Config struct {
	Source       storage.Storage  // the trail archive (bucket prefix or folder holding AWSLogs/)
	Dest         storage.Storage  // where the tables go
	From, To     trail.Day        // delivery days to read, inclusive
	Selection    source.Selection // accounts and regions; empty means all
	EventSources []string         // event sources to keep; nil means AWS Marketplace
	Workers      int              // log files read at once; 0 means DefaultWorkers()
	Listings     int              // folder listings at once; 0 means 16
	DaysInFlight int              // delivery days read ahead of the one being written; 0 means 2
	MaxRowsFile  int              // rows per Parquet file before splitting; 0 means the lake's default
	Version      string           // marketrail's version, recorded in outputs
	Logger       *slog.Logger     // nil means slog.Default()
}

// DefaultWorkers is the default size of the worker pool: reading a log file waits on S3 as
// much as it uses a core, so several per core.
func DefaultWorkers() int { return max(8, 4*runtime.GOMAXPROCS(0)) }

// Run runs the job and returns its report. The report is complete (Finish has been called)
// even when Run fails; the error is the fatal one that stopped the run.
func Run(ctx context.Context, cfg Config) (*report.Report, error) {
	rep := &report.Report{
		Tool: "marketrail", Version: cfg.Version, Source: cfg.Source.String(), Dest: cfg.Dest.String(),
		From: cfg.From.String(), To: cfg.To.String(), Started: time.Now().UTC(),
	}
	err := run(ctx, cfg, rep)
	rep.Finish(err, 0)
	return rep, err
}

func (cfg *Config) defaults() {
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers()
	}
	if cfg.Listings <= 0 {
		cfg.Listings = 16
	}
	if cfg.DaysInFlight <= 0 {
		cfg.DaysInFlight = 2
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
}

// job is one log file to read.
type job struct {
	day trail.Day
	obj source.Object
}

// message is what the lister and the workers tell the collector.
type message struct {
	day     trail.Day
	skipped string        // an object listed and not read, with this reason
	listed  int           // with done: how many log files were sent to the workers
	done    bool          // the day's listing is complete
	result  *objectResult // a worker finished a log file
}

func run(ctx context.Context, cfg Config, rep *report.Report) error {
	cfg.defaults()
	log := cfg.Logger
	writer := &lake.Writer{Dest: cfg.Dest, Version: cfg.Version, MaxRowsPerFile: cfg.MaxRowsFile}
	if err := lake.Claim(ctx, cfg.Dest, cfg.Version); err != nil {
		return err
	}
	folders, err := source.Discover(ctx, cfg.Source, cfg.Selection, cfg.Listings)
	if err != nil {
		return fmt.Errorf("discover trail folders in %s: %w", cfg.Source, err)
	}
	rep.Folders = len(folders)
	log.Info("discovered trail folders", "source", cfg.Source.String(), "folders", len(folders),
		"from", cfg.From.String(), "to", cfg.To.String(), "workers", cfg.Workers)
	if len(folders) == 0 {
		log.Warn("no trail folders found: expected " + trail.Root + "[o-ORGID/]ACCOUNT/CloudTrail/REGION/ below the source")
	}

	g, ctx := errgroup.WithContext(ctx)
	jobs := make(chan job, cfg.Workers)
	msgs := make(chan message, cfg.Workers)
	slots := make(chan struct{}, cfg.DaysInFlight) // delivery days between listing and publishing
	send := func(m message) error {
		select {
		case msgs <- m:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}

	// The lister and the workers; msgs closes when all of them are done.
	var producers sync.WaitGroup
	producers.Add(1 + cfg.Workers)
	g.Go(func() error {
		defer producers.Done()
		defer close(jobs)
		for _, d := range trail.Range(cfg.From, cfg.To) {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return ctx.Err()
			}
			n := 0
			err := source.ListDay(ctx, cfg.Source, folders, d, cfg.Listings, func(o source.Object) error {
				if o.Skip != "" {
					return send(message{day: d, skipped: o.Skip})
				}
				n++
				select {
				case jobs <- job{d, o}:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			})
			if err != nil {
				return err
			}
			if err := send(message{day: d, listed: n, done: true}); err != nil {
				return err
			}
		}
		return nil
	})
	for range cfg.Workers {
		g.Go(func() error {
			defer producers.Done()
			w := newWorker(cfg.Source, cfg.EventSources)
			for j := range jobs {
				r := w.process(ctx, j)
				if r.err != nil && ctx.Err() != nil {
					return ctx.Err()
				}
				if err := send(message{day: j.day, result: r}); err != nil {
					return err
				}
			}
			return nil
		})
	}
	go func() {
		producers.Wait()
		close(msgs)
	}()

	// The collector: gathers each day's results and publishes the day once its listing is
	// complete and every log file it listed has come back.
	g.Go(func() error {
		days := map[trail.Day]*dayState{}
		for m := range msgs {
			st := days[m.day]
			if st == nil {
				st = &dayState{rep: report.NewDay(m.day.String()), start: time.Now(), expected: -1}
				days[m.day] = st
			}
			switch {
			case m.skipped != "":
				st.rep.ObjectsListed++
				st.rep.ObjectsSkipped[m.skipped]++
			case m.done:
				st.expected = m.listed
			case m.result != nil:
				st.add(m.result, log)
			}
			if st.expected >= 0 && st.received == st.expected {
				delete(days, m.day)
				if err := publish(ctx, writer, m.day, st, log); err != nil {
					return err
				}
				rep.Days = append(rep.Days, st.rep)
				<-slots
			}
		}
		return nil
	})
	return g.Wait()
}

// dayState gathers one delivery day's results in the collector.
type dayState struct {
	rep      *report.Day
	start    time.Time
	expected int // log files listed; -1 until the listing is complete
	received int
	events   []marketplace.Event
}

func (st *dayState) add(r *objectResult, log *slog.Logger) {
	st.received++
	st.rep.ObjectsListed++
	switch {
	case errors.Is(r.err, storage.ErrArchived):
		st.rep.ObjectsSkipped[source.SkipArchived]++
		log.Warn("skipped archived object: restore it to read it", "key", r.key)
		return
	case r.err != nil:
		st.rep.ObjectsFailed++
		st.rep.Failures = append(st.rep.Failures, report.Failure{Key: r.key, Reason: r.err.Error()})
		log.Error("object failed: none of its events were written", "key", r.key, "error", r.err.Error())
		return
	}
	f := r.file
	st.rep.LogFilesRead++
	st.rep.BytesRead += r.bytesRead
	st.rep.BytesDecompressed += f.BytesOut
	st.rep.RecordsScanned += f.Records
	st.rep.EventsMatched += f.Matched
	for _, inv := range f.Invalid {
		st.rep.EventsInvalid++
		st.rep.InvalidEvents = append(st.rep.InvalidEvents, inv)
		log.Warn("event could not become a row", "key", inv.Key, "record", *inv.Record, "error", inv.Reason)
	}
	st.events = append(st.events, f.Events...)
}

// publish deduplicates a delivery day's events and writes them.
func publish(ctx context.Context, w *lake.Writer, d trail.Day, st *dayState, log *slog.Logger) error {
	events, dropped := Dedup(st.events)
	st.rep.DuplicatesDropped = int64(dropped)
	var metering []marketplace.MeteringRecord
	for i := range events {
		metering = append(metering, events[i].Metering...)
		if events[i].Notes.InvalidUTF8 {
			st.rep.TextRepaired++
		}
		st.rep.UsageUnparsed += int64(events[i].Notes.UnparsedUsage)
	}
	res, err := w.PublishDay(ctx, d,
		lake.NewTable(marketplace.TableEvents, events, (*marketplace.Event).EventDate, compareEvents, "event_time"),
		lake.NewTable(marketplace.TableMetering, metering, (*marketplace.MeteringRecord).EventDate, compareMetering, "event_time"))
	if err != nil {
		return fmt.Errorf("publish delivery day %s: %w", d, err)
	}
	st.rep.Files = append(st.rep.Files, res.Files...)
	for _, t := range marketplace.Tables() {
		st.rep.RowsWritten[t.Name] += 0 // every table appears in the report, even with no rows
	}
	for table, parts := range res.Rows {
		st.rep.Partitions[table] = parts
		for _, n := range parts {
			st.rep.RowsWritten[table] += n
		}
	}
	slices.SortFunc(st.rep.Failures, func(a, b report.Failure) int { return strings.Compare(a.Key, b.Key) })
	st.rep.Elapsed = time.Since(st.start).Seconds()
	log.Info("delivery day written", "delivery_day", d.String(), "objects", st.rep.ObjectsListed,
		"events", len(events), "metering_records", len(metering), "duplicates", dropped,
		"failed", st.rep.ObjectsFailed, "files", len(res.Files))
	return nil
}

// Dedup keeps one copy of each eventID: the one from the smallest source key (then the
// earliest record in it), so the result does not depend on the order files were read in.
// Events without an eventID are never merged. It returns the kept events and how many
// copies it dropped.
func Dedup(events []marketplace.Event) ([]marketplace.Event, int) {
	slices.SortFunc(events, func(a, b marketplace.Event) int {
		if c := strings.Compare(a.SourceKey, b.SourceKey); c != 0 {
			return c
		}
		return a.RecordIndex - b.RecordIndex
	})
	seen := make(map[string]struct{}, len(events))
	kept := events[:0]
	for _, e := range events {
		if e.EventID != nil {
			if _, dup := seen[*e.EventID]; dup {
				continue
			}
			seen[*e.EventID] = struct{}{}
		}
		kept = append(kept, e)
	}
	return kept, len(events) - len(kept)
}

// compareMetering orders metering rows in a file: by call time, then by where they came from.
func compareMetering(a, b *marketplace.MeteringRecord) int {
	if c := a.EventTime.Compare(b.EventTime); c != 0 {
		return c
	}
	if c := strings.Compare(a.SourceKey, b.SourceKey); c != 0 {
		return c
	}
	if c := a.RecordIndex - b.RecordIndex; c != 0 {
		return c
	}
	return a.Position - b.Position
}

// compareEvents orders rows in a file: by event time, then by where they came from.
func compareEvents(a, b *marketplace.Event) int {
	if c := a.EventTime.Compare(b.EventTime); c != 0 {
		return c
	}
	if c := strings.Compare(a.SourceKey, b.SourceKey); c != 0 {
		return c
	}
	return a.RecordIndex - b.RecordIndex
}
