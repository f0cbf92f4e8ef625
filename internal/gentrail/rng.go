package gentrail

import (
	"math/rand/v2"
	"time"
)

// Every random choice comes from a PCG seeded from Config.Seed and a stream number, so the
// same Config always gives the same archive, whatever the order the workers run in.

// Streams of the generator's random number generators (the PCG's second seed word).
const (
	streamWorld   = 1       // accounts, products, customers...
	streamPlan    = 2       // file names, delivery times, record counts
	streamSpecial = 3       // the hand-placed special cases
	streamDigest  = 4       // digest signatures
	streamRedeliv = 2 << 32 // + batch number: which events it delivers again after midnight
	streamBatch   = 1 << 32 // + batch number: the records of one regular batch
	streamEscaped = 3 << 32 // + batch number: which noise records of a batch are escaped ones, and them
)

func newRNG(seed, stream uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, stream)) }

const (
	digitChars = "0123456789"
	lowerChars = "abcdefghijklmnopqrstuvwxyz0123456789"
	upperChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	mixedChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	hexChars   = "0123456789abcdef"
	b64Chars   = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
)

// randStr returns n characters drawn from alphabet.
func randStr(r *rand.Rand, alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

// accountID returns a 12-digit AWS account id (never starting with 0).
func accountID(r *rand.Rand) string {
	return string(rune('1'+r.IntN(9))) + randStr(r, digitChars, 11)
}

// uuid4 returns a random (version 4) UUID in its canonical text form.
func uuid4(r *rand.Rand) string {
	var u [16]byte
	for i := 0; i < 16; i += 8 {
		x := r.Uint64()
		for j := 0; j < 8; j++ {
			u[i+j] = byte(x >> (8 * j))
		}
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	b := make([]byte, 0, 36)
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, hexDigits[c>>4], hexDigits[c&0xf])
	}
	return string(b)
}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

func chance(r *rand.Rand, p float64) bool { return r.Float64() < p }

// between returns a time in [from, to), whole seconds.
func between(r *rand.Rand, from, to time.Time) time.Time {
	d := int64(to.Sub(from) / time.Second)
	if d <= 0 {
		return from
	}
	return from.Add(time.Duration(r.Int64N(d)) * time.Second)
}

// weighted picks an index with probability proportional to its weight.
func weighted(r *rand.Rand, weights []int, total int) int {
	x := r.IntN(total)
	for i, w := range weights {
		if x < w {
			return i
		}
		x -= w
	}
	return len(weights) - 1
}
