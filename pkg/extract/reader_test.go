package extract

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
)

func readAll(t *testing.T, r *Reader, src io.Reader) ([]byte, error) {
	t.Helper()
	if err := r.Reset(src); err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func TestReader(t *testing.T) {
	text := []byte(`{"Records":[{"eventSource":"metering-marketplace.amazonaws.com"}]}`)
	withBOM := append(bom[:], text...)
	tests := []struct {
		name       string
		in         []byte
		want       []byte
		compressed bool
	}{
		{"plain", text, text, false},
		{"gzip", gzipBytes(text), text, true},
		{"multistream", append(gzipBytes(text[:20]), gzipBytes(text[20:])...), text, true},
		{"multistream-empty-member", append(append(gzipBytes(nil), gzipBytes(text)...), gzipBytes(nil)...), text, true},
		{"bom-plain", withBOM, text, false},
		{"bom-gzip", gzipBytes(withBOM), text, true},
		{"bom-split-across-members", append(gzipBytes(bom[:1]), gzipBytes(withBOM[1:])...), text, true},
		{"bom-only-at-start", append([]byte(" "), withBOM...), append([]byte(" "), withBOM...), false},
		{"empty", nil, nil, false},
		{"one-byte", []byte("{"), []byte("{"), false},
		{"two-bytes", []byte("[]"), []byte("[]"), false},
		{"partial-bom", bom[:2], bom[:2], false},
		{"gzip-empty", gzipBytes(nil), nil, true},
		{"magic-byte-only", []byte{0x1f}, []byte{0x1f}, false},
	}
	var r Reader
	for _, tc := range tests {
		for _, wrap := range []struct {
			name string
			f    func(io.Reader) io.Reader
		}{{"whole", func(r io.Reader) io.Reader { return r }}, {"onebyte", iotest.OneByteReader}} {
			t.Run(tc.name+"/"+wrap.name, func(t *testing.T) {
				got, err := readAll(t, &r, wrap.f(bytes.NewReader(tc.in)))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, tc.want) {
					t.Errorf("got %q, want %q", got, tc.want)
				}
				if r.Compressed() != tc.compressed {
					t.Errorf("Compressed() = %v, want %v", r.Compressed(), tc.compressed)
				}
				if r.BytesOut() != int64(len(tc.want)) {
					t.Errorf("BytesOut() = %d, want %d", r.BytesOut(), len(tc.want))
				}
			})
		}
	}
}

func TestReaderSmallReads(t *testing.T) {
	text := []byte("\ufeff[{}]")
	var r Reader
	if err := r.Reset(bytes.NewReader(gzipBytes(text))); err != nil {
		t.Fatal(err)
	}
	if err := iotest.TestReader(&r, text[3:]); err != nil {
		t.Error(err)
	}
}

// TestReaderGzipErrors checks that damaged gzip data comes out of Read (or Reset, for the
// header) as a *GzipError that errors.Is can classify.
func TestReaderGzipErrors(t *testing.T) {
	text, _ := genTrail(3, 200_000, 0.01, 0)
	good := gzipBytes(text)
	flipped := bytes.Clone(good)
	for i := len(flipped) / 2; i < len(flipped)/2+16; i++ {
		flipped[i] ^= 0x5a
	}
	badCRC := bytes.Clone(good)
	badCRC[len(badCRC)-8] ^= 1
	badSize := bytes.Clone(good)
	badSize[len(badSize)-1] ^= 1
	badMethod := bytes.Clone(good)
	badMethod[2] = 7
	badSecond := append(bytes.Clone(good), 0x1f, 0x8b, 7, 0, 0, 0, 0, 0, 0, 0)
	garbageAfter := append(bytes.Clone(good), []byte("trailing garbage")...)

	isCorrupt := func(err error) bool {
		var ce flate.CorruptInputError
		return errors.As(err, &ce) || errors.Is(err, gzip.ErrChecksum)
	}
	tests := []struct {
		name     string
		in       []byte
		resetErr bool
		check    func(error) bool
		msg      string
	}{
		{"truncated-half", good[:len(good)/2], false, func(err error) bool { return errors.Is(err, io.ErrUnexpectedEOF) }, "truncated gzip data"},
		{"truncated-trailer", good[:len(good)-3], false, func(err error) bool { return errors.Is(err, io.ErrUnexpectedEOF) }, "truncated gzip data"},
		{"truncated-header", good[:5], true, func(err error) bool { return errors.Is(err, io.ErrUnexpectedEOF) }, "truncated gzip data"},
		{"flipped-middle", flipped, false, isCorrupt, "corrupt gzip data"},
		{"bad-crc", badCRC, false, func(err error) bool { return errors.Is(err, gzip.ErrChecksum) }, "checksum mismatch"},
		{"bad-size", badSize, false, func(err error) bool { return errors.Is(err, gzip.ErrChecksum) }, "checksum mismatch"},
		{"bad-method", badMethod, true, func(err error) bool { return errors.Is(err, gzip.ErrHeader) }, "invalid header"},
		{"bad-second-member", badSecond, false, func(err error) bool { return errors.Is(err, gzip.ErrHeader) }, "invalid header"},
		{"garbage-after-member", garbageAfter, false, func(err error) bool { return errors.Is(err, gzip.ErrHeader) }, "invalid header"},
	}
	var r Reader
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := readAll(t, &r, bytes.NewReader(tc.in))
			if err == nil {
				t.Fatalf("no error; read %d bytes", len(out))
			}
			var ge *GzipError
			if !errors.As(err, &ge) {
				t.Fatalf("error %v (%T) is not a *GzipError", err, err)
			}
			if !tc.check(err) {
				t.Errorf("error %v is not of the expected kind", err)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not contain %q", err, tc.msg)
			}
			if !tc.resetErr && (ge.Offset != int64(len(out)) || r.BytesOut() != int64(len(out))) {
				t.Errorf("Offset = %d, BytesOut = %d, want %d", ge.Offset, r.BytesOut(), len(out))
			}
			// Corrupt data may inflate to wrong bytes before the damage is detected.
			if !tc.resetErr && tc.name != "flipped-middle" && !bytes.HasPrefix(text, out) {
				t.Errorf("the bytes read before the error are not a prefix of the text")
			}
		})
	}

	// Through the Scanner, the same errors keep their kind.
	s := NewScanner(nil)
	if err := r.Reset(bytes.NewReader(good[:len(good)/2])); err != nil {
		t.Fatal(err)
	}
	n, err := scanAll(s, &r)
	if !errors.Is(err, io.ErrUnexpectedEOF) || !errIs(err, io.ErrUnexpectedEOF) {
		t.Errorf("Scanner over truncated gzip: %v", err)
	}
	if !strings.Contains(err.Error(), "truncated gzip data") || !strings.Contains(err.Error(), "in record ") {
		t.Errorf("Scanner over truncated gzip: message %q", err)
	}
	if len(n) == 0 {
		t.Errorf("no records before the truncation")
	}
}

// TestReaderIOError checks that an error of the object's body passes through unchanged,
// not disguised as corrupt gzip.
func TestReaderIOError(t *testing.T) {
	boom := errors.New("connection reset by peer")
	gz := gzipBytes(bytes.Repeat([]byte(`{"a":1}`), 10000))
	for _, body := range [][]byte{gz, []byte(`{"Records":[{"a":1},`)} {
		var r Reader
		_, err := readAll(t, &r, &errAfter{data: body[:len(body)/2], err: boom})
		if err != boom {
			t.Errorf("compressed=%v: error = %v (%T), want the body's error as it is", r.Compressed(), err, err)
		}
	}
	var r Reader
	if err := r.Reset(&errAfter{err: boom}); err != boom {
		t.Errorf("Reset on a failing body: %v, want %v", err, boom)
	}
}

func TestReaderBeforeReset(t *testing.T) {
	var r Reader
	if _, err := r.Read(make([]byte, 10)); err == nil {
		t.Error("Read before Reset: no error")
	}
}

// TestReaderTap: the tap receives the content exactly as it is in the object — inflated,
// the byte-order mark that Read strips included, every gzip member — once each, whatever
// sizes the reads are, when the reader is read to its end; a read stopped early and then
// finished gives the same; a tap removed gets nothing more.
func TestReaderTap(t *testing.T) {
	content := append([]byte("\xef\xbb\xbf"), bytes.Repeat([]byte(`{"Records":[{"eventVersion":"1.08"}]}`), 5000)...)
	twoMembers := append(gzipBytes(content[:1000]), gzipBytes(content[1000:])...)
	toEnd := func(r io.Reader) error { _, err := io.ReadAll(r); return err }
	readSomeThenRest := func(r io.Reader) error {
		if _, err := r.Read(make([]byte, 10)); err != nil {
			return err
		}
		_, err := io.Copy(io.Discard, iotest.OneByteReader(io.LimitReader(r, 100)))
		if err == nil {
			_, err = io.Copy(io.Discard, r)
		}
		return err
	}
	for _, tt := range []struct {
		name   string
		object []byte
		read   func(io.Reader) error
	}{
		{"plain", content, toEnd},
		{"gzip", gzipBytes(content), toEnd},
		{"two gzip members", twoMembers, toEnd},
		{"read stopped early, then finished", gzipBytes(content), readSomeThenRest},
	} {
		var r Reader
		var tap bytes.Buffer
		r.SetTap(&tap)
		if err := r.Reset(bytes.NewReader(tt.object)); err != nil {
			t.Fatal(err)
		}
		if err := tt.read(&r); err != nil || !bytes.Equal(tap.Bytes(), content) {
			t.Errorf("%s: tapped %d bytes (equal: %v), %v; want the %d bytes of content", tt.name, tap.Len(), bytes.Equal(tap.Bytes(), content), err, len(content))
		}
		r.SetTap(nil)
		tap.Reset()
		if _, err := readAll(t, &r, bytes.NewReader(tt.object)); err != nil || tap.Len() != 0 {
			t.Errorf("%s: after SetTap(nil) the tap got %d bytes, %v", tt.name, tap.Len(), err)
		}
	}
	// A corrupt gzip fails Read, as without a tap.
	bad := gzipBytes(content)
	bad[len(bad)/2] ^= 0xff
	var r Reader
	r.SetTap(io.Discard)
	if _, err := readAll(t, &r, bytes.NewReader(bad)); err == nil {
		t.Error("corrupt gzip read without error")
	}
}
