package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/marketrail/marketrail/internal/gentrail"
	"github.com/marketrail/marketrail/internal/s3test"
)

// TestKilledRunsRecover kills marketrail (SIGKILL) at each dangerous moment and at random
// moments while it writes to the real S3 server, runs it again with the same arguments, and
// checks the destination then holds exactly what one uninterrupted run writes: the same files
// and the same rows.
func TestKilledRunsRecover(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	c, srv := s3test.Client(t)
	bucket := s3test.Bucket(t, c)
	// A killed run leaves its day leases behind, and the re-run waits for them to expire:
	// 2 s here instead of a minute.
	env := append(srv.Env(), leaseEnv+"=2s")
	cfg := gentrail.Large(240)
	cfg.Days = 4
	dir, m := generate(t, cfg)
	upload(t, c, dir, bucket, "logs/")
	args := func(dest string) []string {
		return []string{"run", "--source", "s3://" + bucket + "/logs", "--dest", "s3://" + bucket + "/" + dest,
			"--from", m.Window.From, "--to", m.Window.To, "--workers", "4", "--max-rows-per-file", "40"}
	}
	began := time.Now()
	if r := marketrail(t, srv.Env(), args("clean")...); r.code != 0 {
		t.Fatalf("clean run: exit %d\n%s", r.code, r.stderr)
	}
	runTime := time.Since(began)
	cleanDir := download(t, c, bucket, "clean/")
	cleanRows, cleanFull := written(t, cleanDir)
	diff(t, "clean run", cleanRows, m.expected(m.Window.From, m.Window.To))
	cleanFiles := parquetFiles(t, cleanDir)

	check := func(t *testing.T, dest string) {
		t.Helper()
		r := marketrail(t, env, args(dest)...)
		if r.code != 0 {
			t.Fatalf("re-run: exit %d\n%s", r.code, r.stderr)
		}
		got := download(t, c, bucket, dest+"/")
		if files := parquetFiles(t, got); !slices.Equal(files, cleanFiles) {
			t.Errorf("files differ from a clean run:\n got %q\nwant %q", files, cleanFiles)
		}
		if _, full := written(t, got); !slices.Equal(full, cleanFull) {
			t.Errorf("rows differ from a clean run: %d vs %d", len(full), len(cleanFull))
		}
		// Nothing hidden or temporary is left in the table folders.
		for _, f := range listAll(t, got) {
			if base := filepath.Base(f); strings.HasPrefix(base, ".") || strings.HasSuffix(base, ".tmp") {
				t.Errorf("leftover %s", f)
			}
		}
	}

	for _, point := range []string{"upload:3", "published:2", "between-days:1", "upload:1"} {
		t.Run(point, func(t *testing.T) {
			dest := "crash-" + strings.ReplaceAll(point, ":", "-")
			r := marketrail(t, append(slices.Clip(env), crashEnv+"="+point), args(dest)...)
			if r.code != -1 { // killed by a signal
				t.Fatalf("the run was not killed at %s (exit %d)\n%s", point, r.code, r.stderr)
			}
			check(t, dest)
		})
	}
	// Random moments, reproducibly chosen between 10% and 80% of a clean run's time.
	rng := rand.New(rand.NewPCG(42, 7))
	for i := range 3 {
		delay := runTime/10 + time.Duration(rng.Int64N(int64(runTime*7/10)))
		t.Run(fmt.Sprintf("random-%d-%s", i, delay), func(t *testing.T) {
			dest := fmt.Sprintf("random-%d", i)
			killAfter(t, delay, env, args(dest)...)
			check(t, dest)
		})
	}
}

// listAll lists every file below dir, relative to it.
func listAll(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return err
	})
	return out
}

// killAfter runs the binary with args, kills it (SIGKILL) after delay, and skips the test
// when the run finished before the kill (nothing to check then).
func killAfter(t *testing.T, delay time.Duration, env []string, args ...string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(delay)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		t.Skipf("the run finished within %s, before the kill; nothing to check", delay)
	}
}
