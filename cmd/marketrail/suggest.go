package main

import (
	"flag"
	"fmt"
	"strings"
)

// didYouMean returns "; did you mean PREFIXNAME?" for the candidate closest to name, or ""
// when none is close: at most one edit (an inserted, deleted or changed letter, or two
// neighbours swapped) for names of up to four letters, two for longer ones.
func didYouMean(name string, candidates []string, prefix string) string {
	limit := 1
	if len(name) > 4 {
		limit = 2
	}
	best, bestDist := "", limit+1
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(name), c); d < bestDist {
			best, bestDist = c, d
		}
	}
	if best == "" {
		return ""
	}
	return "; did you mean " + prefix + best + "?"
}

// editDistance is the optimal string alignment distance between a and b: the fewest
// insertions, deletions, substitutions and swaps of adjacent bytes that turn a into b.
func editDistance(a, b string) int {
	// d[i][j] is the distance between a[:i] and b[:j].
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// parseError rewrites an error of fs.Parse for a person: an unknown flag is named as it
// is written in the docs (--name) with the closest defined flag suggested.
func parseError(fs *flag.FlagSet, err error) error {
	const undefined = "flag provided but not defined: -"
	name, ok := strings.CutPrefix(err.Error(), undefined)
	if !ok {
		return err
	}
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	return fmt.Errorf("unknown flag --%s%s", name, didYouMean(name, names, "--"))
}
