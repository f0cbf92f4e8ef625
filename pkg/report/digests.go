package report

// Digests is what checking the log files against CloudTrail's integrity digests found
// (marketrail run --verify-digests): see docs/report.md.
type Digests struct {
	DigestFiles        int `json:"digest_files"`         // digest files read (hourly and _backfill), of the window's days and the day after
	LogFilesVerified   int `json:"log_files_verified"`   // log files read whose content has the SHA-256 a digest lists
	VerifiedByBackfill int `json:"verified_by_backfill"` // of which listed by a _backfill digest only
	// HashMismatch: log files read whose content does not have the SHA-256 a digest lists.
	HashMismatch []string `json:"hash_mismatch"`
	// NotCovered: log files read that no digest read lists.
	NotCovered []string `json:"not_covered"`
	// Missing: log files of days the run read that a digest lists, but that were not read
	// (deleted, archived, or failed).
	Missing []string `json:"missing"`
	// ChainBreaks: digests that do not link to the one before them.
	ChainBreaks []ChainBreak `json:"chain_breaks"`
	// BadDigests: digest files that cannot be read, are not where they say they were
	// delivered, or whose signature does not verify.
	BadDigests []Failure `json:"bad_digests"`
	// SignaturesChecked: public keys were given (--digest-public-keys), so signatures were
	// checked; SignatureMetadata: the source keeps object metadata (S3), where each
	// digest's own signature is; a local copy has none, and only the signatures the next
	// digest records can be checked.
	SignaturesChecked  bool `json:"signatures_checked"`
	SignatureMetadata  bool `json:"signature_metadata"`
	SignaturesVerified int  `json:"signatures_verified"` // digests whose signature verified
	SignaturesUnknown  int  `json:"signatures_unknown"`  // digests whose signature was not at hand
}

// ChainBreak is a digest that does not link to the one before it in its chain.
type ChainBreak struct {
	Key      string `json:"key"`      // the digest
	Previous string `json:"previous"` // the previous digest it names; "" for a restart
	// Reason: missing (the previous digest is not there), order (it names another digest
	// than the one before it), hash (the previous digest's content changed), signature (the
	// previous digest's signature changed), restart (a starting digest after others).
	Reason string `json:"reason"`
}

// Problems reports whether the check found what CloudTrail did not write: a log file whose
// content does not match its digest, a log file a digest lists that is gone, a broken chain
// or a bad digest. Log files no digest lists are not a problem (trails without integrity
// validation have none). A nil Digests (no check) has none.
func (d *Digests) Problems() bool {
	return d != nil && (len(d.HashMismatch) > 0 || len(d.Missing) > 0 || len(d.ChainBreaks) > 0 || len(d.BadDigests) > 0)
}
