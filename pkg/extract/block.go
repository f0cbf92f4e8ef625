package extract

import (
	"encoding/binary"
	"math/bits"
)

// The Scanner's fast path classifies 64 bytes at a time with word-wide bit tricks instead of
// branching on every byte or on every string: it makes a 64-bit mask of the quotes in a block,
// works out from it which bytes are inside strings, and then visits only the bytes outside
// strings, one set bit at a time. CloudTrail records are mostly short strings, where a branch
// per string costs more than the arithmetic. In a block with a backslash, the quotes that
// backslashes escape are taken out of the mask first (escapes), with the state of a run of
// backslashes carried from one block to the next, so policy documents and templates held as
// JSON strings stay on the fast path.

const (
	lsb = 0x0101010101010101 // the low bit of every byte
	msb = 0x8080808080808080 // the high bit of every byte
	low = 0x7f7f7f7f7f7f7f7f // all but the high bit of every byte
)

// byteEq returns w with the high bit of each byte set exactly where that byte equals the
// byte b (repeated in pattern = b*lsb), and every other bit clear.
func byteEq(w, pattern uint64) uint64 {
	x := w ^ pattern
	return ^((x&low + low) | x) & msb
}

// gather packs the high bits of the eight bytes of m (as made by byteEq) into the low eight
// bits of the result, byte i of m (little-endian) becoming bit i.
func gather(m uint64) uint64 {
	return (m >> 7) * 0x0102040810204080 >> 56
}

// prefixXor returns x with each bit replaced by the XOR of it and all lower bits, which turns
// a mask of quotes into a mask of the bytes from each opening quote up to (not including) its
// closing quote.
func prefixXor(x uint64) uint64 {
	x ^= x << 1
	x ^= x << 2
	x ^= x << 4
	x ^= x << 8
	x ^= x << 16
	x ^= x << 32
	return x
}

// quoteMask64 returns the mask of quotes in the 64 bytes b[0:64], and whether the block
// contains a backslash. The loop over the eight words is unrolled by hand.
func quoteMask64(b []byte) (quotes uint64, backslash bool) {
	b = b[:64]
	w0 := binary.LittleEndian.Uint64(b[0:])
	w1 := binary.LittleEndian.Uint64(b[8:])
	w2 := binary.LittleEndian.Uint64(b[16:])
	w3 := binary.LittleEndian.Uint64(b[24:])
	w4 := binary.LittleEndian.Uint64(b[32:])
	w5 := binary.LittleEndian.Uint64(b[40:])
	w6 := binary.LittleEndian.Uint64(b[48:])
	w7 := binary.LittleEndian.Uint64(b[56:])
	quotes = gather(byteEq(w0, '"'*lsb)) | gather(byteEq(w1, '"'*lsb))<<8 |
		gather(byteEq(w2, '"'*lsb))<<16 | gather(byteEq(w3, '"'*lsb))<<24 |
		gather(byteEq(w4, '"'*lsb))<<32 | gather(byteEq(w5, '"'*lsb))<<40 |
		gather(byteEq(w6, '"'*lsb))<<48 | gather(byteEq(w7, '"'*lsb))<<56
	bs := hasZero(w0^'\\'*lsb) | hasZero(w1^'\\'*lsb) | hasZero(w2^'\\'*lsb) | hasZero(w3^'\\'*lsb) |
		hasZero(w4^'\\'*lsb) | hasZero(w5^'\\'*lsb) | hasZero(w6^'\\'*lsb) | hasZero(w7^'\\'*lsb)
	return quotes, bs != 0
}

// backslashMask64 returns the mask of backslashes in the 64 bytes b[0:64].
func backslashMask64(b []byte) uint64 {
	b = b[:64]
	const p = '\\' * lsb
	return gather(byteEq(binary.LittleEndian.Uint64(b[0:]), p)) |
		gather(byteEq(binary.LittleEndian.Uint64(b[8:]), p))<<8 |
		gather(byteEq(binary.LittleEndian.Uint64(b[16:]), p))<<16 |
		gather(byteEq(binary.LittleEndian.Uint64(b[24:]), p))<<24 |
		gather(byteEq(binary.LittleEndian.Uint64(b[32:]), p))<<32 |
		gather(byteEq(binary.LittleEndian.Uint64(b[40:]), p))<<40 |
		gather(byteEq(binary.LittleEndian.Uint64(b[48:]), p))<<48 |
		gather(byteEq(binary.LittleEndian.Uint64(b[56:]), p))<<56
}

const (
	evenBits = 0x5555555555555555 // bits 0, 2, 4, ...
	oddBits  = ^uint64(evenBits)  // bits 1, 3, 5, ...
)

// escapes returns the mask of the bytes of a 64-byte block that a backslash escapes and that
// are not themselves backslashes (the only ones that matter to the scan: an escaped quote does
// not end a string), given the mask bs of the block's backslashes and carry (0 or 1): whether
// the block's first byte is escaped by a backslash at the end of the previous block. carryOut
// says the same of the byte after the block. Only the first of each pair of backslashes
// escapes: a maximal run of n backslashes, counted from the first that is not itself escaped,
// escapes the byte after it if and only if n is odd. Backslashes outside strings are not told
// apart; they are errors, which the caller finds at the backslash, before any byte it may seem
// to escape.
//
// The byte after each run is found by adding the run's lowest bit to it, which carries
// through the run to that byte. Runs that start on even and on odd bits are added
// separately, so that the parity of the bit the carry lands on gives the run's parity: a run
// of odd length ends on a bit of the other parity than its start. A run that reaches bit 63
// carries out of the word: it has odd length, and escapes the next block's first byte, if
// and only if it starts on an odd bit.
func escapes(bs, carry uint64) (escaped, carryOut uint64) {
	escaped = carry &^ bs // the first byte, escaped from the previous block
	bs &^= carry          // an escaped backslash at bit 0 escapes nothing
	starts := bs &^ (bs << 1)
	evenEnds := (bs + starts&evenBits) &^ bs
	oddSum, carryOut := bits.Add64(bs, starts&oddBits, 0)
	oddEnds := oddSum &^ bs
	return escaped | evenEnds&oddBits | oddEnds&evenBits, carryOut
}

// hasZero is non-zero if and only if x has a zero byte.
func hasZero(x uint64) uint64 { return (x - lsb) &^ x & msb }

// scanBlocks is skipComposite's fast path. Starting outside any string at buf[i], it scans
// one 64-byte block at a time, tracking the open brackets on stack (the caller's) and whether
// a backslash at the end of a block escapes the first byte of the next. It stops at the end
// of the composite value (end >= 0), at a syntax error (bad >= 0, the index of the offending
// byte), or else at next, leaving the rest to the byte-at-a-time loop, when fewer than 64
// bytes are left; inString then tells whether next is inside a string (where buf[next] may
// be escaped: stringEnd, which looks back at the backslashes before a quote, needs no more
// state). The bytes outside strings get exactly the checks of the byte-at-a-time loop, in the
// same order, so both paths find the same end and the same first error.
func scanBlocks(buf []byte, i int, stack []byte) (next int, stackOut []byte, inString bool, end, bad int) {
	var carry uint64 // 1 if buf[i] is escaped
	for ; i+64 <= len(buf); i += 64 {
		block := buf[i : i+64]
		quotes, backslash := quoteMask64(block)
		if backslash || carry != 0 {
			var escaped uint64
			escaped, carry = escapes(backslashMask64(block), carry)
			quotes &^= escaped
		}
		in := prefixXor(quotes)
		if inString {
			in = ^in
		}
		inString = in>>63 != 0
		for outside := ^(in | quotes); outside != 0; outside &= outside - 1 {
			t := bits.TrailingZeros64(outside) & 63
			c := block[t]
			switch byteClass[c] {
			case classSkip:
			case classOpen:
				if len(stack) == MaxDepth {
					return i, stack, false, -1, i + t
				}
				stack = append(stack, c)
			case classClose:
				if len(stack) == 0 || c != stack[len(stack)-1]+2 { // '{'+2 == '}', '['+2 == ']'
					return i, stack, false, -1, i + t
				}
				stack = stack[:len(stack)-1]
				if len(stack) == 0 {
					return i, stack, false, i + t + 1, -1
				}
			default:
				return i, stack, false, -1, i + t
			}
		}
	}
	return i, stack, inString, -1, -1
}
