package storage_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/marketrail/marketrail/internal/s3test"
	"github.com/marketrail/marketrail/pkg/storage"
)

// conformance runs the same checks against every Storage, so that the local folder and the
// bucket behave alike for everything above this package.
func conformance(t *testing.T, s storage.Storage) {
	ctx := context.Background()
	files := map[string]string{
		"AWSLogs/o-aaaaaaaaaa/111111111111/CloudTrail/us-east-1/2024/03/01/a.json.gz": "aaa",
		"AWSLogs/o-aaaaaaaaaa/111111111111/CloudTrail/us-east-1/2024/03/01/b.json":    "bbbb",
		"AWSLogs/222222222222/CloudTrail/eu-west-1/2024/03/01/c.json.gz":              "c",
		"AWSLogs/222222222222/CloudTrail-Digest/eu-west-1/2024/03/01/d.json.gz":       "dd",
		"other/x.txt": "x",
	}
	for k, v := range files {
		if err := s.Put(ctx, k, strings.NewReader(v), int64(len(v))); err != nil {
			t.Fatalf("Put(%s): %v", k, err)
		}
	}
	list := func(prefix string, delim bool) []string {
		var got []string
		for e, err := range s.List(ctx, prefix, delim) {
			if err != nil {
				t.Fatalf("List(%q, %v): %v", prefix, delim, err)
			}
			if !e.IsPrefix && e.Size != int64(len(files[e.Key])) {
				t.Errorf("List: %s has size %d, want %d", e.Key, e.Size, len(files[e.Key]))
			}
			if !e.IsPrefix && e.ETag == "" {
				t.Errorf("List: %s has no ETag", e.Key)
			}
			got = append(got, e.Key)
		}
		slices.Sort(got)
		return got
	}
	tests := []struct {
		prefix string
		delim  bool
		want   []string
	}{
		{"AWSLogs/", true, []string{"AWSLogs/222222222222/", "AWSLogs/o-aaaaaaaaaa/"}},
		{"AWSLogs/o-", true, []string{"AWSLogs/o-aaaaaaaaaa/"}},
		{"AWSLogs/222222222222/", true, []string{"AWSLogs/222222222222/CloudTrail-Digest/", "AWSLogs/222222222222/CloudTrail/"}},
		{"AWSLogs/o-aaaaaaaaaa/111111111111/CloudTrail/us-east-1/2024/03/01/", true, []string{
			"AWSLogs/o-aaaaaaaaaa/111111111111/CloudTrail/us-east-1/2024/03/01/a.json.gz",
			"AWSLogs/o-aaaaaaaaaa/111111111111/CloudTrail/us-east-1/2024/03/01/b.json"}},
		{"AWSLogs/222222222222/", false, []string{
			"AWSLogs/222222222222/CloudTrail-Digest/eu-west-1/2024/03/01/d.json.gz",
			"AWSLogs/222222222222/CloudTrail/eu-west-1/2024/03/01/c.json.gz"}},
		{"AWSLogs/333333333333/", true, nil},
		{"nothing/", false, nil},
	}
	for _, tt := range tests {
		if got := list(tt.prefix, tt.delim); !slices.Equal(got, tt.want) {
			t.Errorf("List(%q, delim=%v) = %q, want %q", tt.prefix, tt.delim, got, tt.want)
		}
	}

	// ListAfter starts part-way, in key order (the order S3 lists in), and never yields a
	// key up to startAfter; a startAfter that is a folder's own name (no '/') starts with
	// its first key.
	la, ok := storage.AsListerAfter(storage.WithRetry(s, storage.RetryPolicy{}))
	if !ok {
		t.Fatalf("%T is not a ListerAfter through WithRetry", s)
	}
	const o = "AWSLogs/o-aaaaaaaaaa/111111111111/CloudTrail/us-east-1/2024/03/01/"
	for _, tt := range []struct {
		prefix, after string
		want          []string
	}{
		{"AWSLogs/", "", []string{
			"AWSLogs/222222222222/CloudTrail-Digest/eu-west-1/2024/03/01/d.json.gz",
			"AWSLogs/222222222222/CloudTrail/eu-west-1/2024/03/01/c.json.gz",
			o + "a.json.gz", o + "b.json"}},
		{"AWSLogs/", "AWSLogs/222222222222/CloudTrail-Digest/eu-west-1/2024/03/01/d.json.gz", []string{
			"AWSLogs/222222222222/CloudTrail/eu-west-1/2024/03/01/c.json.gz", o + "a.json.gz", o + "b.json"}},
		{"AWSLogs/o-aaaaaaaaaa/", strings.TrimSuffix(o, "/"), []string{o + "a.json.gz", o + "b.json"}},
		{"AWSLogs/o-aaaaaaaaaa/", o + "a.json.gz", []string{o + "b.json"}},
		{"AWSLogs/o-aaaaaaaaaa/", o + "a", []string{o + "a.json.gz", o + "b.json"}},
		{"AWSLogs/o-aaaaaaaaaa/", "AWSLogs/o-aaaaaaaaaa/111111111111/CloudTrail/us-east-1/2024/03/02", nil},
		{"AWSLogs/o-aaaaaaaaaa/", "AWSLogs/o-aaaaaaaaaa/111111111111/CloudTrail/us-east-1/2024/02", []string{o + "a.json.gz", o + "b.json"}},
	} {
		var got []string
		for e, err := range la.ListAfter(ctx, tt.prefix, tt.after) {
			if err != nil {
				t.Fatalf("ListAfter(%q, %q): %v", tt.prefix, tt.after, err)
			}
			got = append(got, e.Key)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("ListAfter(%q, %q) = %q, want %q", tt.prefix, tt.after, got, tt.want)
		}
	}

	// Load gives back the bytes; a missing key wraps ErrNotExist and names the key.
	got, err := storage.ReadAll(ctx, s, "AWSLogs/o-aaaaaaaaaa/111111111111/CloudTrail/us-east-1/2024/03/01/b.json")
	if err != nil || string(got) != "bbbb" {
		t.Errorf("ReadAll = %q, %v; want bbbb", got, err)
	}
	_, err = storage.ReadAll(ctx, s, "AWSLogs/missing.json.gz")
	if !errors.Is(err, storage.ErrNotExist) || !strings.Contains(err.Error(), "AWSLogs/missing.json.gz") {
		t.Errorf("ReadAll(missing) error = %v; want ErrNotExist naming the key", err)
	}

	// Put replaces; Delete removes and is idempotent.
	if err := s.Put(ctx, "other/x.txt", bytes.NewReader([]byte("new content")), 11); err != nil {
		t.Fatal(err)
	}
	if got, _ := storage.ReadAll(ctx, s, "other/x.txt"); string(got) != "new content" {
		t.Errorf("after replace: %q", got)
	}
	for range 2 {
		if err := s.Delete(ctx, "other/x.txt"); err != nil {
			t.Errorf("Delete: %v", err)
		}
	}
	if got := list("other/", false); len(got) != 0 {
		t.Errorf("after Delete: %q", got)
	}
	// fn's error comes back from Load as it is.
	sentinel := errors.New("stop")
	if err := s.Load(ctx, "AWSLogs/222222222222/CloudTrail/eu-west-1/2024/03/01/c.json.gz", func(io.Reader) error { return sentinel }); !errors.Is(err, sentinel) {
		t.Errorf("Load returned %v, want fn's error", err)
	}
}

func TestLocal(t *testing.T) {
	dir := t.TempDir()
	l, err := storage.OpenLocal(filepath.Join(dir, "dest"), true)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	conformance(t, l)
}

func TestLocalStaysInside(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "secret"), []byte("secret"), 0o644)
	os.MkdirAll(filepath.Join(dir, "src", "AWSLogs"), 0o755)
	os.Symlink(filepath.Join(dir, "secret"), filepath.Join(dir, "src", "AWSLogs", "link.json"))
	l, err := storage.OpenLocal(filepath.Join(dir, "src"), false)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	for _, key := range []string{"../secret", "AWSLogs/../../secret", "AWSLogs/link.json", "/etc/passwd"} {
		if b, err := storage.ReadAll(ctx, l, key); err == nil {
			t.Errorf("ReadAll(%q) read %q from outside the folder", key, b)
		}
		// Put over the link replaces the link itself, inside the folder; the others must fail.
		if err := l.Put(ctx, key, strings.NewReader("x"), 1); err == nil && key != "AWSLogs/link.json" {
			t.Errorf("Put(%q) wrote outside the folder", key)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "secret")); string(b) != "secret" {
		t.Errorf("the file outside was changed: %q", b)
	}
	if _, err := storage.OpenLocal(filepath.Join(dir, "missing"), false); err == nil {
		t.Errorf("OpenLocal of a missing source folder succeeded")
	}
}

func TestLocalPutLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	l, _ := storage.OpenLocal(dir, true)
	defer l.Close()
	ctx := context.Background()
	// A leftover of a killed Put is removed by Delete.
	os.MkdirAll(filepath.Join(dir, "events"), 0o755)
	os.WriteFile(filepath.Join(dir, "events", ".f.parquet.tmp"), []byte("partial"), 0o644)
	if err := l.Delete(ctx, "events/f.parquet"); err != nil {
		t.Fatal(err)
	}
	if err := l.Put(ctx, "events/g.parquet", strings.NewReader("abc"), 3); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "events"))
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"g.parquet"}) {
		t.Errorf("folder holds %q, want only g.parquet", names)
	}
	// A short reader is an error and publishes nothing.
	if err := l.Put(ctx, "events/h.parquet", strings.NewReader("ab"), 3); err == nil {
		t.Errorf("Put with a short body succeeded")
	}
	if _, err := os.Stat(filepath.Join(dir, "events", "h.parquet")); err == nil {
		t.Errorf("a failed Put published its file")
	}
}

func TestS3(t *testing.T) {
	c, _ := s3test.Client(t)
	bucket := s3test.Bucket(t, c)
	t.Run("root", func(t *testing.T) { conformance(t, storage.NewS3(c, bucket, "")) })
	t.Run("prefix", func(t *testing.T) { conformance(t, storage.NewS3(c, bucket, "some/prefix")) })
	t.Run("no such bucket", func(t *testing.T) {
		s := storage.NewS3(c, bucket+"-missing", "")
		for _, err := range s.List(context.Background(), "AWSLogs/", true) {
			if err == nil || !strings.Contains(err.Error(), "no such bucket") {
				t.Errorf("List on a missing bucket: %v", err)
			}
		}
	})
}

// TestLocalConcurrentPuts: writers of one key at the same moment (shards claiming a
// destination, two runs publishing a day) all succeed, the key holds one whole version, and
// no temporary file is left.
func TestLocalConcurrentPuts(t *testing.T) {
	dir := t.TempDir()
	l, err := storage.OpenLocal(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	for round := range 20 {
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Go(func() {
				body := strings.Repeat(string(rune('a'+i)), 1000+round)
				errs[i] = l.Put(ctx, "_marketrail/marker.json", strings.NewReader(body), int64(len(body)))
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d, writer %d: %v", round, i, err)
			}
		}
		b, err := os.ReadFile(filepath.Join(dir, "_marketrail", "marker.json"))
		if err != nil || len(b) != 1000+round || strings.Count(string(b), string(b[:1])) != len(b) {
			t.Fatalf("round %d: key holds %d bytes, not one writer's whole version (%v)", round, len(b), err)
		}
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "_marketrail"))
	if len(ents) != 1 {
		t.Errorf("folder holds %d entries, want the key alone", len(ents))
	}
}
