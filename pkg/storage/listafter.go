package storage

import (
	"context"
	"iter"
)

// ListerAfter is implemented by a Storage that can begin a listing part-way, as S3's
// ListObjectsV2 does with StartAfter: one listing can then cover a run of consecutive day
// folders of a trail folder, beginning at the first of them, instead of one listing per
// day folder (see source.Window).
type ListerAfter interface {
	// ListAfter streams, one page at a time, the objects whose keys start with prefix and
	// sort after startAfter, in key order: List without a delimiter, starting part-way.
	// The consumer may stop early (a break ends the listing, with no further request).
	ListAfter(ctx context.Context, prefix, startAfter string) iter.Seq2[Entry, error]
}

// AsListerAfter returns s, or the storage s wraps (a Storage with an Unwrap method, as
// WithRetry's), as a ListerAfter, if it is one.
func AsListerAfter(s Storage) (ListerAfter, bool) { return as[ListerAfter](s) }
