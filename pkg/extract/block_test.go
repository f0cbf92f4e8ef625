package extract

import (
	"math/rand/v2"
	"testing"
)

// TestBlockMasks checks the word-wide helpers of the fast path against byte-by-byte loops,
// on random blocks rich in the bytes they look for and in their neighbours.
func TestBlockMasks(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("\"\\#!]\x00\x01\xa2\xdc\x22\x23\x5b\x5d\x7b\x7dabc ")
	block := make([]byte, 64)
	for range 20000 {
		for i := range block {
			if rng.IntN(4) == 0 {
				block[i] = byte(rng.Uint32())
			} else {
				block[i] = alphabet[rng.IntN(len(alphabet))]
			}
		}
		var want uint64
		wantBS := false
		for i, c := range block {
			if c == '"' {
				want |= 1 << i
			}
			wantBS = wantBS || c == '\\'
		}
		got, gotBS := quoteMask64(block)
		if got != want || gotBS != wantBS {
			t.Fatalf("quoteMask64(%q) = %064b, %v; want %064b, %v", block, got, gotBS, want, wantBS)
		}
		x := rng.Uint64()
		var px, acc uint64
		for i := range 64 {
			acc ^= x >> i & 1
			px |= acc << i
		}
		if got := prefixXor(x); got != px {
			t.Fatalf("prefixXor(%064b) = %064b, want %064b", x, got, px)
		}
	}
}
