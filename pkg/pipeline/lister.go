package pipeline

import (
	"context"
	"errors"
	"path"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/marketrail/marketrail/pkg/lake"
	"github.com/marketrail/marketrail/pkg/report"
	"github.com/marketrail/marketrail/pkg/source"
	"github.com/marketrail/marketrail/pkg/trail"
)

// listFunc lists one delivery day of the source, calling fn with each object as its page
// arrives, from one goroutine at a time. Every listing of a day goes through the lister's
// list (a source.Window's, which may have listed the day before its lease was taken) or,
// for a day another run held, fresh.
type listFunc func(ctx context.Context, d trail.Day, fn func(source.Object) error) error

// dayLink is what one delivery day's lister tells the next day's: whether the day is read
// in this run (so the next day shares its tail), and its listing (the next day's tail
// inputs). Each part is published once, by closing its channel; a lister that fails closes
// both, with ok false.
type dayLink struct {
	day     trail.Day
	decided chan struct{} // closed once read is set and the day's begin (or end) is sent
	read    bool          // the day's log files are read (or, in a dry run, planned) in this run
	listed  chan struct{} // closed once objs is set
	objs    []source.Object
	ok      bool // objs is the day's whole listing, sorted by key
	// slotted is closed once the day has its slot (or will never take one): the next day
	// in the run takes its own only then, so slots go to days in their order.
	slotted   chan struct{}
	decideOne sync.Once
	listOne   sync.Once
	slotOne   sync.Once
}

func newDayLink(d trail.Day) *dayLink {
	return &dayLink{day: d, decided: make(chan struct{}), listed: make(chan struct{}), slotted: make(chan struct{})}
}

func (l *dayLink) decide(read bool) {
	l.decideOne.Do(func() { l.read = read; close(l.decided) })
}

func (l *dayLink) finish(objs []source.Object, ok bool) {
	l.listOne.Do(func() { l.objs, l.ok = objs, ok; close(l.listed) })
}

// slot waits for day cur's slot, after the day before it in the run (after, nil for the
// first) has taken its own.
func (l *lister) slot(ctx context.Context, cur, after *dayLink) error {
	if after != nil {
		if err := wait(ctx, after.slotted); err != nil {
			return err
		}
	}
	select {
	case l.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	cur.slotOne.Do(func() { <-l.ahead; close(cur.slotted) })
	return nil
}

// wait waits for ch to close, or ctx to end.
func wait(ctx context.Context, ch <-chan struct{}) error {
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// lister lists the delivery days of a run and turns them into the collector's messages and
// the fetchers' jobs.
type lister struct {
	cfg   *Config
	w     *lake.Writer
	ls    *lake.Leaser // nil with --no-lease or in a dry run
	list  listFunc
	fresh listFunc // lists the day now: after another run held it (lake.Lease.Contended)
	send  func(message) error
	// slots are the days between their first message to the collector and their end
	// (Config.DaysInFlight), released by the collector; ahead are the days whose lister
	// has started and has no slot yet, released when it takes one.
	slots, ahead chan struct{}
	jobs         chan<- job
	empty        *emptyDays
	folders      int // how many trail folders the listings cover, for the log
}

// listAll lists a day whole, sorted by key, with list.
func (l *lister) listAll(ctx context.Context, list listFunc, d trail.Day) ([]source.Object, error) {
	var objs []source.Object
	err := list(ctx, d, func(o source.Object) error {
		objs = append(objs, o)
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(objs, func(a, b source.Object) int { return strings.Compare(a.Key, b.Key) })
	return objs, nil
}

// enqueue hands a job to the fetchers.
func (l *lister) enqueue(ctx context.Context, j job) error {
	select {
	case l.jobs <- j:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// isLogFile reports whether o is a log file of its day, read or not.
func isLogFile(o source.Object) bool {
	return o.Skip == "" || o.Skip == source.SkipArchived || o.Skip == source.SkipNoMatch
}

// inTail reports whether o, listed in its day's folder, is a log file of that day's tail.
func inTail(o source.Object) bool {
	return isLogFile(o) && trail.InTail(path.Base(o.Key), o.Day)
}

// day lists delivery day d, and the tail of the day before it (from prev, the day before's
// link when that day is in this run, else from the source), and tells the collector what to
// do with d: nothing, when its manifest says it is complete and made from the same sources
// (unless forced); only count, in a dry run; else read its log files, and those of the day
// before's tail that this run does not read anyway. next says whether the day after d
// follows it in this run, to share d's tail. cur is d's link, for the next day.
//
// With leases, d's lease is taken first, before its listing: a run that waited for another
// to write the day lists what is there after it. A day still held after the wait is
// reported held. The lease goes with the day's plan to publish, which releases it; a day
// not read releases it at once.
//
// A day with a manifest must be listed whole before it is compared with the manifest; a day
// without one (or forced) is read as its listing pages arrive: its begin message goes first,
// then its objects as they are listed, then a listed message with the plan's counts, after
// which (and all its results) the collector may publish it.
func (l *lister) day(ctx context.Context, d trail.Day, prev, cur, after *dayLink, next bool) (err error) {
	cfg := l.cfg
	defer func() { // the next day never waits for a lister that failed
		cur.decide(false)
		cur.finish(nil, false)
		cur.slotOne.Do(func() { <-l.ahead; close(cur.slotted) })
	}()
	var lease *lake.Lease
	if l.ls != nil {
		lease, err = l.ls.Acquire(ctx, d)
		var held *lake.HeldError
		if errors.As(err, &held) {
			cfg.Logger.Warn("delivery day held by another run throughout the wait: not done; it runs next time (exit status 3)",
				"delivery_day", d.String(), "holder", held.Holder, "waited_seconds", held.Waited.Seconds())
			if err := l.slot(ctx, cur, after); err != nil {
				return err
			}
			cur.decide(false)
			return l.send(message{day: d, end: report.ActionHeld, reason: lake.ReasonHeld, holder: held.Holder})
		}
		if err != nil {
			return err
		}
	}
	keep := false
	defer func() {
		if !keep {
			lease.Release(context.WithoutCancel(ctx))
		}
	}()
	var m *lake.Manifest
	if !cfg.Force {
		if lease != nil {
			var etag string
			m, etag, err = l.w.ReadManifestVersion(ctx, d)
			lease.SawManifest(etag)
		} else {
			m, err = l.w.ReadManifest(ctx, d)
		}
		if err != nil {
			return err
		}
	}
	if err := l.slot(ctx, cur, after); err != nil {
		return err
	}
	if m == nil || m.State != lake.StateComplete { // nothing to compare the listing with
		keep = true // publish releases it, or, if the run fails first, the run's end
		reason := lake.ReasonForced
		if !cfg.Force {
			reason = m.Stale(&lake.Sources{})
		}
		return l.stream(ctx, d, prev, cur, next, lease, reason)
	}

	// A listing made before the lease was taken may be older than what another run wrote
	// meanwhile: list again, now, when another run held the day or the manifest names an
	// object the listing does not have.
	list := l.list
	if lease.Contended() {
		list = l.fresh
	}
	objs, err := l.listAll(ctx, list, d)
	if err == nil && lacks(objs, m.Inputs) && !lease.Contended() {
		objs, err = l.listAll(ctx, l.fresh, d)
	}
	if err != nil {
		return err
	}
	l.checkEmpty(d, objs)
	shared, before, err := l.before(ctx, d, prev)
	if err != nil {
		return err
	}
	plan := &dayPlan{tailShared: shared, nextShares: next, lease: lease}
	counts := planCounts(cfg, objs, before, shared)
	if plan.reason = m.Stale(&counts.sources); plan.reason == lake.ReasonUnchanged {
		missing, err := l.w.Intact(ctx, m)
		if err != nil {
			return err
		}
		if missing == "" {
			cfg.Logger.Info("delivery day unchanged since it was written: skipped (--force runs it again)", "delivery_day", d.String())
			cur.finish(objs, true)
			err := l.send(message{day: d, end: report.ActionUnchanged, reason: plan.reason})
			cur.decide(false)
			return err
		}
		cfg.Logger.Warn("a file the delivery day wrote is gone or has changed on the destination: the day is written again", "delivery_day", d.String(), "file", missing)
		plan.reason = lake.ReasonOutputsChanged
	}
	cur.finish(objs, true)
	if err := l.send(message{day: d, begin: plan}); err != nil {
		return err
	}
	keep = true
	cur.decide(true)
	if cfg.audit != nil {
		cfg.audit.DayRead(d)
	}
	for _, o := range objs {
		if err := l.object(ctx, d, o); err != nil {
			return err
		}
	}
	for _, o := range counts.tailJobs {
		if cfg.DryRun {
			break
		}
		if err := l.enqueue(ctx, job{day: d, obj: o, tail: true}); err != nil {
			return err
		}
	}
	return l.listed(d, counts)
}

// stream is day for a day read without comparing it with a manifest: its objects go to the
// collector and the fetchers as the listing pages arrive, while the day before's tail is
// found beside it.
func (l *lister) stream(ctx context.Context, d trail.Day, prev, cur *dayLink, next bool, lease *lake.Lease, reason string) error {
	cfg := l.cfg
	shared := false
	if prev != nil {
		if err := wait(ctx, prev.decided); err != nil {
			return err
		}
		shared = prev.read
	}
	plan := &dayPlan{tailShared: shared, nextShares: next, lease: lease, reason: reason}
	if err := l.send(message{day: d, begin: plan}); err != nil {
		return err
	}
	cur.decide(true)
	if cfg.audit != nil {
		cfg.audit.DayRead(d)
	}
	g, gctx := errgroup.WithContext(ctx)
	var before []source.Object
	g.Go(func() error { // the day before's tail, beside the day's own listing
		var err error
		if _, before, err = l.before(gctx, d, prev); err != nil {
			return err
		}
		if shared || cfg.DryRun {
			return nil
		}
		for _, o := range before {
			if inTail(o) && o.Skip == "" { // not archived, and may hold eventIDs
				if err := l.enqueue(gctx, job{day: d, obj: o, tail: true}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	var objs []source.Object
	list := l.list
	if lease.Contended() {
		list = l.fresh
	}
	g.Go(func() error {
		return list(gctx, d, func(o source.Object) error {
			objs = append(objs, o)
			return l.object(gctx, d, o)
		})
	})
	if err := g.Wait(); err != nil {
		return err
	}
	slices.SortFunc(objs, func(a, b source.Object) int { return strings.Compare(a.Key, b.Key) })
	cur.finish(objs, true)
	l.checkEmpty(d, objs)
	return l.listed(d, planCounts(cfg, objs, before, shared))
}

// object tells the collector of a listed object that is not read, or hands a log file to
// the fetchers (not in a dry run).
func (l *lister) object(ctx context.Context, d trail.Day, o source.Object) error {
	if o.Skip != "" {
		return l.send(message{day: d, skipped: o.Skip, key: o.Key})
	}
	if l.cfg.DryRun {
		return nil
	}
	return l.enqueue(ctx, job{day: d, obj: o})
}

// listed tells the collector that day d is listed, with its counts; in a dry run, that is
// the day's end.
func (l *lister) listed(d trail.Day, c *listCounts) error {
	if err := l.send(message{day: d, listed: c}); err != nil {
		return err
	}
	if l.cfg.DryRun {
		return l.send(message{day: d, end: report.ActionPlanned})
	}
	return nil
}

// before returns whether day d shares the tail of the day before (read by that day's own
// jobs in this run) and the day before's listing: prev's when prev listed it, else its own.
func (l *lister) before(ctx context.Context, d trail.Day, prev *dayLink) (bool, []source.Object, error) {
	if prev != nil {
		if err := wait(ctx, prev.decided); err != nil {
			return false, nil, err
		}
		if err := wait(ctx, prev.listed); err != nil {
			return false, nil, err
		}
		if prev.ok {
			return prev.read, prev.objs, nil
		}
	}
	objs, err := l.listAll(ctx, l.list, d.AddDays(-1))
	return false, objs, err
}

// checkEmpty warns of a delivery day with no log file in any trail folder.
func (l *lister) checkEmpty(d trail.Day, objs []source.Object) {
	for _, o := range objs {
		if isLogFile(o) {
			return
		}
	}
	l.cfg.Logger.Warn("no log file in any trail folder of the delivery day", "delivery_day", d.String(), "folders", l.folders)
	l.empty.add(d)
}

// listCounts is what a day's whole listing says, for the collector: its sources (for the
// manifest) and how many results to wait for.
type listCounts struct {
	sources lake.Sources
	files   int   // log files to read
	bytes   int64 // their size
	ownTail int   // of them, in the day's own tail
	// The day before's tail read by this day's own tail jobs (when not shared), and its log
	// files that cannot be read (archived).
	tailReads  int
	tailBytes  int64
	tailUnread []string
	tailJobs   []source.Object
}

// planCounts counts a day's listing objs, sorted by key, and the day before's, before.
func planCounts(cfg *Config, objs, before []source.Object, shared bool) *listCounts {
	c := &listCounts{}
	c.sources.Settings = cfg.settings
	c.sources.Inputs = make([]lake.Input, len(objs))
	for i, o := range objs {
		c.sources.Inputs[i] = lake.Input{Key: o.Key, Size: o.Size, ETag: o.ETag}
		if o.Skip == "" {
			c.files++
			c.bytes += o.Size
			if inTail(o) {
				c.ownTail++
			}
		}
	}
	c.sources.Tail = []lake.Input{}
	for _, o := range before {
		if !inTail(o) {
			continue
		}
		c.sources.Tail = append(c.sources.Tail, lake.Input{Key: o.Key, Size: o.Size, ETag: o.ETag})
		switch {
		case o.Skip == source.SkipNoMatch: // no eventID to drop
		case o.Skip != "": // archived
			if !shared { // else the day before's own reads report it
				c.tailUnread = append(c.tailUnread, o.Key)
			}
		case !shared:
			c.tailJobs = append(c.tailJobs, o)
			c.tailReads++
			c.tailBytes += o.Size
		}
	}
	return c
}

// lacks reports whether a manifest's inputs name an object that listing objs, sorted by
// key, does not hold.
func lacks(objs []source.Object, inputs []lake.Input) bool {
	for _, in := range inputs {
		if _, found := slices.BinarySearchFunc(objs, in.Key, func(o source.Object, k string) int { return strings.Compare(o.Key, k) }); !found {
			return true
		}
	}
	return false
}
