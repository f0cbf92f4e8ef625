package follow

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/marketrail/marketrail/pkg/lake"
	"github.com/marketrail/marketrail/pkg/source"
	"github.com/marketrail/marketrail/pkg/storage"
	"github.com/marketrail/marketrail/pkg/trail"
)

// lister lists a delivery day for the job a batch runs (pipeline.Config.List) from what is
// known of it: the inputs its manifest records, and the log files announced since. Only a
// day without a manifest follow can trust is listed from the source, as run lists it.
type lister struct {
	src       storage.Storage
	w         *lake.Writer
	settings  lake.Settings // the job's: a manifest written with others is not trusted
	selection source.Selection
	listings  int

	mu        sync.Mutex
	announced map[trail.Day][]string // the batch's announced log files, by delivery day
	found     map[string]bool        // of them, those found on the source (listed)
	folders   []trail.Folder         // discovered once, for the days listed from the source
	cache     map[trail.Day]cached   // days listed from the source, kept a while
}

// cached is a day listed from the source.
type cached struct {
	objs []source.Object
	at   time.Time
}

// cacheFor is how long a day listed from the source (one without a manifest to trust: at
// follow's start, the day before the first day it publishes) is listed from memory: a batch
// every interval needs that day's tail, and listing a large trail's day is costly.
const cacheFor = time.Hour

// batch sets the log files announced for the next batch, by delivery day.
func (l *lister) batch(announced map[trail.Day][]string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.announced, l.found = announced, map[string]bool{}
}

// wasFound reports whether announced log file key was on the source when its day was
// listed in this batch.
func (l *lister) wasFound(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.found[key]
}

// trusted returns m if follow can list its day from it: a complete or partial manifest
// written with the job's settings. A day being published (or abandoned while it was), or
// written with other settings, is listed from the source.
func (l *lister) trusted(m *lake.Manifest) *lake.Manifest {
	if m == nil || (m.State != lake.StateComplete && m.State != lake.StatePartial) || m.Settings == nil || !m.Settings.Equal(l.settings) {
		return nil
	}
	return m
}

// list is the pipeline.DayLister: day d's objects, sorted by key.
func (l *lister) list(ctx context.Context, d trail.Day, fn func(source.Object) error) error {
	m, err := l.w.ReadManifest(ctx, d)
	if err != nil {
		return err
	}
	var objs []source.Object
	if m = l.trusted(m); m != nil {
		for _, in := range m.Inputs {
			o, err := classify(storage.Entry{Key: in.Key, Size: in.Size, ETag: in.ETag}, d)
			if err != nil {
				return fmt.Errorf("manifest of delivery day %s: %w", d, err)
			}
			if o.Skip == "" && !m.MayMatch(in.Key) {
				o.Skip = source.SkipNoMatch
			}
			objs = append(objs, o)
		}
	} else if objs, err = l.fromSource(ctx, d); err != nil {
		return err
	}
	l.mu.Lock()
	keys := slices.Clone(l.announced[d])
	l.mu.Unlock()
	for _, key := range keys {
		e, ok, err := stat(ctx, l.src, key)
		if err != nil {
			return err
		}
		if !ok {
			continue // gone: not found, and retried with its message
		}
		o, err := classify(e, d)
		if err != nil {
			return err
		}
		i, found := slices.BinarySearchFunc(objs, key, func(o source.Object, k string) int { return strings.Compare(o.Key, k) })
		if found {
			objs[i] = o
		} else {
			objs = slices.Insert(objs, i, o)
		}
		l.mu.Lock()
		l.found[key] = true
		l.mu.Unlock()
	}
	for _, o := range objs {
		if err := fn(o); err != nil {
			return err
		}
	}
	return nil
}

// fromSource lists day d from the source, as run does (discovering its trail folders the
// first time), sorted by key; a day listed so within cacheFor comes from memory.
func (l *lister) fromSource(ctx context.Context, d trail.Day) ([]source.Object, error) {
	l.mu.Lock()
	c, ok := l.cache[d]
	folders := l.folders
	l.mu.Unlock()
	if ok && time.Since(c.at) < cacheFor {
		return slices.Clone(c.objs), nil
	}
	if folders == nil {
		var err error
		if folders, err = source.Discover(ctx, l.src, l.selection, l.listings); err != nil {
			return nil, fmt.Errorf("discover trail folders in %s: %w", l.src, err)
		}
	}
	var objs []source.Object
	err := source.ListDay(ctx, l.src, folders, d, l.listings, func(o source.Object) error {
		objs = append(objs, o)
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(objs, func(a, b source.Object) int { return strings.Compare(a.Key, b.Key) })
	l.mu.Lock()
	defer l.mu.Unlock()
	l.folders = folders
	if l.cache == nil {
		l.cache = map[trail.Day]cached{}
	}
	for day, c := range l.cache { // only the last few days are ever asked for again
		if time.Since(c.at) >= cacheFor {
			delete(l.cache, day)
		}
	}
	l.cache[d] = cached{objs: slices.Clone(objs), at: time.Now()}
	return objs, nil
}

// classify makes entry e, an object of delivery day d's folders, a source.Object as a
// listing of the day gives it.
func classify(e storage.Entry, d trail.Day) (source.Object, error) {
	k, err := trail.ParseKey(e.Key)
	if err != nil {
		return source.Object{}, err
	}
	if k.Day != d || k.Kind != trail.KindLogs {
		return source.Object{}, fmt.Errorf("%s is not in a CloudTrail/ folder of delivery day %s", e.Key, d)
	}
	return source.Classify(e, k.Folder, d), nil
}

// stat finds key on the source as a listing gives it (size, ETag, storage class), with a
// listing of the key itself: the manifest then records the same as a nightly run's listing.
func stat(ctx context.Context, src storage.Storage, key string) (storage.Entry, bool, error) {
	// The key itself sorts first among the keys it begins.
	for e, err := range src.List(ctx, key, false) {
		if err != nil {
			return storage.Entry{}, false, fmt.Errorf("find %s: %w", key, err)
		}
		return e, e.Key == key, nil
	}
	return storage.Entry{}, false, nil
}

// inTail reports whether log file key of delivery day d is in the day's tail: the next
// day's events that it holds again are dropped there.
func inTail(key string, d trail.Day) bool { return trail.InTail(path.Base(key), d) }
