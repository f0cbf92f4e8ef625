package lake

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestPermute(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 1, 2, 3, 10, 257} {
		for range 20 {
			rows := make([]string, n)
			for i := range rows {
				rows[i] = string(rune('a'+i%26)) + string(rune('0'+i/26%10))
			}
			order := r.Perm(n)
			want := make([]string, n)
			for k, src := range order {
				want[k] = rows[src]
			}
			permute(rows, slices.Clone(order))
			if !slices.Equal(rows, want) {
				t.Fatalf("permute(%v) = %v, want %v", order, rows, want)
			}
		}
	}
}
