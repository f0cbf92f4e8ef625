package extract

import (
	"bytes"
	"strings"
)

// marketplaceNeedle is the substring every AWS Marketplace event source contains.
const marketplaceNeedle = "marketplace"

// awsSuffix ends the name of every AWS event source.
const awsSuffix = ".amazonaws.com"

// knownSources are the Marketplace event sources seen in CloudTrail or its documentation.
// Match returns these constants instead of allocating a new string for each event.
var knownSources = []string{
	"metering-marketplace.amazonaws.com",
	"agreement-marketplace.amazonaws.com",
	"marketplacecatalog.amazonaws.com",
	"discovery-marketplace.amazonaws.com",
	"deployment-marketplace.amazonaws.com",
	"reporting-marketplace.amazonaws.com",
	"marketplacecommerceanalytics.amazonaws.com",
	"entitlement.marketplace.amazonaws.com",
	"aws-marketplace.amazonaws.com",
}

// Filter selects records by their top-level eventSource. It is the cheap pre-filter in front
// of the full decode: most records are rejected by one substring search that allocates
// nothing. A Filter is read-only after NewFilter, so workers may share one.
//
// The pre-filter searches the raw record bytes for the source name (or "marketplace") as it is
// written. It assumes the name is not spelled with \u escapes in the JSON text; CloudTrail never
// escapes ASCII letters, so this holds for real logs, but a record such as
// {"eventSource":"market\u0070lace.amazonaws.com"} would be missed.
type Filter struct {
	needles []needle // the record must contain one of these
	sources []string // exact sources to select; nil selects Marketplace
}

// commonBytes lists bytes in order of how often they occur in CloudTrail JSON, most
// frequent first (measured on public samples); bytes not listed are rarer still.
const commonBytes = `e" astnr:o,l01ci-u2md3.4v5g86pb7Sf9ATI{}wM/DRECNyzh_ZkPVWLKqxUOGFHBJXj`

// needle is a substring to search for, with the position of its rarest byte. Searching for
// that byte with bytes.IndexByte and checking the bytes around each hit is faster on
// CloudTrail text than bytes.Index, whose first-byte search stops at every 'm' of "marketplace".
type needle struct {
	s    []byte
	rare int
}

func newNeedle(s string) needle {
	n := needle{s: []byte(s)}
	rank := -1
	for i := 0; i < len(s); i++ {
		r := strings.IndexByte(commonBytes, s[i])
		if r < 0 {
			r = len(commonBytes)
		}
		if r > rank {
			n.rare, rank = i, r
		}
	}
	return n
}

// in reports whether the needle occurs in b.
func (n *needle) in(b []byte) bool {
	c := n.s[n.rare]
	for i := n.rare; i < len(b); i++ {
		k := bytes.IndexByte(b[i:], c)
		if k < 0 {
			return false
		}
		i += k
		if start := i - n.rare; start+len(n.s) <= len(b) && bytes.Equal(b[start:start+len(n.s)], n.s) {
			return true
		}
	}
	return false
}

// NewFilter returns a Filter for the given event sources (such as "s3.amazonaws.com"), matched
// exactly. With no sources (nil or only empty strings) it selects AWS Marketplace: every
// eventSource that contains "marketplace" and ends in ".amazonaws.com" (metering-marketplace,
// marketplacecatalog, agreement-marketplace, discovery-marketplace, deployment-marketplace,
// reporting-marketplace, marketplacecommerceanalytics, entitlement.marketplace,
// aws-marketplace, ...).
func NewFilter(sources []string) *Filter {
	f := &Filter{}
	for _, src := range sources {
		if src == "" || contains(f.sources, src) {
			continue
		}
		f.sources = append(f.sources, src)
		f.needles = append(f.needles, newNeedle(src))
	}
	if len(f.sources) == 0 {
		f.sources = nil
		f.needles = []needle{newNeedle(marketplaceNeedle)}
	}
	return f
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// defaultFilter serves a nil *Filter.
var defaultFilter = NewFilter(nil)

// Match reports whether rec (one raw record from a Scanner) is selected, and if so its
// top-level eventSource (otherwise ""). A record is a candidate only if it contains the needle ("marketplace",
// or one of the sources); for the few that do, Match reads the top-level "eventSource" string,
// skipping nested values without decoding them, and tests it exactly. So an event that only
// mentions Marketplace elsewhere (userIdentity.invokedBy, requestParameters, sourceIPAddress)
// is not selected, and neither is an Insight record, whose eventSource is nested in
// insightDetails. A nil Filter selects Marketplace. Match does not allocate unless the
// selected eventSource is an unknown Marketplace source or is written with escapes.
func (f *Filter) Match(rec []byte) (eventSource string, ok bool) {
	return f.match(rec, false)
}

// MatchHead is Match for the head of a record that was truncated (see Scanner.Truncated):
// it selects the record if the head contains the needle and a top-level eventSource that
// the Filter selects, written before the head ends.
func (f *Filter) MatchHead(head []byte) (eventSource string, ok bool) {
	return f.match(head, true)
}

func (f *Filter) match(rec []byte, partial bool) (eventSource string, ok bool) {
	if f == nil {
		f = defaultFilter
	}
	candidate := false
	for i := range f.needles {
		if f.needles[i].in(rec) {
			candidate = true
			break
		}
	}
	if !candidate {
		return "", false
	}
	raw, ok := topLevelRaw(rec, "eventSource", partial)
	if !ok {
		return "", false
	}
	if !plainString(raw) {
		src := unquote(raw)
		if f.selects(src) {
			return src, true
		}
		return "", false
	}
	if f.sources != nil {
		for _, src := range f.sources {
			if string(raw) == src {
				return src, true
			}
		}
		return "", false
	}
	if !bytes.Contains(raw, []byte(marketplaceNeedle)) || !bytes.HasSuffix(raw, []byte(awsSuffix)) {
		return "", false
	}
	for _, src := range knownSources {
		if string(raw) == src {
			return src, true
		}
	}
	return string(raw), true
}

// selects reports whether f selects the event source src.
func (f *Filter) selects(src string) bool {
	if f.sources != nil {
		return contains(f.sources, src)
	}
	return strings.Contains(src, marketplaceNeedle) && strings.HasSuffix(src, awsSuffix)
}

// TopLevelString returns the value of a top-level string field of the JSON object rec, without
// decoding the rest of it: nested objects, arrays and strings are skipped by their brackets and
// quotes. JSON escapes in the value are decoded (as encoding/json does). It returns ok=false if
// rec is not an object, the key is absent, its value is not a string, or rec is malformed
// before the end of the object. Keys are compared exactly (case-sensitively) after decoding
// their escapes; if a key occurs twice, the last occurrence wins, as in encoding/json.
func TopLevelString(rec []byte, key string) (string, bool) {
	raw, ok := topLevelRaw(rec, key, false)
	if !ok {
		return "", false
	}
	return unquote(raw), true
}

// topLevelRaw returns the raw content (between the quotes, escapes undecoded) of the string
// value of the last top-level occurrence of key in the object rec. With partial, rec may be
// the beginning of an object: the last occurrence before rec ends counts.
func topLevelRaw(rec []byte, key string, partial bool) (raw []byte, ok bool) {
	// stop ends the search early (at the end of rec, or malformed JSON): nothing is found,
	// unless partial, where what was found so far stands.
	stop := func() ([]byte, bool) {
		if partial && ok {
			return raw, true
		}
		return nil, false
	}
	i := skipSpace(rec, 0)
	if i >= len(rec) || rec[i] != '{' {
		return nil, false
	}
	i = skipSpace(rec, i+1)
	if i < len(rec) && rec[i] == '}' {
		return nil, false
	}
	for {
		if i >= len(rec) || rec[i] != '"' {
			return stop()
		}
		end := stringEnd(rec, i+1)
		if end < 0 {
			return stop()
		}
		match := keyIs(rec[i+1:end], key)
		i = skipSpace(rec, end+1)
		if i >= len(rec) || rec[i] != ':' {
			return stop()
		}
		i = skipSpace(rec, i+1)
		start := i
		if i = skipValue(rec, i); i < 0 {
			return stop()
		}
		if match {
			if rec[start] == '"' {
				raw, ok = rec[start+1:i-1], true
			} else {
				raw, ok = nil, false
			}
		}
		i = skipSpace(rec, i)
		if i >= len(rec) {
			return stop()
		}
		switch rec[i] {
		case '}':
			return raw, ok
		case ',':
			i = skipSpace(rec, i+1)
		default:
			return stop()
		}
	}
}
