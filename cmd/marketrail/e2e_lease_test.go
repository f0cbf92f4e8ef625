package main

// Concurrent runs on one destination: every trial runs two or three marketrail processes
// at once against a local folder and against the real S3 server, then checks the
// destination as it was left (before any repair run) against ground truth: the generator's
// manifest and one clean run of the final source, read back with DuckDB.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/marketrail/marketrail/internal/duckcheck"
	"github.com/marketrail/marketrail/internal/faultproxy"
	"github.com/marketrail/marketrail/internal/gentrail"
	"github.com/marketrail/marketrail/internal/s3test"
	"github.com/marketrail/marketrail/pkg/marketplace"
)

// leaseTrials is how many trials of overlapping runs and of shards each store gets.
const (
	overlapTrials = 8
	shardTrials   = 4
)

// leaseWorld is one store (local or s3) with a generated trail and a clean run of it.
type leaseWorld struct {
	kind   string
	c      *s3.Client
	srv    s3test.Server
	bucket string
	trail  string // the generated trail (a local folder)
	m      *manifest
	days   []string // the window's delivery days
	late   string   // a log file of days[1], held back and added during some trials (relative key)
	n      int      // sources and destinations made so far

	cleanRows, cleanFull, cleanFiles []string
}

func newLeaseWorld(t *testing.T, kind string) *leaseWorld {
	t.Helper()
	cfg := gentrail.Large(48)
	cfg.Days, cfg.Accounts, cfg.Regions = 4, 2, 2
	cfg.MarketplaceRatio = 0.3
	cfg.DigestAccounts, cfg.DigestRegions = 0, 0
	dir, m := generate(t, cfg)
	w := &leaseWorld{kind: kind, trail: dir, m: m}
	if kind == "s3" {
		w.c, w.srv = s3test.Client(t)
		w.bucket = s3test.Bucket(t, w.c)
	}
	for d := range 4 {
		w.days = append(w.days, cfg.Start.AddDate(0, 0, d).Format(time.DateOnly))
	}
	for _, c := range m.Copies {
		if c.DeliveryDay == w.days[1] && !strings.Contains(path.Base(c.SourceKey), "T23") {
			w.late = c.SourceKey
			break
		}
	}
	if w.late == "" {
		t.Fatal("no log file delivered on the window's second day")
	}
	// One clean run of the whole (final) source is the truth every trial is held to.
	src, _ := w.source(t, false)
	dest, snap := w.dest(t)
	if r := marketrail(t, w.env(""), "run", "--source", src, "--dest", dest, "--from", w.days[0], "--to", w.days[3]); r.code != 0 {
		t.Fatalf("clean run: exit %d\n%s", r.code, r.stderr)
	}
	clean := snap()
	w.cleanRows, w.cleanFull = written(t, clean)
	w.cleanFiles = parquetFiles(t, clean)
	diff(t, "clean run", w.cleanRows, m.expected(w.days[0], w.days[3]))
	return w
}

// env is the environment of a run; endpoint, if set, replaces the S3 server's (a proxy).
func (w *leaseWorld) env(endpoint string, extra ...string) []string {
	if w.kind != "s3" {
		return extra
	}
	env := w.srv.Env()
	if endpoint != "" {
		env = append(env, "AWS_ENDPOINT_URL_S3="+endpoint)
	}
	return append(env, extra...)
}

// source makes a fresh copy of the trail, without the late log file when held, and returns
// its --source and a function that adds the late file.
func (w *leaseWorld) source(t *testing.T, held bool) (string, func()) {
	t.Helper()
	w.n++
	late := filepath.Join(w.trail, filepath.FromSlash(w.late))
	if w.kind == "local" {
		dir := t.TempDir()
		if err := os.CopyFS(dir, os.DirFS(w.trail)); err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, filepath.FromSlash(w.late))
		if held {
			os.Remove(dst)
		}
		return dir, func() {
			b, _ := os.ReadFile(late)
			if err := os.WriteFile(dst+".part", b, 0o644); err != nil {
				t.Error(err)
			}
			os.Rename(dst+".part", dst)
		}
	}
	prefix := fmt.Sprintf("src-%d/", w.n)
	upload(t, w.c, w.trail, w.bucket, prefix)
	if held {
		w.c.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: &w.bucket, Key: aws.String(prefix + w.late)})
	}
	return "s3://" + w.bucket + "/" + strings.TrimSuffix(prefix, "/"), func() {
		b, _ := os.ReadFile(late)
		if _, err := w.c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &w.bucket, Key: aws.String(prefix + w.late), Body: bytes.NewReader(b)}); err != nil {
			t.Error(err)
		}
	}
}

// dest returns a fresh --dest and a function giving a local folder with its content.
func (w *leaseWorld) dest(t *testing.T) (string, func() string) {
	t.Helper()
	w.n++
	if w.kind == "local" {
		dir := filepath.Join(t.TempDir(), "lake")
		return dir, func() string { return dir }
	}
	prefix := fmt.Sprintf("dest-%d/", w.n)
	return "s3://" + w.bucket + "/" + strings.TrimSuffix(prefix, "/"), func() string { return download(t, w.c, w.bucket, prefix) }
}

// exists reports whether key exists in the destination dest.
func (w *leaseWorld) exists(dest, key string) bool {
	if w.kind == "local" {
		_, err := os.Stat(filepath.Join(dest, filepath.FromSlash(key)))
		return err == nil
	}
	prefix := strings.TrimPrefix(dest, "s3://"+w.bucket+"/")
	_, err := w.c.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &w.bucket, Key: aws.String(prefix + "/" + key)})
	return err == nil
}

// proc is a marketrail process running in the background.
type proc struct {
	cmd       *exec.Cmd
	out, errb bytes.Buffer
	code      int
	rep       map[string]any
	killed    bool // by a signal: no summary
}

func start(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(binary, args...)}
	p.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "TMPDIR=" + os.TempDir()}, env...)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.errb
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return p
}

// wait waits for the process and reads its summary.
func (p *proc) wait(t *testing.T) {
	t.Helper()
	err := p.cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		p.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		p.killed = true
	}
	json.Unmarshal(p.out.Bytes(), &p.rep)
}

// actions returns the process's action per delivery day.
func (p *proc) actions() map[string]string {
	out := map[string]string{}
	days, _ := p.rep["days"].([]any)
	for _, d := range days {
		d := d.(map[string]any)
		out[d["delivery_day"].(string)] = d["action"].(string)
	}
	return out
}

// dayManifest is what the checks read of a day manifest.
type dayManifest struct {
	State  string                      `json:"state"`
	Files  []string                    `json:"files"`
	Rows   map[string]map[string]int64 `json:"rows"`
	Holder string                      `json:"holder"`
}

// checkLake checks the destination dir as the processes left it: no lease or temporary
// file left; every day's manifest complete, listing exactly the day's files, with the row
// counts the files hold (read by DuckDB), written by one of procs that says it wrote the
// day; the rows and files those of the clean run. It returns, per day, how many of procs
// say they wrote it.
func (w *leaseWorld) checkLake(t *testing.T, dir string, procs []*proc) map[string]int {
	t.Helper()
	present := map[string][]string{} // delivery day → files
	for _, f := range listAll(t, dir) {
		base := path.Base(f)
		switch {
		case strings.HasPrefix(base, ".") || strings.HasSuffix(base, ".tmp"):
			t.Errorf("leftover temporary file %s", f)
		case strings.HasPrefix(f, "_marketrail/leases/"):
			t.Errorf("leftover lease %s", f)
		case strings.HasPrefix(f, "_marketrail/days/"), f == "_marketrail/marker.json":
		default:
			present[base[:10]] = append(present[base[:10]], f)
		}
	}
	// Rows per file, by DuckDB.
	db := duckcheck.Open(t)
	perFile := map[string]int64{}
	for _, tb := range marketplace.Tables() {
		if _, err := os.Stat(filepath.Join(dir, tb.Name)); err != nil {
			continue
		}
		for _, r := range duckcheck.Strings(t, db, `SELECT filename, count(*) FROM `+duckcheck.Table(dir, tb.Name)+` GROUP BY filename`) {
			rel, _ := filepath.Rel(dir, r[0])
			n, _ := strconv.ParseInt(r[1], 10, 64)
			perFile[filepath.ToSlash(rel)] = n
		}
	}
	writers := map[string]int{}
	for _, day := range w.days {
		for _, p := range procs {
			if p.actions()[day] == "written" {
				writers[day]++
			}
		}
		b, err := os.ReadFile(filepath.Join(dir, "_marketrail", "days", day+".json"))
		if err != nil {
			t.Errorf("day %s has no manifest: %v", day, err)
			continue
		}
		var m dayManifest
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		if m.State != "complete" {
			t.Errorf("day %s: manifest %s", day, m.State)
		}
		have := slices.Sorted(slices.Values(present[day]))
		if !slices.Equal(have, m.Files) {
			t.Errorf("day %s: the manifest lists %q, the destination holds %q", day, m.Files, have)
		}
		for table, parts := range m.Rows {
			for part, n := range parts {
				var got int64
				for _, f := range m.Files {
					if strings.HasPrefix(f, table+"/event_date="+part+"/") {
						got += perFile[f]
					}
				}
				if got != n {
					t.Errorf("day %s: the manifest says %d rows of %s in %s, its files hold %d", day, n, table, part, got)
				}
			}
		}
		pid, _ := strconv.Atoi(strings.Split(m.Holder, ":")[max(0, len(strings.Split(m.Holder, ":"))-2)])
		var by *proc
		for _, p := range procs {
			if p.cmd.Process.Pid == pid {
				by = p
			}
		}
		if by == nil || !by.killed && by.actions()[day] != "written" {
			t.Errorf("day %s: its manifest was written by %q, not by a run that says it wrote the day", day, m.Holder)
		}
	}
	if rows, full := written(t, dir); !slices.Equal(full, w.cleanFull) {
		diff(t, "rows", rows, w.cleanRows)
		t.Errorf("rows differ from a clean run of the final source")
	}
	if files := parquetFiles(t, dir); !slices.Equal(files, w.cleanFiles) {
		t.Errorf("files differ from a clean run:\n got %q\nwant %q", files, w.cleanFiles)
	}
	return writers
}

// recheck runs the whole window again: every day must be found unchanged.
func (w *leaseWorld) recheck(t *testing.T, src, dest string) {
	t.Helper()
	r := marketrail(t, w.env(""), "run", "--source", src, "--dest", dest, "--from", w.days[0], "--to", w.days[3])
	if rep := runReport(t, r); r.code != 0 || rep["days_written"].(float64) != 0 {
		t.Errorf("a run after the trial: exit %d, %v days written again, want 0\n%s", r.code, rep["days_written"], r.stderr)
	}
}

func forStores(t *testing.T, fn func(t *testing.T, w *leaseWorld)) {
	if testing.Short() {
		t.Skip("-short")
	}
	for _, kind := range []string{"local", "s3"} {
		t.Run(kind, func(t *testing.T) {
			if kind == "s3" {
				s3test.Need(t)
			}
			fn(t, newLeaseWorld(t, kind))
		})
	}
}

// TestOverlappingRuns: two runs with overlapping windows (days 0-2 and 1-3) at once. In
// half the trials one of them is slowed (its uploads: on S3 by the fault proxy, which also
// answers some of its conditional writes 409 ConditionalRequestConflict, as AWS does when
// two race) and a log file of a shared day arrives after it has taken that day, before the
// other run starts.
func TestOverlappingRuns(t *testing.T) {
	forStores(t, func(t *testing.T, w *leaseWorld) {
		rng := rand.New(rand.NewPCG(11, uint64(len(w.kind))))
		for i := range overlapTrials {
			late := i%2 == 1
			t.Run(fmt.Sprintf("trial-%d-late-%v", i, late), func(t *testing.T) {
				src, add := w.source(t, late)
				dest, snap := w.dest(t)
				args := func(from, to string) []string {
					return []string{"run", "--source", src, "--dest", dest, "--from", from, "--to", to, "--workers", "4"}
				}
				envA := w.env("")
				var proxy *faultproxy.Proxy
				if late {
					if w.kind == "s3" {
						p, err := faultproxy.New(w.srv.Endpoint, faultproxy.Config{WriteDelay: 150 * time.Millisecond, ConflictEvery: 3})
						if err != nil {
							t.Fatal(err)
						}
						defer p.Close()
						envA, proxy = w.env(p.URL), p
					} else {
						envA = w.env("", delayEnv+"=upload:150ms")
					}
				}
				a := start(t, envA, args(w.days[0], w.days[2])...)
				if late {
					// The late file arrives once A has taken (and so is listing) the day.
					for end := time.Now().Add(10 * time.Second); time.Now().Before(end) && !w.exists(dest, "_marketrail/leases/"+w.days[1]+".json"); {
						time.Sleep(2 * time.Millisecond)
					}
					add()
				} else {
					time.Sleep(time.Duration(rng.IntN(40)) * time.Millisecond)
				}
				b := start(t, w.env(""), args(w.days[1], w.days[3])...)
				a.wait(t)
				b.wait(t)
				for name, p := range map[string]*proc{"A": a, "B": b} {
					if p.code != 0 {
						t.Fatalf("run %s: exit %d\n%s", name, p.code, p.errb.String())
					}
				}
				writers := w.checkLake(t, snap(), []*proc{a, b})
				for day, n := range writers {
					// Without a late file, a day written by one run is unchanged for the other.
					if !late && n != 1 {
						t.Errorf("day %s written by %d runs", day, n)
					}
				}
				t.Logf("days written by A %v, by B %v", a.actions(), b.actions())
				if proxy != nil {
					t.Logf("A's proxy: %d conditional writes, %d answered 409", proxy.Conditional.Load(), proxy.Conflicts.Load())
					if proxy.Conflicts.Load() == 0 {
						t.Errorf("no 409 injected")
					}
				}
				w.recheck(t, src, dest)
			})
		}
	})
}

// TestShardsIntoEmptyDestination: three shards started together into an empty destination.
func TestShardsIntoEmptyDestination(t *testing.T) {
	forStores(t, func(t *testing.T, w *leaseWorld) {
		src, _ := w.source(t, false)
		for i := range shardTrials {
			t.Run(fmt.Sprintf("trial-%d", i), func(t *testing.T) {
				dest, snap := w.dest(t)
				var procs []*proc
				for s := range 3 {
					procs = append(procs, start(t, w.env(""), "run", "--source", src, "--dest", dest,
						"--from", w.days[0], "--to", w.days[3], "--shard", fmt.Sprintf("%d/3", s), "--workers", "2"))
				}
				for s, p := range procs {
					if p.wait(t); p.code != 0 {
						t.Fatalf("shard %d: exit %d\n%s", s, p.code, p.errb.String())
					}
				}
				for day, n := range w.checkLake(t, snap(), procs) {
					if n != 1 {
						t.Errorf("day %s written by %d shards", day, n)
					}
				}
			})
		}
	})
}

// TestKilledRunsLeaseTakenOver: a run killed (SIGKILL) with leases held leaves them; the
// next run waits for them to expire (on the store's clock), takes them over and finishes
// the days. Leases are shortened to 3 s for the test.
func TestKilledRunsLeaseTakenOver(t *testing.T) {
	forStores(t, func(t *testing.T, w *leaseWorld) {
		src, _ := w.source(t, false)
		dest, snap := w.dest(t)
		args := []string{"run", "--source", src, "--dest", dest, "--from", w.days[0], "--to", w.days[3]}
		lease := leaseEnv + "=3s"
		killed := start(t, w.env("", lease, crashEnv+"=published:2"), args...)
		if killed.wait(t); !killed.killed {
			t.Fatalf("the run was not killed (exit %d)\n%s", killed.code, killed.errb.String())
		}
		var left []string
		for _, d := range w.days {
			if w.exists(dest, "_marketrail/leases/"+d+".json") {
				left = append(left, d)
			}
		}
		if len(left) == 0 {
			t.Fatalf("the killed run left no lease")
		}
		began := time.Now()
		next := start(t, w.env("", lease), args...)
		next.wait(t)
		if next.code != 0 {
			t.Fatalf("next run: exit %d\n%s", next.code, next.errb.String())
		}
		if !strings.Contains(next.errb.String(), "took over an expired lease") {
			t.Errorf("the next run did not say it took a lease over:\n%s", next.errb.String())
		}
		t.Logf("leases left for %v, taken over after %v", left, time.Since(began).Round(time.Millisecond))
		w.checkLake(t, snap(), []*proc{killed, next})
	})
}

// TestHeldDay: a day whose lease another run holds throughout the wait is reported held,
// the run exits 3 and writes nothing of it; once the lease is gone the next run writes it.
// --no-lease ignores leases.
func TestHeldDay(t *testing.T) {
	forStores(t, func(t *testing.T, w *leaseWorld) {
		src, _ := w.source(t, false)
		dest, snap := w.dest(t)
		args := []string{"run", "--source", src, "--dest", dest, "--from", w.days[0], "--to", w.days[3]}
		holder := "elsewhere:4242:0123456789abcdef"
		other := fmt.Sprintf(`{"holder":%q,"token":"0123456789abcdef","host":"elsewhere","pid":4242,"ttl_seconds":3600}`, holder)
		key := "_marketrail/leases/" + w.days[2] + ".json"
		put := func() {
			if w.kind == "local" {
				os.MkdirAll(filepath.Join(dest, "_marketrail", "leases"), 0o755)
				os.WriteFile(filepath.Join(dest, filepath.FromSlash(key)), []byte(other), 0o644)
				return
			}
			prefix := strings.TrimPrefix(dest, "s3://"+w.bucket+"/")
			w.c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &w.bucket, Key: aws.String(prefix + "/" + key), Body: strings.NewReader(other)})
		}
		put()
		r := marketrail(t, w.env("", leaseEnv+"=2s:500ms"), args...)
		rep := runReport(t, r)
		if r.code != 3 || rep["status"] != "days_held" || rep["days_held"].(float64) != 1 {
			t.Fatalf("held day: exit %d, status %v, %v days held\n%s", r.code, rep["status"], rep["days_held"], r.stderr)
		}
		for _, d := range rep["days"].([]any) {
			d := d.(map[string]any)
			held := d["delivery_day"] == w.days[2]
			if held != (d["action"] == "held") || held && d["held_by"] != holder {
				t.Errorf("day %v: action %v, held by %v", d["delivery_day"], d["action"], d["held_by"])
			}
		}
		if w.exists(dest, "_marketrail/days/"+w.days[2]+".json") {
			t.Errorf("the held day was written")
		}
		if !w.exists(dest, key) {
			t.Errorf("the other run's lease was removed")
		}
		// The lease gone, the day is written, and only it.
		if w.kind == "local" {
			os.Remove(filepath.Join(dest, filepath.FromSlash(key)))
		} else {
			prefix := strings.TrimPrefix(dest, "s3://"+w.bucket+"/")
			w.c.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: &w.bucket, Key: aws.String(prefix + "/" + key)})
		}
		r = marketrail(t, w.env(""), args...)
		if rep := runReport(t, r); r.code != 0 || rep["days_written"].(float64) != 1 {
			t.Fatalf("after the lease is gone: exit %d, %v days written\n%s", r.code, rep["days_written"], r.stderr)
		}
		if rows, full := written(t, snap()); !slices.Equal(full, w.cleanFull) {
			diff(t, "rows", rows, w.cleanRows)
			t.Errorf("rows differ from a clean run")
		}
		// --no-lease does not look at leases, and warns.
		put()
		if r := marketrail(t, w.env(""), append(args, "--no-lease", "--force")...); r.code != 0 || !strings.Contains(r.stderr, "--no-lease") {
			t.Errorf("--no-lease: exit %d\n%s", r.code, r.stderr)
		}
	})
}
