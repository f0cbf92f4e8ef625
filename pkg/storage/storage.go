// Package storage is the one interface marketrail reads and writes through, with an S3
// bucket and a local folder behind it. A local folder laid out as `aws s3 sync` leaves a
// bucket gives the same keys, the same listings and the same bytes as the bucket itself, so
// everything above this package works the same on both.
//
// Both also implement Conditional (an optional interface: read with
// version and the store's clock, write or delete only if unchanged), which day leases need
// (see package lake); AsConditional finds it through wrappers such as WithRetry's.
//
// Keys are relative to the storage's root (the bucket plus an optional prefix, or the
// folder), '/'-separated, without a leading '/'.
package storage

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"iter"
	"time"
)

// Storage is an S3-like object store rooted at a bucket prefix or a local folder.
type Storage interface {
	// List streams the entries whose keys start with prefix, one page at a time, so a huge
	// folder is never held in memory. With delim false it yields every object below prefix;
	// with delim true it stops at the next '/' after prefix and yields each deeper level once,
	// as a prefix entry (like S3's ListObjectsV2 with Delimiter "/"). A listing error is
	// yielded once, as the last item.
	List(ctx context.Context, prefix string, delim bool) iter.Seq2[Entry, error]

	// Load calls fn with a reader of the object's content. When the read breaks off and is
	// retried, fn runs again from the start with a fresh reader, so fn must begin from
	// scratch each time: a retry re-streams, it never counts anything twice. Load returns
	// fn's error, or an error wrapping ErrNotExist or ErrArchived. When the reader's own
	// read fails for a reason outside the content (the connection broke off, timed out or
	// stalled), its error wraps ErrBrokenRead (S3 returns a [*ReadError]), so fn's error
	// does too if fn wraps what it read with %w; such a Load is worth retrying (see
	// [WithRetry]), while an error about the content itself is not.
	Load(ctx context.Context, key string, fn func(io.Reader) error) error

	// Put stores size bytes read from r under key, atomically: a reader sees the old object
	// or the whole new one, never a part of it. r may be read more than once (after Seek).
	Put(ctx context.Context, key string, r io.ReadSeeker, size int64) error

	// Delete removes key. Deleting a key that does not exist is not an error.
	Delete(ctx context.Context, key string) error

	// String names the root for messages: s3://bucket/prefix or a folder path.
	String() string
}

// Entry is one item of a listing: an object, or (with delim) a common prefix.
type Entry struct {
	Key          string // the object's key, or the prefix ending in '/'
	IsPrefix     bool   // Key is a common prefix, not an object
	Size         int64
	ETag         string // S3's ETag without quotes; for a local file, size and mtime
	ModTime      time.Time
	StorageClass string // S3 storage class; "" locally and for STANDARD
}

var (
	// ErrNotExist is wrapped by errors for a key that does not exist.
	ErrNotExist = fs.ErrNotExist
	// ErrArchived is wrapped by Load's error for an object in an archive storage class
	// (Glacier Flexible Retrieval, Deep Archive) that must be restored before it can be read.
	ErrArchived = errors.New("object is archived and must be restored before it can be read")
	// ErrBrokenRead is wrapped by the error of a read of an object's content that broke
	// off for a reason outside the content: a connection reset, a body shorter than its
	// Content-Length, a timeout. The object may well be fine; reading it again may work.
	ErrBrokenRead = errors.New("read broke off")
	// ErrStalled is wrapped by the error of a read that waited too long for data (see
	// S3.StallTimeout). It comes inside a [*ReadError], so it is a broken read too.
	ErrStalled = errors.New("read stalled")
)

// ReadAll loads a whole (small) object, such as a manifest, into memory.
func ReadAll(ctx context.Context, s Storage, key string) ([]byte, error) {
	var b []byte
	err := s.Load(ctx, key, func(r io.Reader) error {
		var err error
		b, err = io.ReadAll(r)
		return err
	})
	return b, err
}

// Tidier is implemented by a Storage whose Put can leave a file behind when its process is
// killed mid-write (a local folder's hidden temporary files; an S3 PutObject leaves
// nothing). Tidy removes those left by Puts of key. It must be called only while no other
// Put of key can be in progress: a live Put would fail at its end.
type Tidier interface {
	Tidy(ctx context.Context, key string) error
}

// Tidy removes what killed Puts of key left in s (or in the storage s wraps), if s is a
// Tidier; else it does nothing.
func Tidy(ctx context.Context, s Storage, key string) error {
	if t, ok := as[Tidier](s); ok {
		return t.Tidy(ctx, key)
	}
	return nil
}
