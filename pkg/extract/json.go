package extract

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"
)

// Byte classes for scanning JSON outside strings. Everything that may appear between tokens
// of valid JSON and carries no structure (white space, ',', ':', and the characters of
// numbers, true, false and null) is classSkip, so the scanning loop passes over it with a
// single table look-up; a byte that can never appear outside a string in valid JSON is
// classBad.
const (
	classSkip = iota
	classQuote
	classOpen
	classClose
	classBad
)

var byteClass = func() (t [256]uint8) {
	for i := range t {
		t[i] = classBad
	}
	for _, c := range []byte(" \t\r\n,:0123456789+-.eEaflnrstu") {
		t[c] = classSkip
	}
	t['"'] = classQuote
	t['{'], t['['] = classOpen, classOpen
	t['}'], t[']'] = classClose, classClose
	return t
}()

// isSpace reports whether c is JSON white space.
func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\r' || c == '\t' }

// stringEnd returns the index of the quote that closes a string, searching from buf[from]
// on, or -1 if buf ends first. from must be inside the string, whose opening quote is in buf
// before from. It looks for the next quote eight bytes at a time within a word (most strings
// in CloudTrail are short, where this beats a call to bytes.IndexByte), and with
// bytes.IndexByte beyond that. Then it counts the backslashes before the quote: an odd count
// means the quote is escaped. The count stops at the opening quote at the latest, so escapes
// are judged correctly even when a search resumes after more input arrived.
func stringEnd(buf []byte, from int) int {
	for from < len(buf) {
		end := -1
		i := from
		for n := 0; n < swarWords && i+8 <= len(buf); n++ {
			if m := quoteMask(binary.LittleEndian.Uint64(buf[i:])); m != 0 {
				end = i + bits.TrailingZeros64(m)/8
				break
			}
			i += 8
		}
		if end < 0 {
			k := bytes.IndexByte(buf[i:], '"')
			if k < 0 {
				return -1
			}
			end = i + k
		}
		if buf[end-1] != '\\' {
			return end
		}
		b := end - 2
		for buf[b] == '\\' {
			b--
		}
		if (end-1-b)&1 == 0 {
			return end
		}
		from = end + 1
	}
	return -1
}

// swarWords is how many 8-byte words stringEnd examines itself before it calls
// bytes.IndexByte, which is faster on long strings.
const swarWords = 4

// quoteMask returns a word with the high bit set in the lowest byte of w (in little-endian
// order) that is a '"', and possibly in higher bytes; it is 0 if w has no '"'. Only the lowest
// set bit is exact, which is the one stringEnd uses.
func quoteMask(w uint64) uint64 {
	const ones, highs, quotes = 0x0101010101010101, 0x8080808080808080, '"' * 0x0101010101010101
	x := w ^ quotes
	return (x - ones) &^ x & highs
}

// skipSpace returns the index of the first byte at or after i in buf that is not JSON white
// space, or len(buf).
func skipSpace(buf []byte, i int) int {
	for i < len(buf) && isSpace(buf[i]) {
		i++
	}
	return i
}

// skipValue returns the index just past the JSON value that starts at buf[i], or -1 if buf is
// not long enough or the value is malformed. Objects and arrays are skipped with a depth
// counter, not recursion. It checks no more than it needs to find the end.
func skipValue(buf []byte, i int) int {
	if i >= len(buf) {
		return -1
	}
	switch byteClass[buf[i]] {
	case classQuote:
		if e := stringEnd(buf, i+1); e >= 0 {
			return e + 1
		}
		return -1
	case classOpen:
		depth := 0
		for i < len(buf) {
			switch byteClass[buf[i]] {
			case classQuote:
				e := stringEnd(buf, i+1)
				if e < 0 {
					return -1
				}
				i = e
			case classOpen:
				depth++
			case classClose:
				if depth--; depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	case classSkip:
		start := i
		for i < len(buf) {
			c := buf[i]
			if byteClass[c] != classSkip || isSpace(c) || c == ',' || c == ':' {
				break
			}
			i++
		}
		if i == start {
			return -1
		}
		return i
	}
	return -1
}

// plainString reports whether the raw content of a JSON string needs no decoding: it has no
// escapes and is valid UTF-8.
func plainString(raw []byte) bool {
	return bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw)
}

// unquote decodes the raw content of a JSON string (the bytes between the quotes) the way
// encoding/json does: escapes are decoded, a \u escape of a lone surrogate and each byte of
// invalid UTF-8 become U+FFFD. A malformed escape is copied through as it is.
func unquote(raw []byte) string {
	if plainString(raw) {
		return string(raw)
	}
	b := make([]byte, 0, len(raw)+8)
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == '\\' && i+1 < len(raw):
			i++
			switch e := raw[i]; e {
			case '"', '\\', '/', '\'':
				b = append(b, e)
				i++
			case 'b':
				b = append(b, '\b')
				i++
			case 'f':
				b = append(b, '\f')
				i++
			case 'n':
				b = append(b, '\n')
				i++
			case 'r':
				b = append(b, '\r')
				i++
			case 't':
				b = append(b, '\t')
				i++
			case 'u':
				r := hex4(raw[i+1:])
				if r < 0 {
					b = append(b, '\\')
					continue
				}
				i += 5
				if utf16.IsSurrogate(r) {
					r2 := rune(-1)
					if i+1 < len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
						r2 = hex4(raw[i+2:])
					}
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						r = d
						i += 6
					} else {
						r = utf8.RuneError
					}
				}
				b = utf8.AppendRune(b, r)
			default:
				b = append(b, '\\')
			}
		case c < utf8.RuneSelf:
			b = append(b, c)
			i++
		default:
			r, size := utf8.DecodeRune(raw[i:])
			b = utf8.AppendRune(b, r)
			i += size
		}
	}
	return string(b)
}

// hex4 decodes four hexadecimal digits at the start of s, or returns -1.
func hex4(s []byte) rune {
	if len(s) < 4 {
		return -1
	}
	var r rune
	for _, c := range s[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// keyIs reports whether the raw content of a JSON string decodes to key.
func keyIs(raw []byte, key string) bool {
	if plainString(raw) {
		return string(raw) == key
	}
	return unquote(raw) == key
}
