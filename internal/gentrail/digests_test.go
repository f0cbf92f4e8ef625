package gentrail_test

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/marketrail/marketrail/internal/gentrail"
)

// TestSignedDigests checks the manifest of an archive with signed digests against the files:
// one digest per chain and hour, linked in order, each log file of a digested folder listed
// (with the hash of its uncompressed content) by the digest the manifest names, and the
// backfill. (pkg/digest's tests verify the signatures and chains with the verifier.)
func TestSignedDigests(t *testing.T) {
	cfg := gentrail.Config{
		Seed: 3, Start: time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC), Days: 2, Accounts: 2, Regions: 2,
		FilesPerFolder: 3, RecordsPerFile: 4, MarketplaceRatio: 0.2, DigestAccounts: 1, DigestRegions: 1,
		SignedDigests: true, DigestBackfill: true,
	}
	dir := t.TempDir()
	m, err := gentrail.Generate(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	type entry struct{ S3Object, HashValue string }
	type digest struct {
		DigestEndTime          string
		PreviousDigestS3Object *string
		LogFiles               []entry
	}
	read := func(key string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(key)))
		if err != nil {
			t.Fatal(err)
		}
		if zr, err := gzip.NewReader(bytes.NewReader(b)); err == nil {
			if b, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		}
		return b
	}
	listed := map[string]string{} // log key -> digest key
	hashes := map[string]string{}
	var hourly, backfill int
	for _, o := range m.Objects {
		if o.Kind != gentrail.KindDigest {
			continue
		}
		var d digest
		if err := json.Unmarshal(read(o.Key), &d); err != nil {
			t.Fatal(err)
		}
		if o.Signature == "" || len(o.Signature) != 512 {
			t.Errorf("%s: signature %q", o.Key, o.Signature)
		}
		end, err := time.Parse(time.RFC3339, d.DigestEndTime)
		if err != nil || end.Format("2006-01-02") != o.DeliveryDay || !strings.Contains(o.Key, end.Format("20060102T150405Z")) {
			t.Errorf("%s: end %s, delivery day %s", o.Key, d.DigestEndTime, o.DeliveryDay)
		}
		if o.Backfill {
			backfill++
		} else {
			hourly++
		}
		prev := ""
		if d.PreviousDigestS3Object != nil {
			prev = *d.PreviousDigestS3Object
		}
		if prev != o.PreviousDigest {
			t.Errorf("%s: previous %q, manifest says %q", o.Key, prev, o.PreviousDigest)
		}
		for _, e := range d.LogFiles {
			listed[e.S3Object] = o.Key
			hashes[e.S3Object] = e.HashValue
		}
	}
	// 2 chains (account 0 in both trails), 24 hours for each of the 2 days: the digest of
	// the second day's last hour is in the third day's folder.
	if hourly != 2*2*24 || backfill != 2 {
		t.Errorf("%d hourly and %d backfill digests, want 96 and 2", hourly, backfill)
	}
	covered := 0
	for _, o := range m.Objects {
		if o.Kind != gentrail.KindLog {
			continue
		}
		if listed[o.Key] != o.DigestedBy {
			t.Errorf("%s: listed by %q, manifest says %q", o.Key, listed[o.Key], o.DigestedBy)
		}
		if o.DigestedBy == "" {
			continue
		}
		covered++
		sum := sha256.Sum256(read(o.Key))
		if hashes[o.Key] != hex.EncodeToString(sum[:]) {
			t.Errorf("%s: digest lists %s, its uncompressed content hashes to %x", o.Key, hashes[o.Key], sum)
		}
	}
	// 3 files a day in each of the 2 chains' folder.
	if covered != 2*2*3 {
		t.Errorf("%d log files covered, want 12", covered)
	}
	if !bytes.Contains(gentrail.DigestPublicKeys(), []byte(gentrail.DigestKeyFingerprint())) {
		t.Error("DigestPublicKeys does not hold the fingerprint")
	}
}
