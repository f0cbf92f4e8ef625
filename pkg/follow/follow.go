// Package follow keeps the lake current from the trail's notifications (marketrail follow).
//
// It receives the messages of an SQS queue that announce new log files (every shape package
// notify reads), gathers the announced log files of each delivery day and, every interval,
// publishes those days with the same job as marketrail run (package pipeline): the same
// leases, manifests, deduplication, tail rule and files. Only the listing differs: a day is
// listed from what is known of it, the inputs its manifest records and the log files
// announced since, and of those inputs only the log files that gave the day records are read
// again (the manifest counts them, lake.Manifest.Matched). The tables are then exactly what
// one run over the same days would write, at the cost of reading again a day's few
// Marketplace log files, not all of them.
//
// A message is deleted only once every log file it announces is an input of a published
// day (at-least-once delivery, exactly-once rows); a message that cannot be understood is
// kept raw under the destination's _marketrail/messages/ and deleted; a log file that
// cannot be read is tried again with its message, and after MaxReceives receives the
// message is deleted and the file named (its day's manifest says partial, so the next
// nightly run reads the day again).
package follow

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/marketrail/marketrail/pkg/lake"
	"github.com/marketrail/marketrail/pkg/notify"
	"github.com/marketrail/marketrail/pkg/pipeline"
	"github.com/marketrail/marketrail/pkg/queue"
	"github.com/marketrail/marketrail/pkg/report"
	"github.com/marketrail/marketrail/pkg/trail"
)

// Queue is the SQS queue follow reads (a *queue.Queue).
type Queue interface {
	URL() string
	Receive(ctx context.Context, max int, wait, visibility time.Duration) ([]queue.Message, error)
	Delete(ctx context.Context, msgs ...queue.Message) error
	Extend(ctx context.Context, visibility time.Duration, msgs ...queue.Message) error
}

// Defaults of Config.
const (
	DefaultInterval    = time.Minute
	DefaultMaxReceives = 5
	DefaultGrace       = 20 * time.Second
)

// DefaultVisibility is Config.Visibility's default for an interval: a message waits up to
// an interval for its batch, then the batch's time; at least five minutes.
func DefaultVisibility(interval time.Duration) time.Duration {
	return max(2*interval+time.Minute, 5*time.Minute)
}

// MessagesDir is where a message that cannot be understood is kept, raw, in the destination:
// one object per message id.
const MessagesDir = "_marketrail/messages/"

// Config is what Run follows, and how.
type Config struct {
	// Job is the job each batch runs: Source, Dest, filters, workers, leases, Version,
	// Logger. From, To, DayList, List and Claimed are follow's to set.
	Job   pipeline.Config
	Queue Queue
	// Bucket and Prefix are where Job.Source is (Prefix without its trailing '/', "" for the
	// bucket's root): objects announced elsewhere are skipped.
	Bucket, Prefix string
	Interval       time.Duration // how often announced files are published; 0: DefaultInterval
	MaxReceives    int           // receives of a message whose log file cannot be read before it is given up; 0: DefaultMaxReceives
	Grace          time.Duration // how long a stop waits for the batch being published; 0: DefaultGrace
	// Wait is how long one receive waits for a message (SQS long polling, at most 20 s); 0
	// means 20 s.
	Wait time.Duration
	// Visibility is how long a received message stays hidden from other receivers while
	// follow works on it (extended as long as it does): a message whose receive was lost on
	// the way (the request reached the queue, its answer did not) comes back after it. 0
	// means DefaultVisibility(Interval).
	Visibility time.Duration
	// Stats, if set, counts what follow does (for metrics and /healthz).
	Stats *Stats
	// Maintain, if set, is the table format's upkeep (Iceberg: expire old snapshots and
	// orphan files), run after a batch is published, at most once per MaintainEvery (0:
	// DefaultMaintainEvery). Its error is logged, never fatal: the next try is an interval
	// later.
	Maintain      func(ctx context.Context) error
	MaintainEvery time.Duration
}

// DefaultMaintainEvery is how often follow runs Config.Maintain by default.
const DefaultMaintainEvery = time.Hour

// Stats counts what a follower does. Its fields are safe to read at any time.
type Stats struct {
	Received    atomic.Int64 // messages received (a message received again counts again)
	Deleted     atomic.Int64 // messages deleted once done
	Unreadable  atomic.Int64 // messages not understood: kept raw and deleted
	TestEvents  atomic.Int64 // S3 test events, deleted
	Files       atomic.Int64 // announced log files published (inputs of a published day; each counted once a batch)
	Events      atomic.Int64 // rows written to the events table by the batches
	GivenUp     atomic.Int64 // announced log files that could not be read after MaxReceives receives
	Batches     atomic.Int64 // batches published
	BatchErrors atomic.Int64 // batches that failed (tried again at the next interval)

	mu          sync.Mutex
	skipped     map[string]int64 // announced objects that are not the source's log files, by reason
	lastReceive time.Time        // the last receive that succeeded
	lastBatch   error            // the last batch's error, nil once one succeeds
	lag         []time.Duration  // since the last LagSince: from a message's sending to its deletion
}

func (s *Stats) skip(reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.skipped == nil {
		s.skipped = map[string]int64{}
	}
	s.skipped[reason]++
}

// Skipped returns the announced objects skipped, by reason.
func (s *Stats) Skipped() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.skipped)
}

// Lags returns the lags observed since the last call (from a message's sending to its
// deletion, once its files were published), and forgets them.
func (s *Stats) Lags() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.lag
	s.lag = nil
	return l
}

// Health reports whether the follower is well: it has received (even nothing) within
// stale, and its last batch did not fail.
func (s *Stats) Health(now time.Time, stale time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.lastBatch != nil:
		return fmt.Errorf("the last publish failed: %v", s.lastBatch)
	case s.lastReceive.IsZero():
		return errors.New("no receive has succeeded yet")
	case now.Sub(s.lastReceive) > stale:
		return fmt.Errorf("no receive has succeeded for %s", now.Sub(s.lastReceive).Round(time.Second))
	}
	return nil
}

// Skip reasons of announced objects that are not log files of the source.
const (
	SkipOtherBucket = "other_bucket"   // an object of another bucket
	SkipOutside     = "outside_prefix" // an object of the bucket outside --source's prefix
	SkipNotTrail    = "not_trail_key"  // not a key of a trail's folders
	SkipDigest      = "digest"         // a digest file (CloudTrail-Digest/)
	SkipInsight     = "insight"        // an Insights file (CloudTrail-Insight/)
	SkipNotSelected = "not_selected"   // a log file of an account or region --accounts/--regions leave out
	SkipNotCreated  = "not_created"    // an event of the message that is not an object's creation (a removal, a restore...)
)

// held is a message being worked on.
type held struct {
	msg      queue.Message
	files    []string // the log files it announces, relative to the source
	receives int      // times received: SQS's count, or follow's own where it is higher
	deadline time.Time
}

// follower is one Run.
type follower struct {
	cfg        Config
	log        *slog.Logger
	l          *lister
	visibility time.Duration
	held       map[string]*held // by message id
	receives   map[string]int   // receives of each message id seen, follow's own count
	stats      *Stats
	took       time.Duration // the last batch's time
	maintained time.Time     // when Maintain last ran
}

// wait is how long the first message of a batch waits for it: an interval less the last
// batch's time (at most half an interval less), so that a file's rows are published about an
// interval after its notification even when publishing its day takes a while.
func (f *follower) wait() time.Duration {
	return max(f.cfg.Interval-f.took, f.cfg.Interval/2)
}

// Run follows the queue until ctx ends, and then returns nil once the batch being published
// (if any) is done or Grace is over: a stop is the normal end of a service. It returns an
// error only for what makes following impossible: the destination cannot be claimed, the
// queue cannot be read.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.MaxReceives <= 0 {
		cfg.MaxReceives = DefaultMaxReceives
	}
	if cfg.Grace <= 0 {
		cfg.Grace = DefaultGrace
	}
	if cfg.Wait <= 0 || cfg.Wait > queue.MaxWait {
		cfg.Wait = queue.MaxWait
	}
	if cfg.Stats == nil {
		cfg.Stats = &Stats{}
	}
	if cfg.Visibility <= 0 {
		cfg.Visibility = DefaultVisibility(cfg.Interval)
	}
	log := cfg.Job.Logger
	if log == nil {
		log = slog.Default()
		cfg.Job.Logger = log
	}
	if cfg.Job.DryRun || cfg.Job.Force {
		return errors.New("follow: --dry-run and --force are run's, not follow's")
	}
	if err := pipeline.Claim(ctx, cfg.Job); err != nil {
		return err
	}
	f := &follower{cfg: cfg, log: log, stats: cfg.Stats, held: map[string]*held{}, receives: map[string]int{},
		visibility: cfg.Visibility,
		l: &lister{src: cfg.Job.Source, w: &lake.Writer{Dest: cfg.Job.Dest, Version: cfg.Job.Version},
			settings: pipeline.Settings(&cfg.Job), selection: cfg.Job.Selection, listings: cfg.Job.Listings},
	}
	if f.l.listings <= 0 {
		f.l.listings = 32
	}
	f.cfg.Job.Claimed = true
	f.cfg.Job.List = f.l.list
	return f.run(ctx)
}

func (f *follower) run(ctx context.Context) error {
	f.log.Info("following", "queue", f.cfg.Queue.URL(), "source", f.cfg.Job.Source.String(), "dest", f.cfg.Job.Dest.String(), "interval", f.cfg.Interval.String())
	var due time.Time // when the held messages' batch is published; zero while none are held
	failures := 0
	var fatalErr error
	for ctx.Err() == nil && fatalErr == nil {
		wait := f.cfg.Wait
		if !due.IsZero() {
			wait = min(wait, time.Until(due))
		}
		if wait > 0 {
			msgs, err := f.cfg.Queue.Receive(ctx, queue.MaxBatch, wait, f.visibility)
			if ctx.Err() != nil {
				break
			}
			if err != nil {
				failures++
				f.log.Error("receive failed", "queue", f.cfg.Queue.URL(), "error", err.Error(), "failures_in_a_row", failures)
				if fatal(err) {
					fatalErr = err
					break
				}
				sleep(ctx, min(time.Duration(failures)*time.Second, 30*time.Second))
				continue
			}
			failures = 0
			f.stats.mu.Lock()
			f.stats.lastReceive = time.Now()
			f.stats.mu.Unlock()
			f.take(ctx, msgs)
			if due.IsZero() && len(f.held) > 0 {
				due = time.Now().Add(f.wait())
			}
		}
		f.extend(ctx)
		if !due.IsZero() && !time.Now().Before(due) {
			f.publish(ctx)
			f.maintain(ctx)
			due = time.Time{}
			if len(f.held) > 0 { // files to try again: with the next interval's batch
				due = time.Now().Add(f.wait())
			}
		}
	}
	// Stopped (or the queue can no longer be read): what is held goes back to the queue at
	// once, for the next follower.
	if len(f.held) > 0 {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := f.cfg.Queue.Extend(rctx, 0, f.messages(nil)...); err != nil {
			f.log.Warn("could not hand the messages held back to the queue: they return when their visibility timeout ends", "error", err.Error())
		}
	}
	f.log.Info("stopped following", "messages_returned", len(f.held))
	return fatalErr
}

// maintain runs the table format's upkeep if it is due.
func (f *follower) maintain(ctx context.Context) {
	every := cmp.Or(f.cfg.MaintainEvery, DefaultMaintainEvery)
	if f.cfg.Maintain == nil || !f.maintained.IsZero() && time.Since(f.maintained) < every || ctx.Err() != nil {
		return
	}
	f.maintained = time.Now()
	if err := f.cfg.Maintain(ctx); err != nil && ctx.Err() == nil {
		f.log.Warn("table upkeep failed: tried again later", "error", err.Error())
	}
}

// fatal reports whether a receive error makes following impossible (the queue is gone or
// may not be read), rather than passing.
func fatal(err error) bool {
	for _, code := range []string{"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", "AccessDenied", "AccessDeniedException", "InvalidClientTokenId", "UnrecognizedClientException"} {
		if strings.Contains(err.Error(), code) {
			return true
		}
	}
	return false
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// take takes in received messages: what they announce is held for the next batch; a test
// event, a message announcing nothing of the source, and one that cannot be understood (kept
// raw first) are deleted at once.
func (f *follower) take(ctx context.Context, msgs []queue.Message) {
	var done []queue.Message
	for _, m := range msgs {
		f.stats.Received.Add(1)
		f.receives[m.ID]++
		n, err := notify.Parse(m.Body)
		if err != nil {
			f.stats.Unreadable.Add(1)
			key := MessagesDir + url.PathEscape(m.ID)
			if perr := f.cfg.Job.Dest.Put(ctx, key, bytes.NewReader(m.Body), int64(len(m.Body))); perr != nil {
				f.log.Error("message not understood, and could not be kept: left in the queue", "message_id", m.ID, "error", err.Error(), "keep_error", perr.Error())
				continue
			}
			f.log.Error("message not understood: kept and deleted", "message_id", m.ID, "kept", key, "error", err.Error())
			done = append(done, m)
			continue
		}
		if n.Test {
			f.stats.TestEvents.Add(1)
			done = append(done, m)
			continue
		}
		for range n.Skipped {
			f.stats.skip(SkipNotCreated)
		}
		h := &held{msg: m, receives: max(m.ReceiveCount, f.receives[m.ID]), deadline: time.Now().Add(f.visibility)}
		for _, o := range n.Objects {
			key, skip := f.relative(o.Bucket, o.Key)
			if skip != "" {
				f.stats.skip(skip)
				continue
			}
			if !slices.Contains(h.files, key) {
				h.files = append(h.files, key)
			}
		}
		if len(h.files) == 0 {
			done = append(done, m)
			continue
		}
		f.held[m.ID] = h // a message received again replaces its older receipt
	}
	f.delete(ctx, done)
}

// relative returns an announced object's key relative to the source, or why it is skipped.
func (f *follower) relative(bucket, key string) (string, string) {
	if bucket != f.cfg.Bucket {
		return "", SkipOtherBucket
	}
	if f.cfg.Prefix != "" {
		rest, ok := strings.CutPrefix(key, f.cfg.Prefix+"/")
		if !ok {
			return "", SkipOutside
		}
		key = rest
	}
	k, err := trail.ParseKey(key)
	switch {
	case err != nil:
		return "", SkipNotTrail
	case k.Kind == trail.KindDigest:
		return "", SkipDigest
	case k.Kind == trail.KindInsight:
		return "", SkipInsight
	case k.Kind != trail.KindLogs:
		return "", SkipNotTrail
	}
	// An object of a CloudTrail/ day folder that is not a log file is still an input of its
	// day, as a listing finds it (and does not read it): it is kept.
	if !f.cfg.Job.Selection.Includes(k.Folder) {
		return "", SkipNotSelected
	}
	return key, ""
}

// messages returns the held messages, all of them or those keep selects.
func (f *follower) messages(keep func(*held) bool) []queue.Message {
	var out []queue.Message
	for _, h := range f.held {
		if keep == nil || keep(h) {
			out = append(out, h.msg)
		}
	}
	return out
}

// extend keeps held messages invisible while they wait for their batch.
func (f *follower) extend(ctx context.Context) {
	soon := time.Now().Add(f.visibility / 2)
	msgs := f.messages(func(h *held) bool { return h.deadline.Before(soon) })
	if len(msgs) == 0 {
		return
	}
	if err := f.cfg.Queue.Extend(ctx, f.visibility, msgs...); err != nil {
		f.log.Warn("could not extend the visibility of messages being worked on: another receiver may get them too (which changes nothing in the tables)", "error", err.Error())
	}
	for _, m := range msgs {
		f.held[m.ID].deadline = time.Now().Add(f.visibility)
	}
}

// extendDuring keeps the held messages invisible while a batch runs, until the returned
// function is called.
func (f *follower) extendDuring(ctx context.Context) (stop func()) {
	msgs := f.messages(nil)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(f.visibility / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := f.cfg.Queue.Extend(ctx, f.visibility, msgs...); err != nil && ctx.Err() == nil {
					f.log.Warn("could not extend the visibility of messages being worked on: another receiver may get them too (which changes nothing in the tables)", "error", err.Error())
				}
			}
		}
	}()
	start := time.Now()
	return func() {
		cancel()
		<-done
		if time.Since(start) >= f.visibility/3 {
			for _, h := range f.held {
				h.deadline = time.Now().Add(f.visibility * 2 / 3)
			}
		}
	}
}

// delete deletes done messages.
func (f *follower) delete(ctx context.Context, msgs []queue.Message) {
	if len(msgs) == 0 {
		return
	}
	err := f.cfg.Queue.Delete(ctx, msgs...)
	failed := map[string]bool{}
	var be *queue.BatchError
	if errors.As(err, &be) {
		for _, fl := range be.Failed {
			failed[fl.ID] = true
		}
	} else if err != nil {
		f.log.Warn("could not delete messages: they come back, and change nothing in the tables", "error", err.Error())
		return
	}
	if err != nil {
		f.log.Warn("could not delete some messages: they come back, and change nothing in the tables", "error", err.Error())
	}
	now := time.Now()
	for _, m := range msgs {
		if failed[m.ID] {
			continue
		}
		f.stats.Deleted.Add(1)
		delete(f.receives, m.ID)
		if !m.SentAt.IsZero() {
			f.stats.mu.Lock()
			f.stats.lag = append(f.stats.lag, now.Sub(m.SentAt))
			f.stats.mu.Unlock()
		}
	}
}

// publish runs the batch: the delivery days of the held messages' log files (and the day
// after each day whose tail gained a file, when that day was published before), with the
// job of marketrail run listing each day from what is known of it. Then it deletes the
// messages whose log files all made it into a published day, gives up on those whose file
// could not be read MaxReceives times, and keeps the others for the next batch.
func (f *follower) publish(ctx context.Context) {
	// The batch is not cut short by a stop: it is given Grace to finish, so that a stop
	// does not leave a day half-published (which the next run would repair).
	bctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(f.cfg.Grace, cancel)
		<-bctx.Done()
		t.Stop()
	})
	defer stop()

	announced := map[trail.Day][]string{}
	dayOf := map[string]trail.Day{}
	for _, h := range f.held {
		for _, key := range h.files {
			if _, ok := dayOf[key]; ok {
				continue
			}
			k, _ := trail.ParseKey(key) // relative checked it
			dayOf[key] = k.Day
			announced[k.Day] = append(announced[k.Day], key)
		}
	}
	days := map[trail.Day]bool{}
	for d, keys := range announced {
		slices.Sort(keys)
		days[d] = true
		for _, key := range keys {
			if inTail(key, d) && !days[d.AddDays(1)] {
				// The day after drops the events CloudTrail delivers again from this
				// tail: it is written again too, if it was written at all.
				m, err := f.l.w.ReadManifest(bctx, d.AddDays(1))
				if err != nil {
					f.failed(fmt.Errorf("read the manifest of delivery day %s: %w", d.AddDays(1), err))
					return
				}
				if m != nil {
					days[d.AddDays(1)] = true
				}
				break
			}
		}
	}
	job := f.cfg.Job
	job.DayList = slices.SortedFunc(maps.Keys(days), func(a, b trail.Day) int { return strings.Compare(a.String(), b.String()) })
	f.l.batch(announced)
	start := time.Now()
	stopExtending := f.extendDuring(bctx)
	rep, err := pipeline.Run(bctx, job)
	stopExtending()
	f.took = time.Since(start)
	if err != nil && ctx.Err() != nil && bctx.Err() != nil {
		f.log.Warn("stopped while publishing, past --grace: the batch is abandoned unpublished; its messages go back to the queue", "error", err.Error())
		return
	}
	if err != nil {
		f.failed(err)
		return
	}
	f.stats.mu.Lock()
	f.stats.lastBatch = nil
	f.stats.mu.Unlock()
	f.stats.Batches.Add(1)
	f.stats.Events.Add(rep.Totals.RowsWritten["events"])

	// A log file is done once it is an input of a day published (or found unchanged) in this
	// batch; it failed if it was not found or could not be read.
	byDay := map[string]*report.Day{}
	for _, d := range rep.Days {
		byDay[d.DeliveryDay] = d
	}
	// Each announced file: done, held (its day was another run's: tried again, and not
	// counted as an attempt), or not published for a reason of its own (counted).
	const held = "its delivery day was held by another run"
	status := map[string]string{} // key → "" done, else why not
	for key, d := range dayOf {
		dr := byDay[d.String()]
		switch {
		case dr == nil || (dr.Action != report.ActionWritten && dr.Action != report.ActionUnchanged):
			status[key] = held
		case !f.l.wasFound(key):
			status[key] = "not found on the source"
		case slices.Contains(dr.Archived, key):
			status[key] = "archived: restore it"
		default:
			status[key] = ""
			for _, fl := range dr.Failures {
				if fl.Key == key && fl.Record == nil {
					status[key] = fl.Reason
				}
			}
		}
	}
	var done, retry []queue.Message
	published := map[string]bool{} // distinct files: one may be announced by several messages
	for id, h := range f.held {
		var why []string
		wasHeld := false
		for _, key := range h.files {
			switch s := status[key]; s {
			case "":
			case held:
				wasHeld = true
			default:
				why = append(why, key+": "+s)
			}
		}
		switch {
		case len(why) == 0 && !wasHeld:
			done = append(done, h.msg)
			for _, key := range h.files {
				published[key] = true
			}
			delete(f.held, id)
		case len(why) > 0 && h.receives >= f.cfg.MaxReceives:
			f.log.Error("log files of a message could not be published after several receives: the message is deleted; the nightly run reads their days again",
				"message_id", id, "receives", h.receives, "files", why)
			f.stats.GivenUp.Add(int64(len(why)))
			done = append(done, h.msg)
			delete(f.held, id)
		case len(why) > 0:
			f.log.Warn("log files of a message not published yet: tried again with the next batch", "message_id", id, "receives", h.receives, "files", why)
			h.receives++ // another attempt, as a receive would count it
			retry = append(retry, h.msg)
		default: // held by another run: tried again, as often as it takes
			retry = append(retry, h.msg)
		}
	}
	f.stats.Files.Add(int64(len(published)))
	f.delete(bctx, done)
	f.log.Info("batch published", "days", len(job.DayList), "messages_done", len(done), "messages_kept", len(retry),
		"events", rep.Totals.RowsWritten["events"], "elapsed_seconds", time.Since(start).Seconds())
}

// failed records a batch that failed: everything stays held, and is tried again.
func (f *follower) failed(err error) {
	f.stats.BatchErrors.Add(1)
	f.stats.mu.Lock()
	f.stats.lastBatch = err
	f.stats.mu.Unlock()
	f.log.Error("batch failed: its messages are kept and tried again at the next interval", "error", err.Error())
}
