package extract

import (
	"context"
	"runtime"

	"golang.org/x/sync/semaphore"
)

// LargeRecordSize is the buffer size beyond which a Scanner with a [Budget] borrows from it:
// a record that does not fit in a buffer of this size is a large record. CloudTrail events
// are at most a few hundred KiB, so real records never reach it; only broken or hostile
// files do.
const LargeRecordSize = keepBufferSize

// LargeRecordCharge is what a Scanner borrows from its [Budget] for its large records, for a
// maximum record size of maxSize: three times that size, for the buffer holding the record,
// the buffer it grew from (both alive while the record is copied over), and one decoded copy
// of the record (a row's payload, or a line with its line breaks escaped). It is charged
// once per large record, whatever the record's size, so that a Scanner never waits for the
// budget while it holds some of it: no two Scanners can each hold part of the budget and
// wait for the other's.
func LargeRecordCharge(maxSize int) int64 { return 3 * int64(maxSize) }

// Budget is the memory that the Scanners of a process may hold at once for large records
// (over [LargeRecordSize]), shared by all of them so that a hostile file costs the same
// whether one worker meets it or every worker at once: a large record waits until the
// budget has room for it. Small records never touch it. A Budget is safe for concurrent use.
//
// A charge larger than the whole budget is cut to the budget's size, so a single record
// always proceeds, alone.
type Budget struct {
	sem  *semaphore.Weighted
	size int64
}

// NewBudget returns a Budget of size bytes (at least 1).
func NewBudget(size int64) *Budget {
	size = max(size, 1)
	return &Budget{sem: semaphore.NewWeighted(size), size: size}
}

// Size returns the budget's size in bytes.
func (b *Budget) Size() int64 { return b.size }

// Acquire waits until n bytes of the budget are free (all of it if n is larger) and takes
// them. It fails only when ctx ends first, taking nothing then.
func (b *Budget) Acquire(ctx context.Context, n int64) error {
	return b.sem.Acquire(ctx, min(n, b.size))
}

// Release gives back n bytes taken by Acquire (the same n). The memory of a large record
// is garbage once the record is done with; Release collects it before a waiting record
// allocates its own, or the heap would grow to hold both (the Go runtime lets the heap grow
// to twice what was live at the last collection before it collects again).
func (b *Budget) Release(n int64) {
	runtime.GC()
	b.sem.Release(min(n, b.size))
}
