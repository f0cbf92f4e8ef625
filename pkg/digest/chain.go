package digest

import (
	"slices"
	"strings"

	"github.com/marketrail/marketrail/pkg/trail"
)

// Reasons a chain breaks.
const (
	// BreakMissing: a digest names a previous digest that is not there (deleted), in a
	// digest folder that was read.
	BreakMissing = "missing"
	// BreakOrder: a digest names another previous digest than the one before it.
	BreakOrder = "order"
	// BreakHash: previousDigestHashValue is not the hash of the previous digest's content
	// (the previous digest was changed).
	BreakHash = "hash"
	// BreakSignature: previousDigestSignature is not the previous digest's signature.
	BreakSignature = "signature"
	// BreakRestart: a starting digest (no previous one) after earlier digests of its chain:
	// validation or logging was stopped and started again in between.
	BreakRestart = "restart"
)

// Break is one broken link of a chain: the digest Key does not link to its predecessor.
type Break struct {
	Chain    Chain  `json:"chain"`
	Key      string `json:"key"`      // the digest whose link is broken
	Previous string `json:"previous"` // the previous digest it names ("" for a restart)
	Reason   string `json:"reason"`   // Break*
}

// ChainResult is what VerifyChains found.
type ChainResult struct {
	Breaks []Break
	// Signatures holds, by digest key, the signature the next digest of the chain records
	// for it (its previousDigestSignature), for each digest whose link to its successor
	// holds: it verifies a digest whose own metadata is not at hand (a local copy).
	Signatures map[string]string
}

// VerifyChains checks the links of the hourly digests in files, chain by chain (trail,
// account and region; see ParseName): sorted by end time, each digest must name the one
// before it (previousDigestS3Bucket/previousDigestS3Object), with that digest's content hash
// (previousDigestHashValue) and, when its signature is known, that signature
// (previousDigestSignature). A first digest naming a digest in a day folder that read(day)
// says was read, yet not among files, is a break too: deleting the first digests of a window
// is noticed as well as deleting one in the middle, across day folders alike.
//
// Every file must have Key set. Files whose key does not parse as a digest name, and
// _backfill digests (which are outside the hourly chain), are left out.
func VerifyChains(files []*File, read func(trail.Day) bool) ChainResult {
	res := ChainResult{Signatures: map[string]string{}}
	type item struct {
		f *File
		n Name
	}
	chains := map[Chain][]item{}
	byKey := map[string]bool{}
	for _, f := range files {
		n, err := ParseName(f.Key)
		if err != nil || n.Backfill {
			continue
		}
		chains[n.Chain] = append(chains[n.Chain], item{f, n})
		byKey[f.Key] = true
	}
	ids := make([]Chain, 0, len(chains))
	for c := range chains {
		ids = append(ids, c)
	}
	slices.SortFunc(ids, func(a, b Chain) int { return strings.Compare(a.String(), b.String()) })
	for _, id := range ids {
		items := chains[id]
		slices.SortFunc(items, func(a, b item) int {
			if c := a.n.End.Compare(b.n.End); c != 0 {
				return c
			}
			return strings.Compare(a.f.Key, b.f.Key)
		})
		for i, it := range items {
			cur := it.f
			brk := func(prev, reason string) {
				res.Breaks = append(res.Breaks, Break{Chain: id, Key: cur.Key, Previous: prev, Reason: reason})
			}
			if cur.Starting() {
				if i > 0 {
					brk("", BreakRestart)
				}
				continue
			}
			prevKey := RelativeKey(*cur.PreviousDigestS3Object)
			if i == 0 {
				// The previous digest is before the digests read: a break only if its folder
				// was read (it was deleted), or if it cannot be a digest at all.
				pn, err := ParseName(prevKey)
				if err != nil || pn.Chain != id {
					brk(prevKey, BreakOrder)
				} else if read != nil && read(pn.Day) {
					brk(prevKey, BreakMissing)
				}
				continue
			}
			prev := items[i-1].f
			switch {
			case prevKey != prev.Key && byKey[prevKey]:
				brk(prevKey, BreakOrder)
			case prevKey != prev.Key:
				brk(prevKey, BreakMissing)
			case *cur.PreviousDigestS3Bucket != prev.DigestS3Bucket:
				brk(prevKey, BreakOrder)
			case *cur.PreviousDigestHashAlgorithm != HashAlgorithm || !strings.EqualFold(*cur.PreviousDigestHashValue, prev.Hash()):
				brk(prevKey, BreakHash)
			case prev.Signature != "" && !strings.EqualFold(prev.Signature, *cur.PreviousDigestSignature):
				brk(prevKey, BreakSignature)
			default:
				res.Signatures[prev.Key] = *cur.PreviousDigestSignature
			}
		}
	}
	return res
}
