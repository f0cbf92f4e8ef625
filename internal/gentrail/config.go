// Package gentrail generates synthetic, deterministic AWS CloudTrail log archives laid out
// as CloudTrail writes them to S3, with the AWS Marketplace events in them known in
// advance: each archive comes with a Manifest, the ground truth marketrail's tests compare
// against. The Manifest is made from the generator's own decisions; gentrail depends on no
// other package of marketrail, so a bug there cannot hide in the expected results.
//
// A generated archive has organization trails (AWSLogs/o-ORGID/ACCOUNT/CloudTrail/...) and
// account trails (AWSLogs/ACCOUNT/CloudTrail/...) side by side; an account in both delivers
// every event twice. Beside each account's CloudTrail/ folder are CloudTrail-Digest/ (and,
// in the sample, CloudTrail-Insight/) folders whose files a correct tool never reads as
// events. Sample() is the configuration of the committed sample (testdata/trail, with its
// manifest in testdata/trail-manifest.json), which adds hand-placed special cases: late
// events, duplicates across trails, files and days, a record without eventID, non-log
// objects, Insights files and days outside the window.
package gentrail

import (
	"errors"
	"fmt"
	"time"
)

// Config says what to generate. The same Config always gives the same archive (the same
// keys and the same decompressed bytes) and the same Manifest.
type Config struct {
	Seed uint64 `json:"seed"`
	// Start is the first delivery day of the window (UTC; the time of day is ignored).
	Start time.Time `json:"start"`
	// Days is the number of delivery days in the window.
	Days int `json:"days"`
	// Accounts is the number of AWS accounts. Account 0 (the management account) is
	// delivered by both the organization trail and its own account trail, so that each of
	// its records is written twice; odd accounts by the organization trail only; the other
	// even accounts by their own account trail only.
	Accounts int `json:"accounts"`
	// Regions is the number of regions every account logs in (us-east-1 first).
	Regions int `json:"regions"`
	// FilesPerFolder is the number of log files each trail delivers per account, region
	// and day, when Files is 0.
	FilesPerFolder int `json:"files_per_folder"`
	// Files, when positive, is the number of regular log files in the window instead: they
	// are spread evenly over the accounts, regions and days (the count is exact or one
	// more, as an account in both trails gets its files in pairs).
	Files int `json:"files,omitempty"`
	// RecordsPerFile is the mean number of records of a regular log file (each has from
	// 3/4 to 5/4 of it).
	RecordsPerFile int `json:"records_per_file"`
	// MarketplaceRatio is the share of records that are Marketplace events.
	MarketplaceRatio float64 `json:"marketplace_ratio"`
	// DecoyRatio is the share of the other records that are decoys: events of other
	// services that mention Marketplace.
	DecoyRatio float64 `json:"decoy_ratio"`
	// DigestAccounts and DigestRegions say which folders get digest files (one per trail,
	// account, region and delivery day): the trails of the first DigestAccounts accounts, in
	// the first DigestRegions regions (more than there are means all).
	DigestAccounts int `json:"digest_accounts"`
	DigestRegions  int `json:"digest_regions"`
	// SignedDigests makes those digest files real: one per hour from the first delivery day
	// to the end of the last, each listing the SHA-256 of the uncompressed content of the
	// log files delivered in its hour, chained to the one before and signed with the
	// generator's test key (see DigestPublicKeys); the manifest records which digest lists
	// each log file, and each digest's signature. Without it, the digest files are
	// placeholders: one per folder and delivery day, with random signatures.
	SignedDigests bool `json:"signed_digests,omitempty"`
	// DigestBackfill, with SignedDigests, leaves the earliest log file of each digested
	// folder out of its hourly digest and lists it in a _backfill digest of the same hour.
	DigestBackfill bool `json:"digest_backfill,omitempty"`
	// Redeliveries is the share of the Marketplace events (with an eventID) of each folder's
	// last log file of a day that CloudTrail delivers again at the start of the folder's
	// first log file of the next day, as real trails do across midnight. The last file of a
	// day is stamped after 23:00, so the second copies are in the next day's files and
	// Manifest.Expected drops them.
	Redeliveries float64 `json:"redeliveries,omitempty"`
	// EscapedNoise is the share of the noise records (neither Marketplace events nor decoys)
	// that are calls logging documents as JSON text: IAM policies, CloudFormation templates,
	// SSM parameters and documents, Lambda environments, EventBridge patterns, full of
	// backslashes. They replace ordinary noise records one for one, drawn from a random
	// stream of their own, so the Marketplace events, decoys and Manifest.Expected are those
	// of the same Config without it. 0 (the default, and the sample's) writes none;
	// EscapedNoiseTypical gives about 10 % backslashes by byte, as a trail busy with
	// infrastructure changes has.
	EscapedNoise float64 `json:"escaped_noise,omitempty"`
	// FastGzip compresses with gzip's fastest level: larger files, made sooner.
	FastGzip bool `json:"fast_gzip,omitempty"`
	// Specials adds the sample's hand-placed special cases (it needs Accounts >= 3,
	// Regions >= 2 and Days >= 3).
	Specials bool `json:"specials"`
}

// Sample is the configuration of the committed sample, testdata/trail: 3 accounts (one in
// both trail layouts, one in each), 2 regions, delivery days 2024-03-01 to 2024-03-03 plus
// one day before and one after, and every special case. It is kept small (few folders)
// because it is committed.
func Sample() Config {
	return Config{
		Seed:             20240301,
		Start:            time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC),
		Days:             3,
		Accounts:         3,
		Regions:          2,
		FilesPerFolder:   1,
		RecordsPerFile:   12,
		MarketplaceRatio: 0.3,
		DecoyRatio:       0.03,
		DigestAccounts:   1,
		DigestRegions:    1,
		Specials:         true,
	}
}

// Large is an archive of about files log files (at least files): 8 accounts (all with
// digest files), 4 regions,
// 7 delivery days from 2024-05-01, 40 records per file, 5% of them Marketplace events.
// Change its fields for other shapes, e.g. RecordsPerFile = 2500 for files of about 3 MB of
// JSON, or RecordsPerFile = 5 for many tiny ones.
func Large(files int) Config {
	return Config{
		Seed:             7,
		Start:            time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC),
		Days:             7,
		Accounts:         8,
		Regions:          4,
		FilesPerFolder:   1,
		Files:            files,
		RecordsPerFile:   40,
		MarketplaceRatio: 0.05,
		DecoyRatio:       0.01,
		DigestAccounts:   8,
		DigestRegions:    4,
		FastGzip:         true,
	}
}

// Validate reports what is wrong with c, if anything.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Start.IsZero() {
		bad("Start is not set")
	} else if c.Start.UTC().Year() < 2014 {
		bad("Start %s is before CloudTrail's archives", c.Start.UTC().Format(dayLayout))
	}
	if c.Days < 1 {
		bad("Days %d < 1", c.Days)
	}
	if c.Accounts < 1 {
		bad("Accounts %d < 1", c.Accounts)
	}
	if c.Regions < 1 || c.Regions > MaxRegions {
		bad("Regions %d not in 1..%d", c.Regions, MaxRegions)
	}
	if c.Files < 0 {
		bad("Files %d < 0", c.Files)
	}
	if c.Files == 0 && c.FilesPerFolder < 1 {
		bad("FilesPerFolder %d < 1 (and Files is 0)", c.FilesPerFolder)
	}
	if c.RecordsPerFile < 1 {
		bad("RecordsPerFile %d < 1", c.RecordsPerFile)
	}
	if c.MarketplaceRatio < 0 || c.MarketplaceRatio > 1 {
		bad("MarketplaceRatio %v not in [0, 1]", c.MarketplaceRatio)
	}
	if c.Redeliveries < 0 || c.Redeliveries > 1 {
		bad("Redeliveries %v not in [0, 1]", c.Redeliveries)
	}
	if c.EscapedNoise < 0 || c.EscapedNoise > 1 {
		bad("EscapedNoise %v not in [0, 1]", c.EscapedNoise)
	}
	if c.DecoyRatio < 0 || c.DecoyRatio > 1 {
		bad("DecoyRatio %v not in [0, 1]", c.DecoyRatio)
	}
	if c.DigestAccounts < 0 || c.DigestRegions < 0 {
		bad("DigestAccounts %d or DigestRegions %d < 0", c.DigestAccounts, c.DigestRegions)
	}
	if c.DigestBackfill && !c.SignedDigests {
		bad("DigestBackfill needs SignedDigests")
	}
	if c.Specials && (c.Accounts < 3 || c.Regions < 2 || c.Days < 3) {
		bad("Specials needs Accounts >= 3, Regions >= 2 and Days >= 3")
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("gentrail: bad config: %w", err)
	}
	return nil
}

// normalized returns c with Start at midnight UTC.
func (c Config) normalized() Config {
	s := c.Start.UTC()
	c.Start = time.Date(s.Year(), s.Month(), s.Day(), 0, 0, 0, 0, time.UTC)
	return c
}

// EscapedNoiseTypical is the EscapedNoise that gives an archive of Large's shape about 10 %
// backslashes by byte of its JSON, as measured by TestEscapedNoise.
const EscapedNoiseTypical = 0.45
