package storage

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestLocalBeneathMatchesRoot: listing and reading through openat2 (where the kernel has
// it) gives exactly what os.Root alone gives — same keys in the same order, sizes, ETags,
// contents and refusals — over a tree with nested folders, links inside and outside, and
// prefixes that end mid-name.
func TestLocalBeneathMatchesRoot(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	files := map[string]string{
		"AWSLogs/111111111111/CloudTrail/us-east-1/2024/03/01/a.json.gz":    "aaa",
		"AWSLogs/111111111111/CloudTrail/us-east-1/2024/03/01/b.json.gz":    "bbbb",
		"AWSLogs/111111111111/CloudTrail/us-east-1/2024/03/02/c.json.gz":    "c",
		"AWSLogs/111111111111/CloudTrail/eu-west-1/2024/03/01/d.json.gz":    "dd",
		"AWSLogs/o-abc/222222222222/CloudTrail/us-east-1/2024/03/01/e.json": "eeeee",
		"AWSLogs/x.txt": "x",
		"top.txt":       "t",
	}
	for k, v := range files {
		p := filepath.Join(root, filepath.FromSlash(k))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, "secret"), []byte("secret"), 0o644)
	os.Symlink(filepath.Join(dir, "secret"), filepath.Join(root, "AWSLogs", "out.json"))
	os.Symlink("111111111111/CloudTrail/us-east-1/2024/03/01/a.json.gz", filepath.Join(root, "AWSLogs", "in.json"))
	os.Symlink("111111111111", filepath.Join(root, "AWSLogs", "333333333333"))

	fast, err := OpenLocal(root, false)
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()
	if fast.fast == nil {
		t.Skip("no openat2 here: only os.Root is in use")
	}
	slow, err := OpenLocal(root, false)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	slow.fast.close()
	slow.fast = nil

	ctx := context.Background()
	for _, prefix := range []string{"", "AWSLogs/", "AWSLogs/1", "AWSLogs/111111111111/CloudTrail/us-east-1/2024/03/", "AWSLogs/o-abc/",
		"AWSLogs/333333333333/", "AWSLogs/x.txt/", "nothere/", "top"} {
		for _, delim := range []bool{false, true} {
			list := func(l *Local) (out []Entry) {
				for e, err := range l.List(ctx, prefix, delim) {
					if err != nil {
						e.Key = "error: " + err.Error()
					}
					out = append(out, e)
				}
				return out
			}
			got, want := list(fast), list(slow)
			if !slices.EqualFunc(got, want, func(a, b Entry) bool {
				return a.Key == b.Key && a.IsPrefix == b.IsPrefix && a.Size == b.Size && a.ETag == b.ETag && a.ModTime.Equal(b.ModTime)
			}) {
				t.Errorf("List(%q, %v):\nopenat2 %v\nos.Root %v", prefix, delim, got, want)
			}
			if prefix == "" && !delim && len(got) < len(files) {
				t.Errorf("List listed %d entries, want at least the %d files", len(got), len(files))
			}
		}
	}
	for _, key := range append(slices.Collect(func(yield func(string) bool) {
		for k := range files {
			if !yield(k) {
				return
			}
		}
	}), "AWSLogs/out.json", "AWSLogs/in.json", "AWSLogs/333333333333/CloudTrail/us-east-1/2024/03/02/c.json.gz", "../secret", "AWSLogs/../../secret", "nothere", "AWSLogs") {
		read := func(l *Local) (string, bool) {
			var b []byte
			err := l.Load(ctx, key, func(r io.Reader) (err error) { b, err = io.ReadAll(r); return err })
			return string(b), err == nil
		}
		gb, gok := read(fast)
		wb, wok := read(slow)
		if gb != wb || gok != wok {
			t.Errorf("Load(%q): openat2 %q (ok %v), os.Root %q (ok %v)", key, gb, gok, wb, wok)
		}
		if gb == "secret" {
			t.Errorf("Load(%q) read the file outside the folder", key)
		}
	}
}
