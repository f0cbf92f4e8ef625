package digest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/marketrail/marketrail/pkg/storage"
	"github.com/marketrail/marketrail/pkg/trail"
)

// Auditor checks the log files of a window of delivery days against the archive's digests.
// Load the digests first (Load), then hand it each log file's content hash as the file is
// read (Check, safe for concurrent use), then ask for the Summary.
type Auditor struct {
	store  storage.Storage
	bucket string // the digests' bucket, "" when unknown (a local copy)
	keys   KeySet // nil: signatures are not checked

	from, to trail.Day // the window of log files' delivery days

	digests []*File
	bad     []Problem // digests that could not be read or are not where they say
	// entries holds, by log key (relative to the storage root), the digest entries that
	// list it, hourly digests before backfills.
	entries map[string][]entry
	folders map[trail.Folder]bool
	days    map[trail.Day]bool // digest folders read

	mu      sync.Mutex
	checked map[string]string  // log key -> outcome
	read    map[trail.Day]bool // delivery days whose log files are read (DayRead); nil: all
}

type entry struct {
	digest string // the digest's key
	e      LogFile
}

// Problem names an object and what is wrong with it.
type Problem struct {
	Key    string `json:"key"`
	Reason string `json:"reason"`
}

// Summary is what an audit found.
type Summary struct {
	Digests  int      `json:"digests"`       // digest files read (hourly and backfill)
	Verified int      `json:"verified"`      // log files whose content has the hash a digest lists
	Backfill int      `json:"backfill"`      // of which listed by a _backfill digest only
	Mismatch []string `json:"hash_mismatch"` // log files whose content does not have the listed hash
	// NotCovered are log files read that no digest read lists.
	NotCovered []string `json:"not_covered"`
	// Missing are log files of the window that a digest lists but that were not read
	// (deleted, or skipped as archived).
	Missing []string `json:"missing"`
	// ChainBreaks are the broken links between digests.
	ChainBreaks []Break `json:"chain_breaks"`
	// BadDigests are digest files that cannot be read, are not where they say they were
	// delivered, or whose signature does not verify.
	BadDigests []Problem `json:"bad_digests"`
	// SignaturesChecked says whether digest signatures were checked (public keys given);
	// SignaturesVerified how many verified, SignaturesUnknown how many digests had no
	// signature at hand (no object metadata, and no next digest recording it).
	SignaturesChecked  bool `json:"signatures_checked"`
	SignaturesVerified int  `json:"signatures_verified"`
	SignaturesUnknown  int  `json:"signatures_unknown"`
}

// Log file outcomes of Check.
const (
	Verified   = "verified"
	Mismatch   = "hash_mismatch"
	NotCovered = "not_covered"
)

// NewAuditor returns an Auditor for the log files delivered from..to (inclusive) in store.
// bucket, when not "", is the bucket the digests must say they were delivered to. keys nil
// means signatures are not checked.
func NewAuditor(store storage.Storage, bucket string, keys KeySet, from, to trail.Day) *Auditor {
	return &Auditor{
		store: store, bucket: bucket, keys: keys, from: from, to: to,
		entries: map[string][]entry{}, folders: map[trail.Folder]bool{}, days: map[trail.Day]bool{},
		checked: map[string]string{},
	}
}

// DayRead says that the log files of delivery day d are read (and checked) by this run:
// once it is called, log files that digests list are reported missing only for the days it
// was called for. A run that skips unchanged days calls it for the days it reads.
func (a *Auditor) DayRead(d trail.Day) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.read == nil {
		a.read = map[trail.Day]bool{}
	}
	a.read[d] = true
}

// Load reads the digests of folders that cover the window: the digest folders of its days
// and of the day after (a digest covering the last hour of a day is delivered the next day).
// A digest's signature comes from the object's metadata when the storage keeps it.
func (a *Auditor) Load(ctx context.Context, folders []trail.Folder, concurrency int) error {
	days := trail.Range(a.from, a.to.AddDays(1))
	var keys []string
	var mu sync.Mutex
	lg, lctx := errgroup.WithContext(ctx)
	lg.SetLimit(max(concurrency, 1))
	for _, f := range folders {
		a.folders[f] = true
		lg.Go(func() error {
			for _, d := range days {
				prefix := DayPrefix(f, d)
				for e, err := range a.store.List(lctx, prefix, false) {
					if err != nil {
						return fmt.Errorf("list digests: %w", err)
					}
					name := strings.TrimPrefix(e.Key, prefix)
					if e.IsPrefix || strings.Contains(name, "/") || !strings.HasSuffix(name, ".json.gz") {
						continue
					}
					mu.Lock()
					keys = append(keys, e.Key)
					mu.Unlock()
				}
			}
			return nil
		})
	}
	if err := lg.Wait(); err != nil {
		return err
	}
	slices.Sort(keys)
	for _, d := range days {
		a.days[d] = true
	}
	files := make([]*File, len(keys))
	probs := make([]string, len(keys))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(concurrency, 1))
	for i, key := range keys {
		g.Go(func() error {
			f, why, err := a.loadOne(gctx, key)
			files[i], probs[i] = f, why
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for i, f := range files {
		if probs[i] != "" {
			a.bad = append(a.bad, Problem{Key: keys[i], Reason: probs[i]})
			continue
		}
		a.digests = append(a.digests, f)
	}
	// Index the log files, hourly digests first.
	slices.SortFunc(a.digests, func(x, y *File) int {
		xb, yb := strings.HasSuffix(x.Key, "_backfill.json.gz"), strings.HasSuffix(y.Key, "_backfill.json.gz")
		if xb != yb {
			if xb {
				return 1
			}
			return -1
		}
		return strings.Compare(x.Key, y.Key)
	})
	for _, f := range a.digests {
		for _, l := range f.LogFiles {
			k := RelativeKey(l.S3Object)
			a.entries[k] = append(a.entries[k], entry{digest: f.Key, e: l})
		}
		f.Compact()
	}
	return nil
}

// loadOne reads one digest. why says what is wrong with the digest itself; err is a failure
// to read it at all, which fails the audit.
func (a *Auditor) loadOne(ctx context.Context, key string) (f *File, why string, err error) {
	err = a.store.Load(ctx, key, func(r io.Reader) error {
		var perr error
		f, perr = Parse(r)
		return perr
	})
	switch {
	case errors.Is(err, ErrFormat):
		return nil, err.Error(), nil
	case errors.Is(err, storage.ErrNotExist):
		return nil, "deleted while the audit read it", nil
	case err != nil:
		return nil, "", fmt.Errorf("read digest %s: %w", key, err)
	}
	f.Key = key
	if err := VerifyLocation(f, a.bucket, key); err != nil {
		return nil, err.Error(), nil
	}
	md, err := storage.LoadMetadata(ctx, a.store, key)
	switch {
	case err == nil:
		for k, v := range md { // x-amz-meta-signature; S3 gives names in lower case, but be sure
			if strings.EqualFold(k, "signature") {
				f.Signature = v
			}
		}
	case !errors.Is(err, storage.ErrNoMetadata):
		return nil, "", fmt.Errorf("read digest metadata %s: %w", key, err)
	}
	return f, "", nil
}

// Covers reports whether any digest read lists key.
func (a *Auditor) Covers(key string) bool { return len(a.entries[key]) > 0 }

// Check records the SHA-256 of log file key's uncompressed content and returns the outcome:
// Verified, Mismatch or NotCovered. Checking a key again replaces its outcome.
func (a *Auditor) Check(key string, sum []byte) string {
	out := NotCovered
	if es := a.entries[key]; len(es) > 0 {
		out = Mismatch
		for _, e := range es {
			if VerifyLogFile(e.e, sum) == nil {
				out = Verified
				break
			}
		}
	}
	a.mu.Lock()
	a.checked[key] = out
	a.mu.Unlock()
	return out
}

// Summary returns what the audit found: the log files checked, the digests' chains and
// signatures, and the log files digests list that were never checked.
func (a *Auditor) Summary() Summary {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := Summary{
		Digests:    len(a.digests) + len(a.bad),
		Mismatch:   []string{},
		NotCovered: []string{},
		Missing:    []string{},
		BadDigests: append([]Problem{}, a.bad...),
	}
	for key, out := range a.checked {
		switch out {
		case Verified:
			s.Verified++
			if onlyBackfill(a.entries[key]) {
				s.Backfill++
			}
		case Mismatch:
			s.Mismatch = append(s.Mismatch, key)
		case NotCovered:
			s.NotCovered = append(s.NotCovered, key)
		}
	}
	for key := range a.entries {
		if _, ok := a.checked[key]; ok {
			continue
		}
		k, err := trail.ParseKey(key)
		if err != nil || k.Kind != trail.KindLogs || k.Day.Before(a.from) || k.Day.After(a.to) || !a.folders[k.Folder] ||
			a.read != nil && !a.read[k.Day] {
			continue
		}
		s.Missing = append(s.Missing, key)
	}
	chain := VerifyChains(a.digests, func(d trail.Day) bool { return a.days[d] })
	s.ChainBreaks = chain.Breaks
	if s.ChainBreaks == nil {
		s.ChainBreaks = []Break{}
	}
	if a.keys != nil {
		s.SignaturesChecked = true
		for _, f := range a.digests {
			sig := f.Signature
			if sig == "" {
				sig = chain.Signatures[f.Key]
			}
			if sig == "" {
				s.SignaturesUnknown++
				continue
			}
			if err := VerifySignature(f, sig, a.keys); err != nil {
				s.BadDigests = append(s.BadDigests, Problem{Key: f.Key, Reason: err.Error()})
				continue
			}
			s.SignaturesVerified++
		}
	}
	slices.Sort(s.Mismatch)
	slices.Sort(s.NotCovered)
	slices.Sort(s.Missing)
	slices.SortFunc(s.BadDigests, func(x, y Problem) int { return strings.Compare(x.Key, y.Key) })
	return s
}

func onlyBackfill(es []entry) bool {
	for _, e := range es {
		if !strings.HasSuffix(e.digest, "_backfill.json.gz") {
			return false
		}
	}
	return len(es) > 0
}
