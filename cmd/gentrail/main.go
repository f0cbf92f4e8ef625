// Command gentrail writes a synthetic AWS CloudTrail log archive, laid out as CloudTrail
// writes it to S3, and its manifest: the Marketplace events it holds, known in advance.
//
// The committed sample is regenerated with
//
//	go run ./cmd/gentrail -sample -clean -out testdata/trail -manifest testdata/trail-manifest.json
//
// and a large archive (about 2,000 log files) with
//
//	go run ./cmd/gentrail -files 2000 -out /tmp/trail -manifest /tmp/trail-manifest.json
//
// and one whose JSON is about 10 % backslashes (policy documents and templates logged as
// JSON text), with the same Marketplace events, with
//
//	go run ./cmd/gentrail -files 2000 -escaped-noise 0.45 -out /tmp/trail-escaped -manifest /tmp/trail-escaped-manifest.json
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/marketrail/marketrail/internal/gentrail"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gentrail", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, `gentrail writes a deterministic synthetic CloudTrail archive and its manifest.

Usage: gentrail -out DIR -manifest FILE [-sample | flags]

The archive is written under DIR (the bucket root: DIR/AWSLogs/...), the manifest to FILE,
which must be outside DIR. Without -sample the configuration is gentrail.Large(-files),
changed by the flags given.

Flags:
`)
		fs.PrintDefaults()
	}
	out := fs.String("out", "", "the folder to write the archive in (the bucket root; required)")
	manifest := fs.String("manifest", "", "the file to write the manifest to, outside -out (required)")
	sample := fs.Bool("sample", false, "generate the committed sample (testdata/trail)")
	clean := fs.Bool("clean", false, "remove DIR/AWSLogs first (to regenerate over an older archive)")
	large := gentrail.Large(2000)
	seed := fs.Uint64("seed", large.Seed, "the random seed")
	files := fs.Int("files", large.Files, "the approximate number of log files in the window")
	filesPerFolder := fs.Int("files-per-folder", 0, "log files per trail, account, region and day (instead of -files)")
	days := fs.Int("days", large.Days, "delivery days in the window")
	accounts := fs.Int("accounts", large.Accounts, "AWS accounts")
	regions := fs.Int("regions", large.Regions, fmt.Sprintf("regions per account (1..%d)", gentrail.MaxRegions))
	records := fs.Int("records-per-file", large.RecordsPerFile, "mean records per log file")
	ratio := fs.Float64("marketplace-ratio", large.MarketplaceRatio, "share of records that are Marketplace events")
	decoys := fs.Float64("decoy-ratio", large.DecoyRatio, "share of the other records that are decoys")
	escaped := fs.Float64("escaped-noise", large.EscapedNoise, fmt.Sprintf("share of the noise records that log documents as JSON text (IAM policies, CloudFormation templates...); %v gives about 10 %% backslashes", gentrail.EscapedNoiseTypical))
	redeliveries := fs.Float64("redeliveries", large.Redeliveries, "share of the Marketplace events of each folder's last file of a day delivered again in its first file of the next day")
	start := fs.String("start", large.Start.Format("2006-01-02"), "first delivery day of the window, YYYY-MM-DD")
	specials := fs.Bool("specials", false, "add the sample's special cases (needs 4 accounts, 2 regions, 3 days)")
	signed := fs.Bool("signed-digests", false, "write real hourly digest files, chained and signed with the generator's test key")
	backfill := fs.Bool("digest-backfill", false, "with -signed-digests, list each digested folder's first log file in a _backfill digest")
	publicKeys := fs.String("digest-public-keys", "", "also write the test key's public key, as 'aws cloudtrail list-public-keys' prints it, to `FILE`")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gentrail: unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return 2
	}
	if *out == "" || *manifest == "" {
		fmt.Fprintln(stderr, "gentrail: -out and -manifest are required")
		fs.Usage()
		return 2
	}

	cfg := gentrail.Large(*files)
	if *sample {
		cfg = gentrail.Sample()
	}
	var bad error
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "seed":
			cfg.Seed = *seed
		case "files":
			cfg.Files = *files
		case "files-per-folder":
			cfg.Files, cfg.FilesPerFolder = 0, *filesPerFolder
		case "days":
			cfg.Days = *days
		case "accounts":
			cfg.Accounts = *accounts
		case "regions":
			cfg.Regions = *regions
		case "records-per-file":
			cfg.RecordsPerFile = *records
		case "marketplace-ratio":
			cfg.MarketplaceRatio = *ratio
		case "decoy-ratio":
			cfg.DecoyRatio = *decoys
		case "escaped-noise":
			cfg.EscapedNoise = *escaped
		case "redeliveries":
			cfg.Redeliveries = *redeliveries
		case "specials":
			cfg.Specials = *specials
		case "signed-digests":
			cfg.SignedDigests = *signed
		case "digest-backfill":
			cfg.DigestBackfill = *backfill
		case "start":
			t, err := time.Parse("2006-01-02", *start)
			if err != nil {
				bad = fmt.Errorf("-start: %w", err)
			}
			cfg.Start = t
		}
	})
	if bad != nil {
		fmt.Fprintln(stderr, "gentrail:", bad)
		return 2
	}
	if inside(*out, *manifest) {
		fmt.Fprintln(stderr, "gentrail: -manifest must be outside -out")
		return 2
	}
	if *clean {
		if err := os.RemoveAll(filepath.Join(*out, "AWSLogs")); err != nil {
			fmt.Fprintln(stderr, "gentrail:", err)
			return 1
		}
	}
	began := time.Now()
	m, err := gentrail.Generate(*out, cfg)
	if err == nil {
		err = m.WriteFile(*manifest)
	}
	if err == nil && *publicKeys != "" {
		err = os.WriteFile(*publicKeys, gentrail.DigestPublicKeys(), 0o644)
	}
	if err != nil {
		msg := err.Error()
		if !strings.HasPrefix(msg, "gentrail:") {
			msg = "gentrail: " + msg
		}
		fmt.Fprintln(stderr, msg)
		return 1
	}
	fmt.Fprintf(stdout, "wrote %d objects (%d log files, %d Marketplace record copies, %d decoys) to %s and the manifest to %s in %s\n",
		len(m.Objects), m.LogFiles(), len(m.Copies), len(m.Decoys), *out, *manifest, time.Since(began).Round(time.Millisecond))
	return 0
}

// inside reports whether path is dir or below it.
func inside(dir, path string) bool {
	d, err1 := filepath.Abs(dir)
	p, err2 := filepath.Abs(path)
	if err1 != nil || err2 != nil {
		return false
	}
	rel, err := filepath.Rel(d, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}
