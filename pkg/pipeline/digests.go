package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"slices"

	"github.com/marketrail/marketrail/pkg/digest"
	"github.com/marketrail/marketrail/pkg/report"
	"github.com/marketrail/marketrail/pkg/trail"
)

// newAuditor makes the run's digest audit (Config.VerifyDigests): it reads the digests of
// the window's days and of the day after, from every trail folder. A digest must be at the
// key it names, but its bucket is not compared with the source's: a replica of the trail
// bucket (S3 replication keeps keys and metadata) or a local copy is checked as well.
func newAuditor(ctx context.Context, cfg *Config, folders []trail.Folder) (*digest.Auditor, error) {
	keys := cfg.DigestKeys
	if keys == nil && cfg.FetchDigestKeys != nil && len(folders) > 0 {
		var regions []string
		for _, f := range folders {
			if !slices.Contains(regions, f.Region) {
				regions = append(regions, f.Region)
			}
		}
		slices.Sort(regions)
		// Keys valid from the first delivery day to the day after the last, when the last
		// digests of the window are delivered.
		start, end := cfg.From.Time(), cfg.To.AddDays(2).Time()
		var err error
		if keys, err = cfg.FetchDigestKeys(ctx, regions, start, end); err != nil {
			cfg.Logger.Warn("could not get CloudTrail's public keys: digest signatures are not checked (give them with --digest-public-keys)", "error", err.Error())
			keys = nil
		} else {
			cfg.Logger.Info("got CloudTrail's public keys", "regions", len(regions), "keys", len(keys))
		}
	}
	a := digest.NewAuditor(cfg.Source, "", keys, cfg.From, cfg.To)
	if err := a.Load(ctx, folders, cfg.Listings); err != nil {
		return nil, fmt.Errorf("read the digest files: %w", err)
	}
	return a, nil
}

// digestReport turns an audit's summary into the report's digests section.
func digestReport(s digest.Summary, metadata bool) *report.Digests {
	d := &report.Digests{
		DigestFiles: s.Digests, LogFilesVerified: s.Verified, VerifiedByBackfill: s.Backfill,
		HashMismatch: s.Mismatch, NotCovered: s.NotCovered, Missing: s.Missing,
		ChainBreaks: []report.ChainBreak{}, BadDigests: []report.Failure{},
		SignaturesChecked: s.SignaturesChecked, SignaturesVerified: s.SignaturesVerified, SignaturesUnknown: s.SignaturesUnknown,
		SignatureMetadata: metadata,
	}
	for _, b := range s.ChainBreaks {
		d.ChainBreaks = append(d.ChainBreaks, report.ChainBreak{Key: b.Key, Previous: b.Previous, Reason: b.Reason})
	}
	for _, p := range s.BadDigests {
		d.BadDigests = append(d.BadDigests, report.Failure{Key: p.Key, Reason: p.Reason})
	}
	return d
}

// logDigests logs what the digest audit found: a warning naming each problem, else one line.
func logDigests(log *slog.Logger, d *report.Digests) {
	for _, k := range d.HashMismatch {
		log.Warn("log file changed since CloudTrail delivered it: its content does not have the hash its digest lists", "key", k)
	}
	for _, k := range d.Missing {
		log.Warn("log file listed in a digest was not read (deleted, archived or failed)", "key", k)
	}
	for _, b := range d.ChainBreaks {
		log.Warn("digest chain broken", "key", b.Key, "previous", b.Previous, "reason", b.Reason)
	}
	for _, b := range d.BadDigests {
		log.Warn("bad digest file", "key", b.Key, "reason", b.Reason)
	}
	log.Info("checked log files against CloudTrail's digests", "digest_files", d.DigestFiles,
		"log_files_verified", d.LogFilesVerified, "not_covered", len(d.NotCovered), "hash_mismatch", len(d.HashMismatch),
		"missing", len(d.Missing), "chain_breaks", len(d.ChainBreaks), "bad_digests", len(d.BadDigests),
		"signatures_checked", d.SignaturesChecked, "signatures_verified", d.SignaturesVerified, "signatures_unknown", d.SignaturesUnknown)
}
