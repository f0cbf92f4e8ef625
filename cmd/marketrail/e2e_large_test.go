package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/marketrail/marketrail/internal/duckcheck"
	"github.com/marketrail/marketrail/internal/gentrail"
)

// generate makes an archive of about files log files with the repository's generator and
// returns its folder and manifest.
func generate(t *testing.T, cfg gentrail.Config) (string, *manifest) {
	t.Helper()
	dir := t.TempDir()
	gm, err := gentrail.Generate(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(gm)
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return dir, &m
}

// TestLargeArchive: an archive of over 2,000 log files, read from a local folder and from
// the S3 server, gives exactly the manifest's events, each once, and identical rows.
func TestLargeArchive(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	dir, m := generate(t, gentrail.Large(2000))
	var logs int
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(p, "/CloudTrail/") && strings.Contains(p, ".json") {
			logs++
		}
		return err
	})
	if logs < 2000 {
		t.Fatalf("generated %d log files, want at least 2000", logs)
	}
	checkS3MatchesLocal(t, dir, m)
}

// TestInterrupted: SIGTERM stops a run with exit 143 and an "interrupted" summary; every
// file it published is complete (DuckDB reads them all), and a re-run completes the job.
func TestInterrupted(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	cfg := gentrail.Large(600)
	dir, m := generate(t, cfg)
	dest := t.TempDir()
	args := []string{"run", "--source", dir, "--dest", dest, "--from", m.Window.From, "--to", m.Window.To, "--workers", "1"}
	cmd := exec.Command(binary, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until a first file is published, so the signal lands mid-run.
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if files, _ := filepath.Glob(filepath.Join(dest, "events", "*", "*.parquet")); len(files) > 0 {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 143 {
		t.Fatalf("exit %d after SIGTERM, want 143 (the run may have finished first)\n%s", code, errb.String())
	}
	rep := runReport(t, result{stdout: out.String(), stderr: errb.String()})
	if rep["status"] != "interrupted" {
		t.Errorf("summary status %v", rep["status"])
	}
	// Whatever was published reads cleanly.
	db := duckcheck.Open(t)
	duckcheck.Strings(t, db, "SELECT count(*) FROM "+duckcheck.Table(dest, "events"))

	if r := marketrail(t, nil, args...); r.code != 0 {
		t.Fatalf("re-run: exit %d\n%s", r.code, r.stderr)
	}
	got, _ := written(t, dest)
	diff(t, "after an interrupted run and a re-run", got, m.expected(m.Window.From, m.Window.To))
}

// TestCorruptObjectExit3 drives the binary over the sample with a corrupt object added: it
// exits 3, names the object on standard error and in the report, and writes every event.
func TestCorruptObjectExit3(t *testing.T) {
	m := readManifest(t, sampleManifest)
	src, folder := sampleCopy(t, m)
	bad := filepath.Join(folder, "corrupt_CloudTrail.json.gz")
	os.WriteFile(bad, []byte("\x1f\x8b\x08\x00garbage that is not deflate"), 0o644)
	dest := t.TempDir()
	r := marketrail(t, nil, "run", "--source", src, "--dest", dest, "--from", m.Window.From, "--to", m.Window.To)
	if r.code != 3 {
		t.Fatalf("exit %d, want 3\n%s", r.code, r.stderr)
	}
	rel, _ := filepath.Rel(src, bad)
	if !strings.Contains(r.stderr, filepath.ToSlash(rel)) {
		t.Errorf("standard error does not name %s:\n%s", rel, r.stderr)
	}
	if !strings.Contains(r.stdout, filepath.ToSlash(rel)) || totals(runReport(t, r))["objects_failed"].(float64) != 1 {
		t.Errorf("the summary does not list the failed object")
	}
	got, _ := written(t, dest)
	diff(t, "with a corrupt object", got, m.expected(m.Window.From, m.Window.To))
}
