package extract

import (
	"bufio"
	"errors"
	"io"

	"github.com/klauspost/compress/gzip"
)

// readBufferSize is the size of the buffer between the object's body and the inflater.
// klauspost's flate decoder has a fast path for *bufio.Reader input.
const readBufferSize = 64 << 10

// bom is the UTF-8 encoding of U+FEFF, which some tools write at the start of a JSON file.
var bom = [3]byte{0xef, 0xbb, 0xbf}

// Reader turns an object's bytes into a stream of JSON text. It sniffs gzip by its magic
// bytes (1f 8b) and inflates it with github.com/klauspost/compress/gzip, accepting
// concatenated members as one stream (multistream), or else passes the bytes through
// unchanged. It strips a UTF-8 byte-order mark at the start of the JSON text.
//
// A worker keeps one Reader and calls [Reader.Reset] for each object, so the read buffer and
// the inflater's state are allocated once. The zero value is ready for Reset. A Reader must
// not be copied after its first use.
type Reader struct {
	src        errTrap
	br         *bufio.Reader
	gz         *gzip.Reader
	in         io.Reader // br or gz: where JSON text comes from
	compressed bool
	out        int64
	limit      int64     // most bytes of JSON text Read returns for one object; 0 means no limit
	tap        io.Writer // receives the content as it is read (SetTap); nil for none

	headDone bool    // whether the byte-order-mark check has run
	head     [3]byte // first bytes of the text, held back while checking for a byte-order mark
	headLen  int
	headPos  int
	err      error // sticky error met during the byte-order-mark check
}

// errTrap remembers the last error (other than io.EOF) returned by the object's body, so that
// Read can tell an I/O error that came through the inflater from corrupt gzip data.
type errTrap struct {
	r   io.Reader
	err error
}

func (t *errTrap) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF {
		t.err = err
	}
	return n, err
}

// Reset prepares r to read a new object from src. It reads the first bytes to tell gzip from
// plain text and, for gzip, the member header. It returns an error only when reading src
// fails or the gzip header is broken (a [*GzipError] wrapping gzip.ErrHeader or
// io.ErrUnexpectedEOF); errors in the compressed data surface later from Read.
func (r *Reader) Reset(src io.Reader) error {
	r.src = errTrap{r: src}
	if r.br == nil {
		r.br = bufio.NewReaderSize(&r.src, readBufferSize)
	} else {
		r.br.Reset(&r.src)
	}
	r.in, r.compressed, r.out = nil, false, 0
	r.headDone, r.headLen, r.headPos, r.err = false, 0, 0, nil

	magic, err := r.br.Peek(2)
	if err != nil && err != io.EOF {
		return err
	}
	if len(magic) < 2 || magic[0] != 0x1f || magic[1] != 0x8b {
		r.in = r.br
		return nil
	}
	r.compressed = true
	if r.gz == nil {
		r.gz = new(gzip.Reader)
	}
	if err := r.gz.Reset(r.br); err != nil {
		if r.src.err != nil && errors.Is(err, r.src.err) {
			return err
		}
		return &GzipError{Err: err}
	}
	r.in = r.gz
	return nil
}

// Read reads JSON text. At the end of the object it returns io.EOF. Errors from inflating
// come out as a [*GzipError]; errors from the object's body are returned as they are.
func (r *Reader) Read(p []byte) (int, error) {
	if r.in == nil {
		return 0, errors.New("extract: Reader.Read called before Reset")
	}
	if len(p) == 0 {
		return 0, nil
	}
	if !r.headDone {
		r.readHead()
	}
	if r.headPos < r.headLen {
		n := copy(p, r.head[r.headPos:r.headLen])
		r.headPos += n
		r.out += int64(n)
		return n, nil
	}
	if r.err != nil {
		return 0, r.err
	}
	if r.limit > 0 && r.out >= r.limit {
		// One byte more than the limit is the proof: a text of exactly limit bytes passes.
		var one [1]byte
		n, err := r.in.Read(one[:])
		if n > 0 {
			r.err = &SizeError{Limit: r.limit}
			return 0, r.err
		}
		if err != nil && err != io.EOF {
			err = r.wrap(err)
		}
		return 0, err
	}
	if r.limit > 0 && int64(len(p)) > r.limit-r.out {
		p = p[:r.limit-r.out]
	}
	n, err := r.in.Read(p)
	r.out += int64(n)
	if r.tap != nil && n > 0 {
		r.tap.Write(p[:n])
	}
	if err != nil && err != io.EOF {
		err = r.wrap(err)
	}
	return n, err
}

// SetTap makes Read write every byte of the object's content to w as it reads it: the text
// after inflating, a byte-order mark included (what a CloudTrail digest's hash covers), so a
// caller can hash an object without inflating it a second time. To cover the whole content
// the caller reads to io.EOF. nil removes the tap. The tap stays across Reset; w's errors
// are ignored.
func (r *Reader) SetTap(w io.Writer) { r.tap = w }

// SetLimit makes Read fail with a [*SizeError] once an object's JSON text grows beyond n
// bytes (after inflation), so a gzip bomb costs at most n bytes of inflating. n <= 0 means
// no limit. The limit stays across Reset.
func (r *Reader) SetLimit(n int64) { r.limit = max(n, 0) }

// readHead reads the first three bytes of the text and drops them if they are a byte-order
// mark; otherwise Read returns them first.
func (r *Reader) readHead() {
	r.headDone = true
	n := 0
	for empty := 0; n < len(r.head); {
		m, err := r.in.Read(r.head[n:])
		n += m
		if err != nil {
			if err != io.EOF {
				err = r.wrap(err)
			}
			r.err = err
			break
		}
		if m == 0 {
			if empty++; empty >= 100 {
				r.err = io.ErrNoProgress
				break
			}
		}
	}
	if r.tap != nil && n > 0 {
		r.tap.Write(r.head[:n])
	}
	if n == len(bom) && r.head == bom {
		n = 0
	}
	r.headLen, r.headPos = n, 0
}

// wrap classifies a read error: the body's own I/O errors pass through, errors produced by the
// inflater become a *GzipError.
func (r *Reader) wrap(err error) error {
	if !r.compressed || (r.src.err != nil && errors.Is(err, r.src.err)) {
		return err
	}
	return &GzipError{Offset: r.out, Err: err}
}

// Compressed reports whether the current object is gzip.
func (r *Reader) Compressed() bool { return r.compressed }

// BytesOut reports how many bytes of JSON text Read has returned for the current object
// (after inflation, not counting a stripped byte-order mark).
func (r *Reader) BytesOut() int64 { return r.out }
