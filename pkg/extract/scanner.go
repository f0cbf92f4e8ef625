package extract

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
)

const (
	// DefaultMaxRecordSize is the largest record a Scanner accepts unless told otherwise.
	// CloudTrail events are at most a few hundred KiB; the limit only keeps a broken or
	// hostile file from making a worker buffer without bound.
	DefaultMaxRecordSize = 64 << 20

	// MaxDepth is how deeply objects and arrays may nest inside one record. It matches the
	// limit of encoding/json, so the Scanner rejects nothing that a decoder would accept.
	MaxDepth = 10000

	// initialBufferSize is the Scanner's buffer size until a record needs more.
	initialBufferSize = 256 << 10

	// TruncatedSize is how much of a record the Scanner keeps when the record is too large or
	// nested too deeply to frame whole (see [Scanner.Truncated]): its first 64 KiB, which
	// hold the top-level fields CloudTrail writes first (eventVersion, userIdentity,
	// eventTime, eventSource, eventName) in any real event.
	TruncatedSize = 64 << 10

	// keepBufferSize bounds the buffer a Scanner keeps across Reset: a buffer grown beyond it
	// for one huge record is dropped, so one odd file does not pin memory for the whole run.
	keepBufferSize = 4 * initialBufferSize
)

// Where an error happened, when not inside a record (see Scanner.where).
const (
	betweenRecords = -1 // before the first record, or after the last one read
	afterRecords   = -2 // in the top-level object, after the Records array
)

// errTooLarge is returned by fill when the bytes it must keep reach the maximum record size.
var errTooLarge = errors.New("buffer limit reached")

// container is the shape of the file being scanned, and where the Scanner is in it.
type container uint8

const (
	startOfText  container = iota // nothing read yet
	recordsArray                  // in the Records array of {"Records":[...]}
	bareArray                     // in a top-level [...]
	objectStream                  // in a sequence of top-level objects
	endOfText                     // finished cleanly
)

// Scanner yields the records of one CloudTrail file, one raw JSON object at a time, without
// decoding them. It accepts three containers, told apart by the first byte that is not white
// space:
//
//   - {"Records":[rec, rec, ...]}, CloudTrail's native format. Keys of the top-level object
//     after "Records" are skipped. If the first key of the top-level object is not "Records",
//     the text is taken as a stream of events instead (see below).
//   - [rec, rec, ...], a bare JSON array of events.
//   - rec rec ..., top-level objects one after another, usually one per line (CloudTrail Lake
//     exports and similar).
//
// Every record must be a JSON object. The Scanner checks the structure of each record (strings
// and their escapes, nesting, matching brackets, bytes that cannot appear outside a string)
// closely enough that it never mis-frames a record, but leaves full validation to the decoder
// that reads the records it yields. It keeps one buffer, which grows only for a record larger
// than the buffer, up to the maximum record size, so memory does not depend on the size of the
// file. A record over that size or nested more than MaxDepth deep does not stop the scan: it
// is yielded truncated (see [Scanner.Truncated]).
//
// A Scanner is reused across objects with [Scanner.Reset]. The zero value is not usable; call
// [NewScanner].
type Scanner struct {
	r       io.Reader
	buf     []byte
	n       int   // buf[:n] holds input not yet discarded
	pos     int   // the next byte to look at
	keep    int   // buf[keep:n] must survive a refill
	base    int64 // offset in the text of buf[0]
	rerr    error // sticky error of r; io.EOF at the end of the input
	mode    container
	more    bool // in an array, after a record: ',' or ']' comes next
	next    int  // index of the next record
	rec     []byte
	err     error
	maxSize int
	bufSize int    // initial buffer size; tests make it tiny to exercise refills
	stack   []byte // brackets open in the record being scanned

	recStart  int64  // text offset of the current record's '{'
	truncated error  // why the current record is truncated (ErrRecordTooLarge, ErrTooDeep), or nil
	size      int64  // the current record's full size in bytes, when truncated
	head      []byte // the first TruncatedSize bytes of a truncated record

	budget *Budget         // lends the memory of large records; nil: none needed
	ctx    context.Context // ends a wait for the budget
	lent   int64           // what s holds of the budget: 0, or LargeRecordCharge(maxSize)
}

// NewScanner returns a Scanner reading from r. r may be nil if [Scanner.Reset] is called before
// the first [Scanner.Next].
func NewScanner(r io.Reader) *Scanner {
	return &Scanner{r: r, maxSize: DefaultMaxRecordSize, bufSize: initialBufferSize}
}

// Reset makes s read a new file from r, keeping its buffers (and its maximum record size and
// budget). A buffer grown for a large record is dropped, and its memory given back to the
// budget.
func (s *Scanner) Reset(r io.Reader) {
	s.Release()
	*s = Scanner{r: r, buf: s.buf, stack: s.stack[:0], maxSize: s.maxSize, bufSize: s.bufSize, head: s.head[:0],
		budget: s.budget, ctx: s.ctx}
}

// SetBudget makes s borrow from b the memory of each record larger than [LargeRecordSize]
// ([LargeRecordCharge] of its maximum record size), waiting for it if b has no room; a wait
// ends with ctx, and the scan then fails with ctx's error. s gives the memory back when it
// drops the record's buffer: when the next record is framed in a small buffer again, at
// Reset, or at Release. A nil b borrows nothing: buffers then grow at will, up to the
// maximum record size.
func (s *Scanner) SetBudget(ctx context.Context, b *Budget) {
	s.Release()
	if ctx == nil {
		ctx = context.Background()
	}
	s.budget, s.ctx = b, ctx
}

// Release drops a buffer grown for a large record and gives its memory back to the budget.
// The current record (see [Scanner.Record]) is invalid afterwards. Call it once done with a
// file's records if s is not Reset right away, so that s does not hold part of the budget
// while it waits for its next file.
func (s *Scanner) Release() {
	if len(s.buf) > keepBufferSize {
		s.buf, s.n, s.pos, s.keep = nil, 0, 0, 0
		s.rec = nil
	}
	s.releaseBudget()
}

// shrink is Release between two records: it moves the input not yet read (from s.pos on) to
// a buffer of the initial size, when it fits there, and then gives the budget back. When it
// does not fit, fill does the same once that input is used up.
func (s *Scanner) shrink() {
	rest := s.n - s.pos
	if rest > s.bufSize {
		return // later: the next record starts in the large buffer
	}
	buf := make([]byte, s.bufSize)
	s.n = copy(buf, s.buf[s.pos:s.n])
	s.base += int64(s.pos)
	s.buf, s.pos, s.keep = buf, 0, 0
	s.rec = nil
	s.releaseBudget()
}

// releaseBudget gives back what s holds of its budget.
func (s *Scanner) releaseBudget() {
	if s.lent > 0 {
		s.budget.Release(s.lent)
		s.lent = 0
	}
}

// SetMaxRecordSize sets the largest record, in bytes, that s frames whole; a larger one is
// skipped without buffering it and yielded truncated (see [Scanner.Truncated]). n <= 0
// restores [DefaultMaxRecordSize]. The buffer grows up to this size for a large record.
func (s *Scanner) SetMaxRecordSize(n int) {
	if n <= 0 {
		n = DefaultMaxRecordSize
	}
	s.maxSize = n
}

// Record returns the raw bytes of the current record, from its '{' to its '}' (only its first
// [TruncatedSize] bytes when [Scanner.Truncated] says so). The slice points into s's buffer:
// it is valid only until the next call of Next or Reset.
func (s *Scanner) Record() []byte { return s.rec }

// Truncated reports whether the current record could not be framed whole, and why: it is
// larger than the maximum record size ([ErrRecordTooLarge]) or nested more than [MaxDepth]
// deep ([ErrTooDeep]). Such a record is still checked to its end, with bounded memory (past
// MaxDepth, brackets are counted rather than matched), so the scan goes on with the next
// record; Record then returns only its first [TruncatedSize] bytes, and size is its full
// length in bytes. For a whole record, cause is nil.
func (s *Scanner) Truncated() (cause error, size int64) {
	if s.rec == nil {
		return nil, 0
	}
	return s.truncated, s.size
}

// Index returns the 0-based index of the current record within the file.
func (s *Scanner) Index() int { return s.next - 1 }

// Err returns the error that stopped the scan, or nil if it reached a clean end. It is a
// [*ScanError].
func (s *Scanner) Err() error { return s.err }

// Next advances to the next record. It returns false at the end of the file or on an error,
// which Err then reports.
func (s *Scanner) Next() bool {
	s.rec, s.truncated, s.size = nil, nil, 0
	if len(s.buf) > keepBufferSize {
		s.shrink()
	}
	if s.err != nil {
		return false
	}
	switch s.mode {
	case startOfText:
		if !s.start() {
			return false
		}
	case endOfText:
		return false
	}
	s.keep = s.pos
	c, err := s.peek(true)
	if s.mode == objectStream {
		if err == io.EOF {
			s.mode = endOfText
			return false
		}
		if err != nil {
			return s.readFailed(err, betweenRecords)
		}
	} else {
		if err != nil {
			return s.readFailed(err, betweenRecords)
		}
		switch {
		case c == ']':
			s.pos++
			return s.endArray()
		case s.more && c != ',':
			return s.syntaxError(betweenRecords, s.pos, "expected ',' or ']', found "+describeByte(c))
		case s.more:
			s.pos++
			if c, err = s.peek(true); err != nil {
				return s.readFailed(err, betweenRecords)
			}
			if c == ']' {
				return s.syntaxError(betweenRecords, s.pos, "expected a record after ',', found ']'")
			}
		}
	}
	if c != '{' {
		return s.fail(ErrBadRecord, s.next, s.pos,
			fmt.Sprintf("record %d is %s, not a JSON object (at offset %d)", s.next, kindOf(c), s.offset(s.pos)))
	}
	return s.record()
}

// record frames the object that starts at s.pos as the next record.
func (s *Scanner) record() bool {
	idx := s.next
	s.keep = s.pos
	s.recStart = s.offset(s.pos)
	end, ok := s.skipComposite(idx)
	if !ok {
		return false
	}
	start := s.keep
	if s.truncated == nil && end-start > s.maxSize {
		s.truncate(ErrRecordTooLarge, s.buf[start:end])
	}
	if s.truncated != nil {
		s.size = s.offset(end) - s.recStart
		if s.size > int64(s.maxSize) {
			// Whichever limit the scan met first, a record over both is too large.
			s.truncated = ErrRecordTooLarge
		}
		s.rec = s.head
	} else {
		s.rec = s.buf[start:end:end]
	}
	s.pos = end
	s.next++
	s.more = true
	return true
}

// skipComposite returns the index just past the object or array that starts at s.pos. This
// is the hot loop. While at least 64 bytes are buffered it runs scanBlocks, which classifies
// a block at a time; near the end of the buffer it goes a byte at a time: outside strings it
// classifies each byte with one table look-up, inside a string it jumps to the next quote
// (stringEnd). Both keep the open brackets on an explicit stack, never recursing, and apply
// the same checks. It refills the buffer as needed (s.keep, which must not be after s.pos,
// says what to keep). idx names the record in error messages.
func (s *Scanner) skipComposite(idx int) (int, bool) {
	stack := s.stack[:0]        // capacity MaxDepth: appending never reallocates
	i, inString := s.pos, false // inString: i is inside a string that began before it
outer:
	for {
		buf := s.buf[:s.n]
		if inString {
			e := stringEnd(buf, i)
			if e < 0 {
				i = len(buf)
				goto refill
			}
			i, inString = e+1, false
		}
		if i+64 <= len(buf) {
			var end, bad int
			i, stack, inString, end, bad = scanBlocks(buf, i, stack)
			switch {
			case end >= 0:
				return end, true
			case bad >= 0 && idx >= 0 && byteClass[buf[bad]] == classOpen:
				return s.skipRest(idx, stack, bad, false, false, ErrTooDeep)
			case bad >= 0:
				return 0, s.syntaxError(idx, bad, structureError(buf[bad], stack))
			}
			// Fewer than 64 bytes are left.
			if inString {
				continue outer
			}
		}
		for i < len(buf) {
			c := buf[i]
			switch byteClass[c] {
			case classSkip:
				i++
				continue
			case classQuote:
				e := stringEnd(buf, i+1)
				if e < 0 {
					inString, i = true, len(buf)
					goto refill
				}
				if i = e + 1; i+64 <= len(buf) {
					continue outer // back to the fast path
				}
				continue
			case classOpen:
				if len(stack) < MaxDepth {
					stack = append(stack, c)
					i++
					continue
				}
				if idx >= 0 {
					return s.skipRest(idx, stack, i, false, false, ErrTooDeep)
				}
			case classClose:
				if len(stack) > 0 && c == stack[len(stack)-1]+2 { // '{'+2 == '}', '['+2 == ']'
					stack = stack[:len(stack)-1]
					i++
					if len(stack) == 0 {
						return i, true
					}
					continue
				}
			}
			return 0, s.syntaxError(idx, i, structureError(c, stack))
		}
	refill:
		s.pos = i
		shift, err := s.fill()
		i -= shift
		if err != nil {
			if err == errTooLarge && idx >= 0 {
				// Everything from the record's '{' is still in the buffer, so the run of
				// backslashes before i (which ends at the string's opening quote at the
				// latest) tells whether the next byte is escaped.
				escaped := false
				for b := i - 1; inString && b >= 0 && s.buf[b] == '\\'; b-- {
					escaped = !escaped
				}
				return s.skipRest(idx, stack, i, inString, escaped, ErrRecordTooLarge)
			}
			if err == errTooLarge {
				return 0, s.tooLarge(idx, s.keep)
			}
			return 0, s.readFailed(err, idx)
		}
	}
}

// truncate marks the current record as truncated for cause, keeping the first TruncatedSize
// bytes of rec (which starts at the record's '{').
func (s *Scanner) truncate(cause error, rec []byte) {
	s.truncated = cause
	s.head = s.head[:0]
	s.addHead(rec)
}

// addHead appends b, the record's next bytes, to its head, up to TruncatedSize in all.
func (s *Scanner) addHead(b []byte) {
	s.head = append(s.head, b[:min(len(b), TruncatedSize-len(s.head))]...)
}

// skipRest goes on from skipComposite for a record that is too large to buffer or nested too
// deeply to match its brackets: it keeps the record's first bytes (buf[s.keep:]) as its
// head, then follows the record to its end while discarding the bytes behind it, so memory
// stays bounded whatever the record's size. Beyond MaxDepth, brackets are counted, not
// matched. It checks the bytes outside strings as skipComposite does. i, stack, inString and
// escaped (whether buf[i] is escaped inside a string) are skipComposite's state.
func (s *Scanner) skipRest(idx int, stack []byte, i int, inString, escaped bool, cause error) (int, bool) {
	s.truncate(cause, s.buf[s.keep:i])
	extra := 0 // open brackets beyond MaxDepth
	for {
		buf := s.buf[:s.n]
		from := i // the record's bytes buf[from:i] are not in the head yet
		for i < len(buf) {
			if inString {
				q := bytes.IndexByte(buf[i:], '"')
				seg := buf[i:]
				if q >= 0 {
					seg = buf[i : i+q]
				}
				// The parity of the backslashes just before the quote (or the end of the
				// buffer), counting one pending from before i if buf[i] is escaped.
				run := len(seg) - len(bytes.TrimRight(seg, `\`))
				odd := run&1 == 1
				if run == len(seg) && escaped {
					odd = !odd
				}
				if q < 0 {
					escaped, i = odd, len(buf)
					break
				}
				i += q + 1
				escaped = false
				inString = odd // an escaped quote does not end the string
				continue
			}
			c := buf[i]
			switch byteClass[c] {
			case classSkip:
				i++
				continue
			case classQuote:
				inString, escaped = true, false
				i++
				continue
			case classOpen:
				if len(stack) < MaxDepth {
					stack = append(stack, c)
				} else {
					extra++
				}
				i++
				continue
			case classClose:
				if extra > 0 {
					extra--
					i++
					continue
				}
				if len(stack) > 0 && c == stack[len(stack)-1]+2 {
					stack = stack[:len(stack)-1]
					i++
					if len(stack) == 0 {
						s.addHead(buf[from:i])
						return i, true
					}
					continue
				}
			}
			return 0, s.syntaxError(idx, i, structureError(c, stack))
		}
		s.addHead(buf[from:i])
		s.pos, s.keep = i, i // keep nothing: the head is saved
		shift, err := s.fill()
		i -= shift
		if err != nil {
			return 0, s.readFailed(err, idx)
		}
	}
}

// structureError describes the byte c outside a string that stopped skipComposite or
// scanBlocks, given the brackets open at that point.
func structureError(c byte, stack []byte) string {
	switch byteClass[c] {
	case classOpen:
		return fmt.Sprintf("objects and arrays nested more than %d deep", MaxDepth)
	case classClose:
		if len(stack) == 0 {
			return fmt.Sprintf("unexpected %q", c)
		}
		return fmt.Sprintf("unexpected %q (expected %q)", c, stack[len(stack)-1]+2)
	}
	return "unexpected byte " + describeByte(c) + " outside a string"
}

// start reads the beginning of the text to tell which container it is.
func (s *Scanner) start() bool {
	if s.maxSize <= 0 {
		s.maxSize = DefaultMaxRecordSize
	}
	if s.bufSize <= 0 {
		s.bufSize = initialBufferSize
	}
	if cap(s.stack) < MaxDepth {
		s.stack = make([]byte, 0, MaxDepth)
	}
	c, err := s.peek(true)
	if c == bom[0] && err == nil && s.offset(s.pos) == 0 {
		// A byte-order mark, if the reader did not strip it already.
		for s.n-s.pos < len(bom) {
			if _, err := s.fill(); err != nil {
				break
			}
		}
		if s.n-s.pos >= len(bom) && [3]byte(s.buf[s.pos:s.pos+3]) == bom {
			s.pos += len(bom)
			c, err = s.peek(true)
		}
	}
	switch {
	case err == io.EOF && s.offset(s.pos) == 0:
		return s.fail(ErrNotJSON, -1, s.pos, "not a CloudTrail JSON file: empty file")
	case err == io.EOF:
		return s.fail(ErrNotJSON, -1, s.pos, "not a CloudTrail JSON file: only white space")
	case err != nil:
		return s.readFailed(err, betweenRecords)
	case c == '[':
		s.mode = bareArray
		s.pos++
		return true
	case c == '{':
		return s.startObject()
	}
	return s.fail(ErrNotJSON, -1, s.pos, "not a CloudTrail JSON file: starts with "+describeByte(c))
}

// startObject looks at the first key of the top-level object at s.pos. If it is "Records",
// the records are the elements of its array; otherwise the object is the first of a stream
// of events and s.pos stays on it.
func (s *Scanner) startObject() bool {
	s.keep = s.pos // the '{', kept in case it is the first record
	s.pos++
	c, err := s.peek(false)
	if err != nil {
		return s.readFailed(err, betweenRecords)
	}
	if c != '"' {
		s.mode, s.pos = objectStream, s.keep
		return true
	}
	open, end, err := s.scanString()
	if err != nil {
		return s.readFailed(err, betweenRecords)
	}
	if !keyIs(s.buf[open+1:end], "Records") {
		s.mode, s.pos = objectStream, s.keep
		return true
	}
	if c, err = s.peek(false); err != nil {
		return s.readFailed(err, betweenRecords)
	}
	if c != ':' {
		return s.syntaxError(betweenRecords, s.pos, `expected ':' after "Records", found `+describeByte(c))
	}
	s.pos++
	if c, err = s.peek(false); err != nil {
		return s.readFailed(err, betweenRecords)
	}
	if c != '[' {
		return s.fail(ErrBadRecords, -1, s.pos,
			fmt.Sprintf("Records is %s, not an array (at offset %d)", kindOf(c), s.offset(s.pos)))
	}
	s.pos++
	s.mode = recordsArray
	return true
}

// endArray is called after the ']' that closes the record array.
func (s *Scanner) endArray() bool {
	s.more = false
	if s.mode == recordsArray {
		return s.endObject()
	}
	return s.endText()
}

// endObject reads the rest of the top-level object after the Records array, skipping any
// other keys, and then checks that the text ends.
func (s *Scanner) endObject() bool {
	for {
		s.keep = s.pos
		c, err := s.peek(true)
		if err != nil {
			return s.readFailed(err, afterRecords)
		}
		if c == '}' {
			s.pos++
			return s.endText()
		}
		if c != ',' {
			return s.syntaxError(afterRecords, s.pos, "expected ',' or '}', found "+describeByte(c))
		}
		s.pos++
		if c, err = s.peek(true); err != nil {
			return s.readFailed(err, afterRecords)
		}
		if c != '"' {
			return s.syntaxError(afterRecords, s.pos, "expected a key, found "+describeByte(c))
		}
		open, end, err := s.scanString()
		if err != nil {
			return s.readFailed(err, afterRecords)
		}
		if keyIs(s.buf[open+1:end], "Records") {
			return s.fail(ErrBadRecords, -1, open, fmt.Sprintf("Records appears twice in the top-level object (at offset %d)", s.offset(open)))
		}
		s.keep = s.pos
		if c, err = s.peek(true); err != nil {
			return s.readFailed(err, afterRecords)
		}
		if c != ':' {
			return s.syntaxError(afterRecords, s.pos, "expected ':' after a key, found "+describeByte(c))
		}
		s.pos++
		if c, err = s.peek(true); err != nil {
			return s.readFailed(err, afterRecords)
		}
		if !s.skipOther(c) {
			return false
		}
	}
}

// skipOther skips a value (starting with c at s.pos) of a top-level key other than Records.
func (s *Scanner) skipOther(c byte) bool {
	s.keep = s.pos
	switch byteClass[c] {
	case classOpen:
		end, ok := s.skipComposite(afterRecords)
		s.pos = end
		return ok
	case classQuote:
		if _, _, err := s.scanString(); err != nil {
			return s.readFailed(err, afterRecords)
		}
		return true
	}
	start := s.pos
	for {
		for s.pos < s.n {
			c := s.buf[s.pos]
			if byteClass[c] != classSkip || isSpace(c) || c == ',' || c == ':' {
				if s.pos == start {
					return s.syntaxError(afterRecords, s.pos, "expected a value, found "+describeByte(c))
				}
				return true
			}
			s.pos++
		}
		shift, err := s.fill()
		start -= shift
		if err != nil {
			return s.readFailed(err, afterRecords)
		}
	}
}

// endText checks that nothing but white space follows the container.
func (s *Scanner) endText() bool {
	s.keep = s.pos
	c, err := s.peek(true)
	if err == io.EOF {
		s.mode = endOfText
		return false
	}
	if err != nil {
		return s.readFailed(err, afterRecords)
	}
	return s.fail(ErrTrailingData, -1, s.pos,
		fmt.Sprintf("unexpected data after the end of the JSON text at offset %d: %s", s.offset(s.pos), describeByte(c)))
}

// peek skips white space and returns the byte at s.pos. With advance, the skipped space is
// discarded (s.keep follows s.pos). At the end of the input it returns io.EOF.
func (s *Scanner) peek(advance bool) (byte, error) {
	for {
		for s.pos < s.n {
			if c := s.buf[s.pos]; !isSpace(c) {
				return c, nil
			}
			s.pos++
		}
		if advance {
			s.keep = s.pos
		}
		if _, err := s.fill(); err != nil {
			return 0, err
		}
	}
}

// scanString moves s.pos past the JSON string whose opening quote is at s.pos, and returns
// the indexes of its two quotes.
func (s *Scanner) scanString() (open, end int, err error) {
	open = s.pos
	from := open + 1
	for {
		if end = stringEnd(s.buf[:s.n], from); end >= 0 {
			s.pos = end + 1
			return open, end, nil
		}
		from = s.n
		shift, err := s.fill()
		open -= shift
		from -= shift
		if err != nil {
			return 0, 0, err
		}
	}
}

// fill reads more input. First, if that frees a useful amount of room, it moves the bytes
// from s.keep on to the front of the buffer (adjusting s.keep and s.pos, and returning how far
// they moved so the caller can adjust its own indexes). If the buffer is full of bytes that
// must be kept, it grows it, up to the maximum record size (errTooLarge beyond that).
func (s *Scanner) fill() (shift int, err error) {
	if s.rerr != nil {
		return 0, s.rerr
	}
	if s.r == nil {
		s.rerr = errors.New("extract: Scanner has no reader")
		return 0, s.rerr
	}
	if s.buf == nil {
		s.buf = make([]byte, s.bufSize)
	}
	if len(s.buf) > keepBufferSize && s.n-s.keep <= s.bufSize/2 {
		// Past a large record, once the input read with it is used up: back to a small
		// buffer, giving the budget back, rather than reading on into the large one.
		shift = s.keep
		buf := make([]byte, s.bufSize)
		s.n = copy(buf, s.buf[s.keep:s.n])
		s.keep, s.pos = 0, s.pos-shift
		s.base += int64(shift)
		s.buf = buf
		s.releaseBudget()
	}
	if s.keep > 0 && len(s.buf)-s.n < len(s.buf)/2 {
		shift = s.keep
		s.n = copy(s.buf, s.buf[shift:s.n])
		s.keep, s.pos = 0, s.pos-shift
		s.base += int64(shift)
	}
	if s.n == len(s.buf) {
		if s.n-s.keep >= s.maxSize {
			return shift, errTooLarge
		}
		size := min(2*len(s.buf), max(s.maxSize, len(s.buf)+1))
		if size > keepBufferSize && s.budget != nil && s.lent == 0 {
			// A large record: wait for the budget, once for the whole record.
			n := LargeRecordCharge(s.maxSize)
			if err := s.budget.Acquire(s.ctx, n); err != nil {
				return shift, err
			}
			s.lent = n
		}
		buf := make([]byte, size)
		s.n = copy(buf, s.buf[s.keep:s.n])
		s.base += int64(s.keep)
		shift += s.keep
		s.pos -= s.keep
		s.keep = 0
		s.buf = buf
	}
	for range 100 {
		m, err := s.r.Read(s.buf[s.n:])
		s.n += m
		if err != nil {
			s.rerr = err
			if m > 0 {
				return shift, nil
			}
			return shift, err
		}
		if m > 0 {
			return shift, nil
		}
	}
	s.rerr = io.ErrNoProgress
	return shift, s.rerr
}

// offset returns the text offset of buf[i].
func (s *Scanner) offset(i int) int64 { return s.base + int64(i) }

// where describes the place of an error for a message: a record index, or a place outside
// records (betweenRecords, afterRecords).
func (s *Scanner) where(rec int) string {
	switch {
	case rec >= 0:
		return fmt.Sprintf("in record %d", rec)
	case rec == afterRecords:
		return "after the Records array"
	case s.next == 0:
		return "before the first record"
	}
	return fmt.Sprintf("after record %d", s.next-1)
}

// fail records an error and returns false.
func (s *Scanner) fail(kind error, rec, at int, msg string) bool {
	if rec < 0 {
		rec = -1
	}
	s.err = &ScanError{Err: kind, Record: rec, Offset: s.offset(at), msg: msg}
	s.rec = nil
	return false
}

// readFailed reports an error from reading the input: the end of the input where more JSON
// is needed (truncation), or an error of the reader.
func (s *Scanner) readFailed(err error, rec int) bool {
	at := s.n
	switch {
	case err == io.EOF:
		return s.fail(io.ErrUnexpectedEOF, rec, at,
			fmt.Sprintf("truncated JSON %s (the text ends at offset %d)", s.where(rec), s.offset(at)))
	case err == errTooLarge:
		return s.tooLarge(rec, s.keep)
	}
	return s.fail(err, rec, at, fmt.Sprintf("%v, %s, at offset %d", err, s.where(rec), s.offset(at)))
}

// syntaxError reports malformed JSON at buf[at].
func (s *Scanner) syntaxError(rec, at int, what string) bool {
	return s.fail(ErrSyntax, rec, at, fmt.Sprintf("invalid JSON %s at offset %d: %s", s.where(rec), s.offset(at), what))
}

// tooLarge reports a record (or other value) starting at buf[start] that exceeds the limit.
func (s *Scanner) tooLarge(rec, start int) bool {
	what := fmt.Sprintf("record %d", rec)
	if rec < 0 {
		what = "a JSON value " + s.where(rec)
	}
	return s.fail(ErrRecordTooLarge, rec, start, fmt.Sprintf("%s is larger than the maximum record size of %d bytes (it starts at offset %d)",
		what, s.maxSize, s.offset(start)))
}
