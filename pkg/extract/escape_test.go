package extract

import (
	"bytes"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// refUnescapedQuotes returns, byte by byte, whether each byte of buf is a quote that no
// backslash escapes, reading buf as the inside of strings from its first byte on (a pair of
// backslashes is a literal backslash; a lone one escapes the next byte).
func refUnescapedQuotes(buf []byte) []bool {
	out := make([]bool, len(buf))
	escaped := false
	for i, c := range buf {
		switch {
		case escaped:
			escaped = false
		case c == '\\':
			escaped = true
		case c == '"':
			out[i] = true
		}
	}
	return out
}

// blockUnescapedQuotes is refUnescapedQuotes done as scanBlocks does it, 64 bytes at a time
// with escapes and its carry; len(buf) must be a multiple of 64.
func blockUnescapedQuotes(buf []byte) []bool {
	out := make([]bool, len(buf))
	var carry uint64
	for i := 0; i+64 <= len(buf); i += 64 {
		quotes, _ := quoteMask64(buf[i:])
		escaped, c := escapes(backslashMask64(buf[i:]), carry)
		carry = c
		quotes &^= escaped
		for t := range 64 {
			out[i+t] = quotes>>t&1 != 0
		}
	}
	return out
}

// refStringEnd is stringEnd done byte by byte from the opening quote at open.
func refStringEnd(buf []byte, open int) int {
	for i := open + 1; i < len(buf); i++ {
		switch buf[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}

// randEscapeText returns n random bytes rich in backslashes (often in long runs) and quotes.
func randEscapeText(rng *rand.Rand, n int) []byte {
	b := make([]byte, 0, n+200)
	for len(b) < n {
		switch rng.IntN(6) {
		case 0:
			b = append(b, bytes.Repeat([]byte{'\\'}, 1+rng.IntN(1+rng.IntN(140)))...)
		case 1, 2:
			b = append(b, '"')
		case 3:
			b = append(b, '\\', '\\', '\\', '"')
		default:
			b = append(b, "abc{}[],: "[rng.IntN(10)])
		}
	}
	return b[:n]
}

// TestEscapesDifferential compares the block-wise escape masks, carried across blocks, and
// stringEnd with byte-by-byte references on random text full of backslash runs and quotes.
func TestEscapesDifferential(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for iter := range 5000 {
		buf := randEscapeText(rng, 64*(1+rng.IntN(6)))
		want := refUnescapedQuotes(buf)
		got := blockUnescapedQuotes(buf)
		for i := range buf {
			if got[i] != want[i] {
				t.Fatalf("iteration %d: byte %d: unescaped quote %v, want %v\n%q", iter, i, got[i], want[i], buf)
			}
		}
		// stringEnd from every opening quote, and from positions after it (as when a search
		// resumes after a refill).
		for open := range buf {
			if !want[open] && !(open == 0 && buf[0] == '"') {
				continue
			}
			w := refStringEnd(buf, open)
			for from := open + 1; from <= len(buf) && (w < 0 || from <= w); from++ {
				if g := stringEnd(buf, from); g != w {
					t.Fatalf("iteration %d: stringEnd(buf, %d) with the string opened at %d = %d, want %d\n%q", iter, from, open, g, w, buf)
				}
			}
			break // the rest of buf is not necessarily a sequence of strings
		}
	}
}

// TestEscapesRandomMasks checks escapes on random backslash masks and carries, including
// all-ones words (runs longer than a block), against a bit-by-bit reference.
func TestEscapesRandomMasks(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for range 200000 {
		bs := rng.Uint64()
		switch rng.IntN(4) {
		case 0:
			bs = ^uint64(0) << rng.IntN(64)
		case 1:
			bs = ^uint64(0) >> rng.IntN(64)
		case 2:
			bs |= rng.Uint64() | rng.Uint64()
		}
		carry := rng.Uint64() & 1
		var wantEsc, wantCarry uint64
		escaped := carry == 1
		for i := range 64 {
			isBS := bs>>i&1 == 1
			switch {
			case escaped:
				if !isBS {
					wantEsc |= 1 << i
				}
				escaped = false
			case isBS:
				escaped = true
			}
		}
		if escaped {
			wantCarry = 1
		}
		gotEsc, gotCarry := escapes(bs, carry)
		if gotEsc != wantEsc || gotCarry != wantCarry {
			t.Fatalf("escapes(%064b, %d) = %064b, %d; want %064b, %d", bs, carry, gotEsc, gotCarry, wantEsc, wantCarry)
		}
	}
}

// TestScannerBackslashRuns frames records with a run of 1 to 130 backslashes followed by a
// quote, at every offset around the first two 64-byte block boundaries of the record: after
// an even run the quote ends the string, after an odd run it is escaped and what follows
// (brackets that would end the record) is still inside the string.
func TestScannerBackslashRuns(t *testing.T) {
	s := NewScanner(nil)
	small := newTestScanner(96)
	for n := 1; n <= 130; n++ {
		run := strings.Repeat(`\`, n)
		for pad := range 140 {
			var doc string
			if n%2 == 0 {
				doc = `{"Records":[{"a":"` + strings.Repeat("x", pad) + run + `","b":[1]},{"c":"` + run + `"}]}`
			} else {
				doc = `{"Records":[{"a":"` + strings.Repeat("x", pad) + run + `"}]\\"},{"c":"\` + run + `"}]}`
			}
			want, err := jsonRecords([]byte(doc))
			if err != nil {
				t.Fatalf("n=%d pad=%d: encoding/json: %v\n%s", n, pad, err, doc)
			}
			for _, sc := range []*Scanner{s, small} {
				got, err := scanAll(sc, strings.NewReader(doc))
				if err != nil {
					t.Fatalf("n=%d pad=%d buf=%d: %v\n%s", n, pad, sc.bufSize, err, doc)
				}
				if d := sameRecords(got, want); d != "" {
					t.Fatalf("n=%d pad=%d buf=%d: %s\n%s", n, pad, sc.bufSize, d, doc)
				}
			}
			// The same string truncated right after the run: the quote is missing or escaped,
			// so the text must be reported as truncated, not framed.
			cut := `{"Records":[{"a":"` + strings.Repeat("x", pad) + run + `"`
			if n%2 == 0 {
				cut = cut[:len(cut)-1]
			}
			if _, err := scanAll(s, strings.NewReader(cut+strings.Repeat(" ", 70))); !errIs(err, io.ErrUnexpectedEOF) {
				t.Fatalf("n=%d pad=%d: truncated text: error %v, want truncation", n, pad, err)
			}
		}
	}
}
