package storage_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/marketrail/marketrail/pkg/storage"
)

// Keys of every odd shape a bucket can hold (spaces, unicode, "..", 1,024 bytes) either
// round-trip inside the folder or fail with an error; none reaches outside it.
func TestLocalHostileKeys(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(dir, "outside")
	os.MkdirAll(outside, 0o755)
	l, err := storage.OpenLocal(filepath.Join(dir, "root"), true)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	seg := strings.Repeat("s", 200)
	long := seg + "/" + seg + "/" + seg + "/" + seg + "/" + strings.Repeat("t", 215) + ".json" // 1,024 bytes
	if len(long) != 1024 {
		t.Fatalf("long key is %d bytes", len(long))
	}
	good := []string{
		"AWSLogs/a b/c d.json",
		"AWSLogs/ünïcødé/日本語 ✓.json.gz",
		"AWSLogs/..json",
		"AWSLogs/...",
		long,
	}
	for _, key := range good {
		if err := l.Put(ctx, key, strings.NewReader("x"), 1); err != nil {
			t.Errorf("Put(%q): %v", key, err)
			continue
		}
		if b, err := storage.ReadAll(ctx, l, key); err != nil || string(b) != "x" {
			t.Errorf("ReadAll(%q) = %q, %v", key, b, err)
		}
	}
	var listed []string
	for e, err := range l.List(ctx, "", false) {
		if err != nil {
			t.Fatal(err)
		}
		listed = append(listed, e.Key)
	}
	for _, key := range good {
		if !slices.Contains(listed, key) {
			t.Errorf("List does not give %q back: %q", key, listed)
		}
	}
	bad := []string{
		"..", "../outside/x", "AWSLogs/../../outside/x", "/" + filepath.ToSlash(outside) + "/x",
		strings.Repeat("n", 1024), // one name of 1,024 bytes: longer than any file system allows
		"AWSLogs/nul\x00byte",
		"AWSLogs/x/../y.json", // a ".." through a folder that does not exist
	}
	for _, key := range bad {
		if err := l.Put(ctx, key, strings.NewReader("x"), 1); err == nil {
			t.Errorf("Put(%q) succeeded", key)
		}
		if _, err := storage.ReadAll(ctx, l, key); err == nil {
			t.Errorf("ReadAll(%q) succeeded", key)
		}
		l.Delete(ctx, key)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("something was written outside the folder: %v", ents)
	}
}

// A symbolic link inside the folder that points outside it, to a file or to a folder, is
// never followed: not to read (a source), not to write (a destination).
func TestLocalSymlinksOutside(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(dir, "outside")
	os.MkdirAll(filepath.Join(outside, "CloudTrail"), 0o755)
	os.WriteFile(filepath.Join(outside, "CloudTrail", "secret.json"), []byte("secret"), 0o644)
	root := filepath.Join(dir, "root")
	os.MkdirAll(filepath.Join(root, "AWSLogs"), 0o755)
	if err := os.Symlink(outside, filepath.Join(root, "AWSLogs", "111111111111")); err != nil {
		t.Skip("no symbolic links here:", err)
	}
	os.Symlink(filepath.Join(outside, "CloudTrail", "secret.json"), filepath.Join(root, "AWSLogs", "file.json"))
	os.Symlink(outside, filepath.Join(root, "events"))
	l, err := storage.OpenLocal(root, false)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	for _, key := range []string{"AWSLogs/111111111111/CloudTrail/secret.json", "AWSLogs/file.json", "events/CloudTrail/secret.json"} {
		if b, err := storage.ReadAll(ctx, l, key); err == nil {
			t.Errorf("ReadAll(%q) read %q from outside the folder", key, b)
		}
	}
	// Listings name the links but never what is behind them.
	for _, delim := range []bool{false, true} {
		for e, err := range l.List(ctx, "AWSLogs/", delim) {
			if err == nil && strings.Contains(e.Key, "secret") {
				t.Errorf("List(delim %v) walked into a link: %s", delim, e.Key)
			}
		}
	}
	if err := l.Put(ctx, "events/event_date=2024-03-01/x.parquet", strings.NewReader("x"), 1); err == nil {
		t.Errorf("Put through a link to outside succeeded")
	}
	if err := l.Delete(ctx, "events/CloudTrail/secret.json"); err == nil {
		if _, serr := os.Stat(filepath.Join(outside, "CloudTrail", "secret.json")); serr != nil {
			t.Errorf("Delete through a link removed a file outside")
		}
	}
	ents, _ := os.ReadDir(outside)
	if len(ents) != 1 {
		t.Errorf("the folder outside was changed: %v", ents)
	}
	if b, _ := os.ReadFile(filepath.Join(outside, "CloudTrail", "secret.json")); string(b) != "secret" {
		t.Errorf("the file outside was changed: %q", b)
	}
}
