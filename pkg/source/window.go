package source

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"strings"
	"sync"

	"github.com/marketrail/marketrail/pkg/storage"
	"github.com/marketrail/marketrail/pkg/trail"
)

// Window lists the delivery days of a run, each trail folder's consecutive days with one
// listing: it starts just before the first day's folder (S3's StartAfter, through
// storage.ListerAfter) and stops at the first key past the last day. A run of k consecutive
// days then costs a folder the pages its keys in those days fill (1,000 keys a page: one
// request for a quiet folder's whole month), where listing day folder by day folder costs at
// least k; a short window late in a busy month pages through the window's days only.
// (Listing one chain can cost one request more than listing its days one by one only when
// every day folder holds an exact multiple of 1,000 keys: the listing must see the key after
// the last day's to know the day is over.) A gap in the days starts another chain, so a
// sharded run's scattered days never page through the days between them. A source that is
// not a ListerAfter is listed day folder by day folder, as ListDay does.
//
// Days are served in ascending order by Day, each day's objects as its listing pages arrive.
// While one day is served, the next day of the plan is listed ahead into memory (at most one
// day's listing is held beyond the one being served), so the next day's objects are ready
// when it is asked for. A Window's goroutines end with Close.
type Window struct {
	store       storage.Storage
	lister      storage.ListerAfter // nil: a listing per day folder
	folders     []trail.Folder
	concurrency int
	days        []trail.Day // planned, ascending, each once
	index       map[trail.Day]int
	chain       []int // chain[i]: the index of the first day of day i's chain

	ctx    context.Context
	cancel context.CancelFunc
	sem    chan struct{} // listings at once
	wg     sync.WaitGroup

	mu      sync.Mutex
	bufs    []*dayBuf
	limit   int           // days of index ≤ limit may be listed
	raised  chan struct{} // closed (and replaced) when limit rises
	latest  int           // the index of the latest day asked for; -1 before any
	closing bool
}

// windowKeep is how many planned days before the latest one asked for a Window keeps
// listing for, in case they are asked for yet: days are asked for by goroutines of their
// own, which need not come in order. An older day not asked for is passed over.
const windowKeep = 4

// dayBuf gathers one planned day's objects from every folder's listing.
type dayBuf struct {
	objs    []Object
	pending int   // folders still listing the day
	err     error // the first listing error
	changed chan struct{}
	asked   bool // Day has been called for it
	drop    bool // passed over: objects are not kept
}

// NewWindow plans the listing of days (in any order; duplicates count once) in folders,
// with up to concurrency listings at once, and starts listing the first day. Close it when
// done.
func NewWindow(ctx context.Context, store storage.Storage, folders []trail.Folder, days []trail.Day, concurrency int) *Window {
	days = slices.Clone(days)
	slices.SortFunc(days, func(a, b trail.Day) int { return strings.Compare(a.Path(), b.Path()) })
	days = slices.Compact(days)
	w := &Window{
		store: store, folders: folders, concurrency: max(concurrency, 1), days: days,
		index: make(map[trail.Day]int, len(days)), chain: make([]int, len(days)),
		sem: make(chan struct{}, max(concurrency, 1)), raised: make(chan struct{}), latest: -1,
	}
	if l, ok := storage.AsListerAfter(store); ok {
		w.lister = l
	}
	for i, d := range days {
		w.index[d] = i
		w.chain[i] = i
		if i > 0 && days[i-1].AddDays(1) == d {
			w.chain[i] = w.chain[i-1]
		}
	}
	w.bufs = make([]*dayBuf, len(days))
	for i := range w.bufs {
		w.bufs[i] = &dayBuf{pending: len(folders), changed: make(chan struct{})}
	}
	w.ctx, w.cancel = context.WithCancel(ctx)
	for _, f := range folders {
		w.wg.Add(1)
		go w.listFolder(f)
	}
	return w
}

// Close stops the listings and waits for them to end.
func (w *Window) Close() {
	w.mu.Lock()
	w.closing = true
	w.mu.Unlock()
	w.cancel()
	w.wg.Wait()
}

// Day calls fn with every object of delivery day d in every folder, as listing pages
// arrive, from the calling goroutine; it returns when the day is listed in every folder.
// Days may be asked for from several goroutines at once, best in ascending order: planned
// days more than a few (windowKeep) before the latest asked for are passed over. A day that
// was not planned, is asked for again, or was passed over is listed afresh (ListDay).
func (w *Window) Day(ctx context.Context, d trail.Day, fn func(Object) error) error {
	w.mu.Lock()
	i, ok := w.index[d]
	if !ok || w.bufs[i].asked || w.bufs[i].drop || w.closing {
		w.mu.Unlock()
		return ListDay(ctx, w.store, w.folders, d, w.concurrency, fn)
	}
	w.bufs[i].asked = true
	if i > w.latest {
		w.latest = i
		for k := range i - windowKeep {
			if b := w.bufs[k]; !b.asked && !b.drop {
				b.drop, b.objs = true, nil
			}
		}
	}
	if w.limit < i+1 { // list the next day ahead while this one is served
		w.limit = i + 1
		close(w.raised)
		w.raised = make(chan struct{})
	}
	b := w.bufs[i]
	w.mu.Unlock()

	for at := 0; ; {
		w.mu.Lock()
		objs, pending, err, changed := b.objs[at:], b.pending, b.err, b.changed
		at = len(b.objs)
		w.mu.Unlock()
		for _, o := range objs {
			if err := fn(o); err != nil {
				return err
			}
		}
		switch {
		case err != nil:
			return fmt.Errorf("list delivery day %s: %w", d, err)
		case pending == 0 && len(objs) == 0:
			w.mu.Lock()
			b.objs = nil // served: let go of the listing
			w.mu.Unlock()
			return nil
		case len(objs) > 0:
			continue // more may have come meanwhile
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// listFolder lists folder f's planned days in order, each once the Window allows it.
func (w *Window) listFolder(f trail.Folder) {
	defer w.wg.Done()
	var c cursor
	defer c.close()
	for i, d := range w.days {
		if !w.wait(i) {
			w.done(i, w.ctx.Err())
			continue
		}
		err := w.listDay(&c, f, i, d)
		if err != nil {
			for k := i; k < len(w.days); k++ { // a broken listing serves no later day
				w.done(k, err)
			}
			return
		}
		w.done(i, nil)
	}
}

// wait blocks until day i may be listed; false if the Window is closed first.
func (w *Window) wait(i int) bool {
	for {
		w.mu.Lock()
		ok, raised := i <= w.limit, w.raised
		w.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-raised:
		case <-w.ctx.Done():
			return false
		}
	}
}

// listDay lists day i (d) of folder f, holding one of the Window's listing slots.
func (w *Window) listDay(c *cursor, f trail.Folder, i int, d trail.Day) error {
	select {
	case w.sem <- struct{}{}:
	case <-w.ctx.Done():
		return w.ctx.Err()
	}
	defer func() { <-w.sem }()
	dayPrefix := f.DayPrefix(d)
	if w.lister == nil {
		for e, err := range w.store.List(w.ctx, dayPrefix, false) {
			if err != nil {
				return err
			}
			w.add(i, f, d, e)
		}
		return nil
	}
	if !c.started || c.chain != w.chain[i] {
		// The first day of a chain: list from just before its folder ("…/2024/03/01"
		// sorts before "…/2024/03/01/…" and after every key of earlier days).
		c.close()
		first := w.days[w.chain[i]]
		c.chain, c.started = w.chain[i], true
		c.next, c.stop = iter.Pull2(w.lister.ListAfter(w.ctx, f.Base(), f.Base()+first.Path()))
	}
	if c.next == nil {
		return nil // the folder's listing ended on an earlier day of the chain
	}
	for {
		var e storage.Entry
		if c.ahead != nil {
			e, c.ahead = *c.ahead, nil
		} else {
			var err error
			var ok bool
			e, err, ok = c.next()
			if !ok {
				c.close() // the folder holds nothing after this
				return nil
			}
			if err != nil {
				return err
			}
		}
		switch {
		case strings.HasPrefix(e.Key, dayPrefix):
			w.add(i, f, d, e)
		case e.Key < dayPrefix:
			// Not in a day folder of the chain (a stray key between day folders).
		default:
			// Past the day: the next day's, or past the chain.
			c.ahead = &e
			return nil
		}
	}
}

// cursor is a folder's listing in progress: a chain of consecutive days.
type cursor struct {
	started bool
	chain   int                                 // the chain being listed (the index of its first day)
	next    func() (storage.Entry, error, bool) // nil once the listing has ended
	stop    func()
	ahead   *storage.Entry // the first key past the day last listed
}

func (c *cursor) close() {
	if c.stop != nil {
		c.stop()
	}
	c.next, c.stop, c.ahead = nil, nil, nil
}

// add puts one listed entry of folder f into day i's objects, classified as ListDay does.
func (w *Window) add(i int, f trail.Folder, d trail.Day, e storage.Entry) {
	o := object(e, f, d)
	w.mu.Lock()
	defer w.mu.Unlock()
	b := w.bufs[i]
	if b.drop {
		return
	}
	b.objs = append(b.objs, o)
	close(b.changed)
	b.changed = make(chan struct{})
}

// done ends one folder's listing of day i, with the listing's error if it failed.
func (w *Window) done(i int, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	b := w.bufs[i]
	b.pending--
	if err != nil && b.err == nil {
		b.err = err
	}
	close(b.changed)
	b.changed = make(chan struct{})
}
