package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSample(t *testing.T) {
	dir := t.TempDir()
	out, manifest := filepath.Join(dir, "trail"), filepath.Join(dir, "trail-manifest.json")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-sample", "-out", out, "-manifest", manifest}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	got, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("../../testdata/trail-manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("gentrail -sample does not write testdata/trail-manifest.json")
	}
	// Again over the same folder: refused, unless -clean.
	if code := run([]string{"-sample", "-out", out, "-manifest", manifest}, &stdout, &stderr); code != 1 {
		t.Errorf("regenerating over an archive: exit %d, want 1", code)
	}
	if code := run([]string{"-sample", "-clean", "-out", out, "-manifest", manifest}, &stdout, &stderr); code != 0 {
		t.Errorf("regenerating with -clean: exit %d: %s", code, stderr.String())
	}
}

func TestFlags(t *testing.T) {
	dir := t.TempDir()
	out, manifest := filepath.Join(dir, "trail"), filepath.Join(dir, "m.json")
	var stdout, stderr bytes.Buffer
	args := []string{"-out", out, "-manifest", manifest, "-files", "12", "-days", "1", "-accounts", "2", "-regions", "1",
		"-records-per-file", "4", "-marketplace-ratio", "0.5", "-start", "2023-12-31", "-seed", "9"}
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "(12 log files,") {
		t.Errorf("output %q", stdout.String())
	}
	if _, err := os.Stat(filepath.Join(out, "AWSLogs")); err != nil {
		t.Error(err)
	}
	for _, bad := range [][]string{
		{"-out", out},
		{"-manifest", manifest},
		{"-out", out, "-manifest", filepath.Join(out, "m.json")},
		{"-out", t.TempDir(), "-manifest", manifest, "-start", "March"},
		{"-out", t.TempDir(), "-manifest", manifest, "stray"},
	} {
		if code := run(bad, &stdout, &stderr); code != 2 {
			t.Errorf("%v: exit %d, want 2", bad, code)
		}
	}
	if code := run([]string{"-out", t.TempDir(), "-manifest", manifest, "-regions", "99"}, &stdout, &stderr); code != 1 {
		t.Errorf("-regions 99: exit %d, want 1", code)
	}
}

// TestHelpPlaceholder: -digest-public-keys takes a FILE, and its help says so (the flag
// package takes a back-quoted word of the usage as the value's placeholder).
func TestHelpPlaceholder(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"-h"}, &out, &errb); code != 0 {
		t.Fatalf("-h: exit %d", code)
	}
	if help := errb.String(); !strings.Contains(help, "-digest-public-keys FILE\n") || strings.Contains(help, "-digest-public-keys aws") {
		t.Errorf("-h does not show -digest-public-keys FILE:\n%s", help)
	}
}

// TestEscapedNoise: -escaped-noise reaches the configuration (the manifest records it), and
// the archive gets backslashes from it.
func TestEscapedNoise(t *testing.T) {
	manifest := filepath.Join(t.TempDir(), "m.json")
	for _, v := range []string{"0", "0.45"} {
		out := t.TempDir()
		var stdout, stderr bytes.Buffer
		args := []string{"-out", out, "-manifest", manifest, "-files", "8", "-days", "1", "-accounts", "2", "-regions", "1", "-escaped-noise", v}
		if code := run(args, &stdout, &stderr); code != 0 {
			t.Fatalf("-escaped-noise %s: exit %d: %s", v, code, stderr.String())
		}
		m, err := os.ReadFile(manifest)
		if err != nil {
			t.Fatal(err)
		}
		if recorded := bytes.Contains(m, []byte(`"escaped_noise":0.45`)); recorded != (v != "0") {
			t.Errorf("-escaped-noise %s: the manifest's config says escaped_noise 0.45: %v", v, recorded)
		}
	}
	if code := run([]string{"-out", t.TempDir(), "-manifest", manifest, "-escaped-noise", "2"}, io.Discard, io.Discard); code != 1 {
		t.Errorf("-escaped-noise 2: exit %d, want 1", code)
	}
}
