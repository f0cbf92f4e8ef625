package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"time"
)

// ReadError is the error of a read of an object's content that broke off for a reason
// outside the content: Err is the transport's error (a connection reset, io.ErrUnexpectedEOF
// for a body shorter than its Content-Length, a timeout, ErrStalled). It wraps ErrBrokenRead
// as well as Err, so errors.Is(err, ErrBrokenRead) tells a read worth retrying from bad
// content, through any wrapping that uses %w.
type ReadError struct {
	Key string // the object's key
	Err error
}

func (e *ReadError) Error() string { return "read of " + e.Key + " broke off: " + e.Err.Error() }

// Unwrap returns the transport's error.
func (e *ReadError) Unwrap() error { return e.Err }

// Is reports whether target is ErrBrokenRead.
func (e *ReadError) Is(target error) bool { return target == ErrBrokenRead }

// IsBrokenRead reports whether err is (or wraps) a read that broke off for a reason outside
// the content, which reading the object again may cure: it wraps ErrBrokenRead, and neither
// ErrNotExist nor ErrArchived.
func IsBrokenRead(err error) bool {
	return errors.Is(err, ErrBrokenRead) && !errors.Is(err, ErrNotExist) && !errors.Is(err, ErrArchived)
}

// Defaults of RetryPolicy.
const (
	DefaultRetryAttempts   = 5
	DefaultRetryBackoff    = 500 * time.Millisecond
	DefaultRetryMaxBackoff = 15 * time.Second
)

// RetryPolicy says how [WithRetry] retries a broken read. The zero value uses the defaults.
type RetryPolicy struct {
	// Attempts is how many times one Load may read an object in all; 0 means
	// DefaultRetryAttempts.
	Attempts int
	// Backoff is the longest wait before the first retry; the ceiling doubles with each
	// further retry, up to MaxBackoff. The wait is drawn uniformly below the ceiling ("full
	// jitter"), so workers whose reads broke off together do not come back together. 0
	// means DefaultRetryBackoff.
	Backoff time.Duration
	// MaxBackoff caps the ceiling; 0 means DefaultRetryMaxBackoff.
	MaxBackoff time.Duration
	// Logger, if set, gets a warning for each retry.
	Logger *slog.Logger
}

// WithRetry returns s with a Load that reads an object again when its read broke off, in the
// manner of restic's backend retrier: when the inner Load fails with a broken read
// ([IsBrokenRead]: the body of a GET broke off mid-stream, timed out or stalled), it waits
// (exponential backoff with full jitter, see RetryPolicy) and runs the whole inner Load
// again: a fresh request, and fn from the start with a fresh reader, as Storage.Load's
// contract says. It stops after p.Attempts reads, returning the last error, and as soon as
// ctx is done.
//
// Nothing else is retried: not a missing key (ErrNotExist), not an archived object
// (ErrArchived), not fn's own errors about the content (a corrupt or truncated gzip inside a
// complete body fails at once), not a failed request (the S3 client's own retryer has
// already retried it, see NewS3Client). List, Put and Delete pass straight through to s:
// the S3 client retries those requests itself, and Put's body is a ReadSeeker it can
// rewind and resend.
//
// Wrapping a Local is harmless: its reads never break off that way.
func WithRetry(s Storage, p RetryPolicy) Storage {
	if p.Attempts <= 0 {
		p.Attempts = DefaultRetryAttempts
	}
	if p.Backoff <= 0 {
		p.Backoff = DefaultRetryBackoff
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = DefaultRetryMaxBackoff
	}
	p.MaxBackoff = max(p.MaxBackoff, p.Backoff)
	return &retrying{inner: s, p: p}
}

// retrying is the Storage WithRetry returns.
type retrying struct {
	inner Storage
	p     RetryPolicy
}

func (r *retrying) List(ctx context.Context, prefix string, delim bool) iter.Seq2[Entry, error] {
	return r.inner.List(ctx, prefix, delim)
}

func (r *retrying) Put(ctx context.Context, key string, rd io.ReadSeeker, size int64) error {
	return r.inner.Put(ctx, key, rd, size)
}

func (r *retrying) Delete(ctx context.Context, key string) error { return r.inner.Delete(ctx, key) }

func (r *retrying) String() string { return r.inner.String() }

// Unwrap returns the wrapped storage, for AsConditional: conditional writes pass straight
// through, as Put does (the S3 client retries the request, and a retry whose first attempt
// succeeded is recognised by the store's PutIf itself).
func (r *retrying) Unwrap() Storage { return r.inner }

// Load implements Storage, reading key again while its read breaks off.
func (r *retrying) Load(ctx context.Context, key string, fn func(io.Reader) error) error {
	for attempt := 1; ; attempt++ {
		err := r.inner.Load(ctx, key, fn)
		if err == nil || !IsBrokenRead(err) {
			return err
		}
		if ctx.Err() != nil { // the read broke off because the run is being stopped
			return fmt.Errorf("%w (while reading %s: %v)", ctx.Err(), key, err)
		}
		if attempt >= r.p.Attempts {
			return fmt.Errorf("%w (gave up after %d reads)", err, attempt)
		}
		wait := jitter(attempt-1, r.p.Backoff, r.p.MaxBackoff)
		if r.p.Logger != nil {
			r.p.Logger.Warn("read broke off: reading the object again", "key", key, "attempt", attempt,
				"wait_seconds", wait.Seconds(), "error", err.Error())
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (while waiting to read %s again after: %v)", ctx.Err(), key, err)
		}
	}
}
