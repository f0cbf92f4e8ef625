package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/marketrail/marketrail/internal/gentrail"
)

// TestTamperedSample: the sample trail's configuration with signed digests (a _backfill one
// too), one log file changed after delivery and another deleted. The binary's summary names
// exactly the changed file, the deleted one and the log files no digest lists — as the
// generator's manifest has them — and the run exits 4.
func TestTamperedSample(t *testing.T) {
	cfg := gentrail.Sample()
	cfg.SignedDigests, cfg.DigestBackfill = true, true
	dir := t.TempDir()
	m, err := gentrail.Generate(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	keys := filepath.Join(t.TempDir(), "keys.json")
	if err := os.WriteFile(keys, gentrail.DigestPublicKeys(), 0o644); err != nil {
		t.Fatal(err)
	}
	inWindow := func(o gentrail.Object) bool {
		return o.Kind == gentrail.KindLog && o.DeliveryDay >= m.Window.From && o.DeliveryDay <= m.Window.To
	}
	var digested, notCovered []string
	for _, o := range m.Objects {
		switch {
		case !inWindow(o):
		case o.DigestedBy != "":
			digested = append(digested, o.Key)
		default:
			notCovered = append(notCovered, o.Key)
		}
	}
	if len(digested) < 3 || len(notCovered) == 0 {
		t.Fatalf("the signed sample has %d digested and %d undigested log files in its window", len(digested), len(notCovered))
	}
	changed, deleted := digested[0], digested[len(digested)-1]
	path := func(key string) string { return filepath.Join(dir, filepath.FromSlash(key)) }
	// Change one byte of content, inside a string, and compress it again.
	err = gentrail.Tamper(path(changed), func(b []byte) []byte {
		return bytes.Replace(b, []byte(`"eventVersion":"1.0`), []byte(`"eventVersion":"1.1`), 1)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path(deleted)); err != nil {
		t.Fatal(err)
	}

	r := marketrail(t, nil, "run", "--source", dir, "--dest", t.TempDir(), "--from", m.Window.From, "--to", m.Window.To,
		"--verify-digests", "--digest-public-keys", keys, "--progress", "off", "--log-format", "json")
	if r.code != 4 {
		t.Fatalf("exit %d, want 4 (digest problems)\n%s", r.code, r.stderr)
	}
	var sum struct {
		Status  string `json:"status"`
		Digests struct {
			Verified    int      `json:"log_files_verified"`
			Mismatch    []string `json:"hash_mismatch"`
			Missing     []string `json:"missing"`
			NotCovered  []string `json:"not_covered"`
			ChainBreaks []any    `json:"chain_breaks"`
			BadDigests  []any    `json:"bad_digests"`
			SigChecked  bool     `json:"signatures_checked"`
		} `json:"digests"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil {
		t.Fatal(err)
	}
	d := sum.Digests
	slices.Sort(notCovered)
	if sum.Status != "digest_problems" || !slices.Equal(d.Mismatch, []string{changed}) || !slices.Equal(d.Missing, []string{deleted}) ||
		!slices.Equal(d.NotCovered, notCovered) || d.Verified != len(digested)-2 || len(d.ChainBreaks) != 0 || len(d.BadDigests) != 0 || !d.SigChecked {
		t.Errorf("summary: status %s, digests %+v\nwant changed %s, missing %s, %d not covered, %d verified",
			sum.Status, d, changed, deleted, len(notCovered), len(digested)-2)
	}
}
