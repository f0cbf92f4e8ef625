package storage

import (
	"context"
	"errors"
	"time"
)

// Conditional is implemented by stores that can write an object only if it is still the
// version the writer last saw, which is what a lease needs (see package lake): an S3 bucket
// (PutObject with If-None-Match or If-Match, DeleteObject with If-Match) and a local folder
// (an exclusive create, and a compare-and-swap under a file lock). Bodies are small: a
// lease, a manifest.
type Conditional interface {
	// Get reads the whole object key with its version: its ETag, its Last-Modified, and the
	// time the store said it was when it answered (S3's Date header), so that the age of the
	// object is judged on the store's clock. A missing key wraps ErrNotExist.
	Get(ctx context.Context, key string) ([]byte, Version, error)

	// PutIf stores body under key only if the object's ETag is still match, or, when match
	// is MatchNone, only if no object has the key. It returns the new object's ETag. When
	// the condition does not hold the error wraps ErrPreconditionFailed; when another
	// conditional write of the key raced this one (S3's 409 ConditionalRequestConflict) it
	// wraps ErrConflict: read the object again and decide again. A retried request whose
	// first attempt did succeed is recognised (the object holds exactly body) and is a
	// success, so a retry never turns a won race into a lost one, nor a lost one into a won
	// one: body must be unique to the writer (a lease's token, a manifest's time).
	PutIf(ctx context.Context, key string, body []byte, match string) (etag string, err error)

	// DeleteIf removes key only if its ETag is still match (else ErrPreconditionFailed, or
	// ErrConflict as PutIf). A key that no longer exists is not an error.
	DeleteIf(ctx context.Context, key, match string) error
}

// MatchNone is the match of a PutIf that creates the object: If-None-Match: *.
const MatchNone = ""

// Version is what Conditional.Get says about an object besides its content.
type Version struct {
	ETag     string    // what PutIf and DeleteIf compare
	Modified time.Time // Last-Modified, on the store's clock
	Now      time.Time // the store's clock when it answered (S3: the Date header)
}

var (
	// ErrPreconditionFailed is wrapped by the error of a conditional write whose condition
	// did not hold (S3's 412 PreconditionFailed): someone else wrote the object.
	ErrPreconditionFailed = errors.New("precondition failed: the object is not the version expected")
	// ErrConflict is wrapped by the error of a conditional write that raced another (S3's 409
	// ConditionalRequestConflict): nothing was written; read the object again and retry.
	ErrConflict = errors.New("conditional request conflict: another write of the object raced this one")
	// ErrNoConditional is wrapped by AsConditional's error for a store that cannot write
	// conditionally.
	ErrNoConditional = errors.New("the store does not support conditional writes")
)

// unwrapper is a Storage wrapping another (WithRetry's).
type unwrapper interface{ Unwrap() Storage }

// AsConditional returns s's conditional writes, looking through wrappers such as
// WithRetry's, or an error wrapping ErrNoConditional.
func AsConditional(s Storage) (Conditional, error) {
	if c, ok := as[Conditional](s); ok {
		return c, nil
	}
	return nil, ErrNoConditional
}

// as returns s, or the storage s wraps (through Unwrap methods), as a T, if one is.
func as[T any](s Storage) (T, bool) {
	for s != nil {
		if t, ok := s.(T); ok {
			return t, true
		}
		u, ok := s.(unwrapper)
		if !ok {
			break
		}
		s = u.Unwrap()
	}
	var none T
	return none, false
}
