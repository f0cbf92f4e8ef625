package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/marketrail/marketrail/internal/gentrail"
)

// TestVerifyDigestsLocal runs the binary with --verify-digests over a generated archive with
// signed digests, and reads the summary's digests section; and its usage errors.
func TestVerifyDigestsLocal(t *testing.T) {
	dir := t.TempDir()
	m, err := gentrail.Generate(dir, gentrail.Config{
		Seed: 9, Start: time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC), Days: 2, Accounts: 2, Regions: 1,
		FilesPerFolder: 3, RecordsPerFile: 4, MarketplaceRatio: 0.3, DigestAccounts: 2, DigestRegions: 1,
		SignedDigests: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	keys := filepath.Join(t.TempDir(), "keys.json")
	if err := os.WriteFile(keys, gentrail.DigestPublicKeys(), 0o644); err != nil {
		t.Fatal(err)
	}
	covered := 0
	for _, o := range m.Objects {
		if o.Kind == gentrail.KindLog && o.DigestedBy != "" {
			covered++
		}
	}
	r := marketrail(t, nil, "run", "--source", dir, "--dest", t.TempDir(), "--from", m.Window.From, "--to", m.Window.To,
		"--verify-digests", "--digest-public-keys", keys, "--progress", "off", "--log-format", "json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var sum struct {
		Digests *struct {
			LogFilesVerified   int      `json:"log_files_verified"`
			HashMismatch       []string `json:"hash_mismatch"`
			SignaturesChecked  bool     `json:"signatures_checked"`
			SignatureMetadata  bool     `json:"signature_metadata"`
			SignaturesVerified int      `json:"signatures_verified"`
		} `json:"digests"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil {
		t.Fatalf("summary: %v\n%s", err, r.stdout)
	}
	d := sum.Digests
	if d == nil || d.LogFilesVerified != covered || len(d.HashMismatch) != 0 || !d.SignaturesChecked || d.SignatureMetadata || d.SignaturesVerified == 0 {
		t.Errorf("digests section %+v, want %d log files verified, signatures checked without metadata", d, covered)
	}

	for _, args := range [][]string{
		{"--digest-public-keys", keys},                       // without --verify-digests
		{"--verify-digests", "--digest-public-keys", dir},    // not a file of keys
		{"--verify-digests", "--digest-public-keys", "nope"}, // no such file
	} {
		r := marketrail(t, nil, append([]string{"run", "--source", dir, "--dest", t.TempDir()}, args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, "digest-public-keys") {
			t.Errorf("%q: exit %d, stderr %q; want 2 and a message", args, r.code, r.stderr)
		}
	}
}
