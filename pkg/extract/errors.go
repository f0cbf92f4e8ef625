package extract

import (
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
)

// Sentinel errors of the Scanner. A [*ScanError] wraps one of them (or io.ErrUnexpectedEOF for
// truncated input, or the error of the underlying reader) so that callers can classify a
// failure with errors.Is while the message tells a human where it happened.
var (
	// ErrNotJSON means the input is empty or does not start like a JSON object or array,
	// for example an HTML page, a text file or binary data.
	ErrNotJSON = errors.New("not a CloudTrail JSON file")
	// ErrBadRecords means the "Records" key of a CloudTrail file does not hold an array
	// (or occurs twice).
	ErrBadRecords = errors.New("bad Records value")
	// ErrBadRecord means an element of the record container is not a JSON object.
	ErrBadRecord = errors.New("record is not a JSON object")
	// ErrRecordTooLarge means a record (or a value outside the records) is larger than the
	// Scanner's maximum record size. A record that large is skipped, not an error: see
	// Scanner.Truncated.
	ErrRecordTooLarge = errors.New("record too large")
	// ErrTooDeep is the cause Scanner.Truncated gives for a record nested more than MaxDepth
	// deep, which no decoder reads.
	ErrTooDeep = errors.New("record nested too deeply")
	// ErrSyntax means the JSON text is malformed in a way that prevents finding record
	// boundaries: unbalanced brackets, a byte that cannot appear outside a string,
	// misplaced separators, or nesting deeper than MaxDepth.
	ErrSyntax = errors.New("invalid JSON")
	// ErrTrailingData means there is something other than white space after the end of the
	// record container.
	ErrTrailingData = errors.New("unexpected data after the end of the JSON text")
)

// ScanError is the error a [Scanner] reports. Err is one of the sentinel errors above,
// io.ErrUnexpectedEOF when the input ends early, or the error returned by the underlying
// reader (such as a [*GzipError]).
type ScanError struct {
	Err    error // the cause, for errors.Is and errors.As
	Record int   // 0-based index of the record involved, or -1 if the error is outside any record
	Offset int64 // byte offset in the JSON text (after decompression) where the problem was found
	msg    string
}

func (e *ScanError) Error() string { return e.msg }
func (e *ScanError) Unwrap() error { return e.Err }

// GzipError is an error from inflating a gzip object: corrupt compressed data, a checksum
// mismatch, a bad member header, or a file cut short. Err is the error of the gzip
// package, so errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, gzip.ErrChecksum),
// errors.Is(err, gzip.ErrHeader) and errors.As(err, new(flate.CorruptInputError)) work.
type GzipError struct {
	Offset int64 // bytes of JSON text successfully produced before the error
	Err    error
}

func (e *GzipError) Error() string {
	switch {
	case errors.Is(e.Err, io.ErrUnexpectedEOF):
		return fmt.Sprintf("truncated gzip data: the file ends early, after %d bytes of JSON (%v)", e.Offset, e.Err)
	case errors.Is(e.Err, gzip.ErrChecksum):
		return fmt.Sprintf("corrupt gzip data: checksum mismatch after %d bytes of JSON (%v)", e.Offset, e.Err)
	default:
		return fmt.Sprintf("corrupt gzip data after %d bytes of JSON: %v", e.Offset, e.Err)
	}
}

func (e *GzipError) Unwrap() error { return e.Err }

// ErrObjectTooLarge is wrapped by a [*SizeError].
var ErrObjectTooLarge = errors.New("object too large")

// SizeError is the error of a [Reader] whose object inflates to more JSON text than its limit
// (see [Reader.SetLimit]): typically a gzip bomb, a few KB that would inflate to gigabytes.
type SizeError struct {
	Limit int64 // the limit, in bytes of JSON text
}

func (e *SizeError) Error() string {
	return fmt.Sprintf("the object inflates to more than %d bytes of JSON text", e.Limit)
}

func (e *SizeError) Unwrap() error { return ErrObjectTooLarge }

// describeByte names a byte for an error message: 0x3c '<' for printable ASCII, 0x8b otherwise.
func describeByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return fmt.Sprintf("0x%02x %q", c, rune(c))
	}
	return fmt.Sprintf("0x%02x", c)
}

// kindOf names the JSON type of a value that starts with c, for error messages.
func kindOf(c byte) string {
	switch c {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return "a number"
	}
	return "invalid JSON starting with " + describeByte(c)
}
