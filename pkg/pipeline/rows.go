package pipeline

import (
	"cmp"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/marketrail/marketrail/pkg/lake"
	"github.com/marketrail/marketrail/pkg/marketplace"
	"github.com/marketrail/marketrail/pkg/trail"
)

// dayRows keeps a delivery day's events on disk from the moment their log file comes back
// until the day is published, so that a process's memory does not grow with a day's
// volume: a decoded event with its metering rows takes several KB of memory, its record's
// text about 2 KB of disk. The spill file (.marketrail-rows-* in $TMPDIR) holds the text
// of each kept record, as the worker read it; memory holds a small index of the events
// (spilledEvent, about 120 bytes each). Publishing deduplicates the index (the same rules
// as DropTail and Dedup), sorts it into the tables' order, and decodes each record again as
// its row is written: marketplace.Decode is deterministic, so the rows are the ones the
// worker decoded.
//
// A quiet day is spared the decoding again: the decoded events stay in memory as well
// (spilledEvent.ev) as long as their records' text is under inMemory bytes, four times
// that in decoded rows; the first file past it lets go of them all, and the day is written
// from the spill file.
type dayRows struct {
	f        *os.File // nil until the day's first event
	size     int64
	inMemory int64 // the records' text up to which decoded events are kept too; set by newDayRows
	held     bool  // decoded events are kept (spilledEvent.ev)
	files    []rowFile
	index    []spilledEvent
	// ops interns the unknown operations the index points at (operation).
	ops map[operation]*operation
	// parts are the index's partitions once sorted (sortForTables): each a range of it.
	parts []rowPartition
}

// dayRowsInMemory is dayRows.inMemory in a run: 4 MiB of records' text, some 2,000
// Marketplace events, about 16 MiB of decoded rows a day, for each of the few days in
// flight. The busiest days of most accounts stay under it.
const dayRowsInMemory = 4 << 20

// newDayRows returns an empty dayRows that keeps decoded events while its records' text is
// under inMemory bytes.
func newDayRows(inMemory int64) dayRows { return dayRows{inMemory: inMemory, held: true} }

// rowFile is a log file whose events are in a dayRows.
type rowFile struct {
	key    string
	digest *string // what --verify-digests found of the file (every row's source_digest); nil without
}

// operation is an event source and name, for the report's unknown operations.
type operation struct{ source, name string }

// spilledEvent is one event of a dayRows: what deduplicating, ordering and counting need,
// and where its record's text is in the spill file.
type spilledEvent struct {
	id          string // eventID, when hasID
	time        int64  // eventTime, Unix milliseconds (Decode truncates it to them)
	off         int64  // the record's text in the spill file: n bytes at off
	n           int32
	file        int32 // in dayRows.files
	record      int32 // the record's index in its log file (Event.RecordIndex)
	metering    int32 // the event's metering rows
	unparsed    int32 // Notes.UnparsedUsage
	hasID       bool
	invalidUTF8 bool               // Notes.InvalidUTF8
	op          *operation         // an unknown Marketplace operation to count, else nil
	ev          *marketplace.Event // the decoded event, while the day keeps them (dayRows.held)
}

// rowPartition is one partition of a sorted dayRows: index[start:end], and the metering
// rows of those events.
type rowPartition struct {
	date       trail.Day
	start, end int
	metering   int
	// meteringBefore[i] is how many metering rows the partition's events before
	// index[start+i] have: the event holding a file's first metering row is found by
	// binary search.
	meteringBefore []int
}

// add spills the events of one log file, f, read from key: their records' text goes to the
// spill file, and only their index stays in memory. countUnknown says whether to note the
// events of unknown Marketplace operations.
func (r *dayRows) add(key string, f *FileResult, countUnknown bool) error {
	if len(f.Events) == 0 {
		return nil
	}
	if len(f.rawEnd) != len(f.Events) {
		return fmt.Errorf("spill the events of %s: %d records' text for %d events", key, len(f.rawEnd), len(f.Events))
	}
	if r.f == nil {
		tmp, err := os.CreateTemp("", ".marketrail-rows-*")
		if err != nil {
			return fmt.Errorf("spill the events of %s: %w", key, err)
		}
		r.f = tmp
	}
	if _, err := r.f.Write(f.raw); err != nil {
		return fmt.Errorf("spill the events of %s: %w", key, err)
	}
	file := int32(len(r.files))
	r.files = append(r.files, rowFile{key: key, digest: f.Events[0].SourceDigest})
	start := 0
	for i := range f.Events {
		e := &f.Events[i]
		s := spilledEvent{
			time: e.EventTime.UnixMilli(), off: r.size + int64(start), n: int32(f.rawEnd[i] - start),
			file: file, record: int32(e.RecordIndex), metering: int32(len(e.Metering)),
			unparsed: int32(e.Notes.UnparsedUsage), invalidUTF8: e.Notes.InvalidUTF8,
		}
		if e.EventID != nil {
			s.id, s.hasID = strings.Clone(*e.EventID), true
		}
		if countUnknown && marketplace.IsMarketplaceSource(e.EventSource) && !marketplace.KnownOperation(e.EventSource, e.EventName) {
			s.op = r.intern(operation{e.EventSource, e.EventName})
		}
		r.index = append(r.index, s)
		start = f.rawEnd[i]
	}
	r.size += int64(len(f.raw))
	if r.held && r.size <= r.inMemory {
		for i := range f.Events {
			r.index[len(r.index)-len(f.Events)+i].ev = &f.Events[i]
		}
	} else if r.held {
		r.held = false
		for i := range r.index {
			r.index[i].ev = nil
		}
	}
	return nil
}

// intern returns the one *operation of the day equal to op.
func (r *dayRows) intern(op operation) *operation {
	if p := r.ops[op]; p != nil {
		return p
	}
	if r.ops == nil {
		r.ops = map[operation]*operation{}
	}
	p := &operation{strings.Clone(op.source), strings.Clone(op.name)}
	r.ops[op] = p
	return p
}

// events returns how many events the day has (before deduplication, or after dedup).
func (r *dayRows) events() int { return len(r.index) }

// eventID is what DropTail and Dedup compare of a spilled event.
func spilledID(e *spilledEvent) (string, bool) { return e.id, e.hasID }

// dedup drops, from the index, the events whose eventID is in tail (as DropTail does) and
// the later copies of each eventID (as Dedup does: the copy of the smallest source key,
// then the earliest record, survives). It returns how many it dropped for each reason.
func (r *dayRows) dedup(tail map[string]struct{}) (redelivered, duplicates int) {
	bySource := func(a, b *spilledEvent) int {
		if c := strings.Compare(r.files[a.file].key, r.files[b.file].key); c != 0 {
			return c
		}
		return cmp.Compare(a.record, b.record)
	}
	// The files in key order, each in record order: Dedup's order, so dropTail's kept
	// order is the one Dedup would see.
	slices.SortFunc(r.index, func(a, b spilledEvent) int { return bySource(&a, &b) })
	r.index, redelivered = dropTail(r.index, tail, spilledID)
	r.index, duplicates = dedup(r.index, spilledID, bySource)
	r.index = slices.Clip(r.index)
	return redelivered, duplicates
}

// sortForTables puts the index in the tables' order (by partition, then compareEvents'
// order: event time, source key, record; metering rows follow their events' order, then
// their position in the event, compareMetering's) and finds its partitions.
func (r *dayRows) sortForTables() {
	slices.SortFunc(r.index, func(a, b spilledEvent) int {
		if c := cmp.Compare(a.time, b.time); c != 0 { // the date is the time's
			return c
		}
		if c := strings.Compare(r.files[a.file].key, r.files[b.file].key); c != 0 {
			return c
		}
		return cmp.Compare(a.record, b.record)
	})
	r.parts = nil
	for i := range r.index {
		d := trail.DayOf(time.UnixMilli(r.index[i].time).UTC())
		if len(r.parts) == 0 || r.parts[len(r.parts)-1].date != d {
			r.parts = append(r.parts, rowPartition{date: d, start: i})
		}
		p := &r.parts[len(r.parts)-1]
		p.end = i + 1
		p.meteringBefore = append(p.meteringBefore, p.metering)
		p.metering += int(r.index[i].metering)
	}
}

// rowNotes is what the report says of a day's written events.
type rowNotes struct {
	metering           int   // metering rows
	repaired, unparsed int64 // report.Day's TextRepaired and UsageUnparsed
	unknown            map[string]map[string]int64
}

// notes counts, over the index, what the report says of the events written; call it after
// dedup.
func (r *dayRows) notes() rowNotes {
	var n rowNotes
	for i := range r.index {
		e := &r.index[i]
		n.metering += int(e.metering)
		if e.invalidUTF8 {
			n.repaired++
		}
		n.unparsed += int64(e.unparsed)
		if e.op != nil {
			if n.unknown == nil {
				n.unknown = map[string]map[string]int64{}
			}
			if n.unknown[e.op.source] == nil {
				n.unknown[e.op.source] = map[string]int64{}
			}
			n.unknown[e.op.source][e.op.name]++
		}
	}
	return n
}

// partition returns the partition of date d.
func (r *dayRows) partition(d trail.Day) (*rowPartition, error) {
	for i := range r.parts {
		if r.parts[i].date == d {
			return &r.parts[i], nil
		}
	}
	return nil, fmt.Errorf("no partition %s among the delivery day's events", d)
}

// read decodes the index's event i again from its record's text, into a row with its
// metering rows; buf is reused from call to call.
func (r *dayRows) read(i int, buf *[]byte) (marketplace.Event, error) {
	e := &r.index[i]
	if e.ev != nil {
		return *e.ev, nil // as the worker decoded it, with its digest state
	}
	file := &r.files[e.file]
	*buf = slices.Grow((*buf)[:0], int(e.n))[:e.n]
	if _, err := r.f.ReadAt(*buf, e.off); err != nil {
		return marketplace.Event{}, fmt.Errorf("read back record %d of %s from %s: %w", e.record, file.key, r.f.Name(), err)
	}
	ev, err := marketplace.Decode(*buf, file.key, int(e.record))
	if err != nil {
		return marketplace.Event{}, fmt.Errorf("decode record %d of %s again: %w", e.record, file.key, err)
	}
	if ev.EventTime.UnixMilli() != e.time || len(ev.Metering) != int(e.metering) {
		return marketplace.Event{}, fmt.Errorf("record %d of %s does not decode again as it did (spill file %s changed?)", e.record, file.key, r.f.Name())
	}
	ev.SourceDigest = file.digest
	for k := range ev.Metering {
		ev.Metering[k].SourceDigest = file.digest
	}
	return ev, nil
}

// tables returns the day's two tables, streamed from the spill file in the sorted index's
// order (call sortForTables first). The spill file must stay until they are written.
func (r *dayRows) tables() (events, metering lake.Table) {
	evParts := make([]lake.Partition, len(r.parts))
	mParts := make([]lake.Partition, len(r.parts))
	for i, p := range r.parts {
		evParts[i] = lake.Partition{Date: p.date, Rows: p.end - p.start}
		mParts[i] = lake.Partition{Date: p.date, Rows: p.metering}
	}
	events = lake.NewStreamTable(marketplace.TableEvents, evParts, func(d trail.Day, from, to int, emit func(*marketplace.Event) error) error {
		p, err := r.partition(d)
		if err != nil {
			return err
		}
		var buf []byte
		for i := p.start + from; i < p.start+to; i++ {
			ev, err := r.read(i, &buf)
			if err != nil {
				return err
			}
			if err := emit(&ev); err != nil {
				return err
			}
		}
		return nil
	}, "event_time")
	metering = lake.NewStreamTable(marketplace.TableMetering, mParts, func(d trail.Day, from, to int, emit func(*marketplace.MeteringRecord) error) error {
		p, err := r.partition(d)
		if err != nil {
			return err
		}
		// The first event holding a row at or after the partition's metering row `from`.
		k := sort.Search(p.end-p.start, func(k int) bool { return p.meteringBefore[k]+int(r.index[p.start+k].metering) > from })
		var buf []byte
		if k == p.end-p.start {
			return nil
		}
		at := p.meteringBefore[k]
		for i := p.start + k; i < p.end && at < to; i++ {
			n := int(r.index[i].metering)
			if n == 0 || at+n <= from {
				at += n
				continue
			}
			ev, err := r.read(i, &buf)
			if err != nil {
				return err
			}
			for j := range ev.Metering {
				if at+j >= from && at+j < to {
					if err := emit(&ev.Metering[j]); err != nil {
						return err
					}
				}
			}
			at += n
		}
		return nil
	}, "event_time")
	return events, metering
}

// remove deletes the spill file, if there is one, and forgets the index.
func (r *dayRows) remove() {
	if r.f != nil {
		r.f.Close()
		os.Remove(r.f.Name())
		r.f = nil
	}
	r.index, r.files, r.parts = nil, nil, nil
}
