package main

// Fault tests: the binary reads from the real S3 server through internal/faultproxy, which
// answers 503 SlowDown and 500 InternalError, cuts object bodies off mid-stream, and plays
// archived (Glacier) objects. The output must still be exactly the manifest's.

import (
	"slices"
	"strings"
	"testing"

	"github.com/marketrail/marketrail/internal/faultproxy"
	"github.com/marketrail/marketrail/internal/s3test"
)

// faultRun uploads the sample trail to a new bucket, runs the binary on it through a fault
// proxy configured by cfg (source and destination both on the bucket, through the proxy),
// and returns the run, the rows it wrote and the proxy.
func faultRun(t *testing.T, m *manifest, cfg faultproxy.Config) (result, []row, *faultproxy.Proxy) {
	t.Helper()
	c, srv := s3test.Client(t)
	bucket := s3test.Bucket(t, c)
	upload(t, c, sampleTrail, bucket, "logs/")
	p, err := faultproxy.New(srv.Endpoint, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	r := marketrail(t, srv.Env(), "run", "--source", "s3://"+bucket+"/logs", "--dest", "s3://"+bucket+"/lake",
		"--from", m.Window.From, "--to", m.Window.To, "--endpoint-url", p.URL)
	t.Logf("proxy: %s", p)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	got, _ := written(t, download(t, c, bucket, "lake/"))
	return r, got, p
}

// TestFaultInjectedS3: with SlowDown and InternalError answers, listings throttled and half
// the objects' bodies cut off mid-stream, a run still exits 0, writes exactly the manifest's
// rows, and reads every byte once: its counts equal those of a clean run over the same files
// from a local folder.
func TestFaultInjectedS3(t *testing.T) {
	m := readManifest(t, sampleManifest)
	r, got, p := faultRun(t, m, faultproxy.Config{SlowDownEvery: 3, InternalErrorEvery: 4, ResetEvery: 2, ListSlowDownEvery: 3})
	diff(t, "through the fault proxy", got, m.expected(m.Window.From, m.Window.To))
	if p.SlowDowns.Load() == 0 || p.InternalErrors.Load() == 0 || p.Resets.Load() == 0 || p.ListSlowDowns.Load() == 0 {
		t.Errorf("the proxy did not inject every kind of fault: %s", p)
	}

	clean := marketrail(t, nil, "run", "--source", sampleTrail, "--dest", t.TempDir(), "--from", m.Window.From, "--to", m.Window.To)
	if clean.code != 0 {
		t.Fatalf("local run: exit %d\n%s", clean.code, clean.stderr)
	}
	faulted, local := totals(runReport(t, r)), totals(runReport(t, clean))
	for _, k := range []string{"objects_listed", "log_files_read", "objects_failed", "bytes_read", "bytes_decompressed",
		"records_scanned", "events_matched", "duplicates_dropped"} {
		if faulted[k] != local[k] {
			t.Errorf("%s: %v through the fault proxy, %v from the local folder", k, faulted[k], local[k])
		}
	}
}

// TestArchivedViaProxy: an object S3 refuses to read because it is archived (403
// InvalidObjectState) is skipped, not failed: the run exits 0, the summary counts it under
// objects_skipped "archived" and lists its key, and every other file's events are written.
func TestArchivedViaProxy(t *testing.T) {
	m := readManifest(t, sampleManifest)
	// The log file with the most events of the window.
	perKey := map[string]int{}
	for _, c := range m.Copies {
		if c.DeliveryDay >= m.Window.From && c.DeliveryDay <= m.Window.To {
			perKey[c.SourceKey]++
		}
	}
	var cold string
	for k, n := range perKey {
		if n > perKey[cold] || n == perKey[cold] && k < cold {
			cold = k
		}
	}
	name := cold[strings.LastIndexByte(cold, '/')+1:]
	r, got, p := faultRun(t, m, faultproxy.Config{Archived: []string{name}})

	rest := *m
	rest.Copies = nil
	for _, c := range m.Copies {
		if c.SourceKey != cold {
			rest.Copies = append(rest.Copies, c)
		}
	}
	want := rest.expected(m.Window.From, m.Window.To)
	if len(want) == len(m.expected(m.Window.From, m.Window.To)) {
		t.Fatalf("%s holds no event of the window: pick another file", cold)
	}
	diff(t, "with an archived object", got, want)
	if n := p.Archived.Load(); n != 1 {
		t.Errorf("the archived object was requested %d times, want once (it must not be retried)", n)
	}

	rep := runReport(t, r)
	if rep["status"] != "ok" || totals(rep)["objects_failed"].(float64) != 0 {
		t.Errorf("status %v, objects_failed %v: an archived object is a skip, not a failure", rep["status"], totals(rep)["objects_failed"])
	}
	if n := totals(rep)["objects_skipped"].(map[string]any)["archived"]; n != 1.0 {
		t.Errorf(`objects_skipped "archived" is %v, want 1`, n)
	}
	var listed []string
	for _, d := range rep["days"].([]any) {
		for _, k := range d.(map[string]any)["archived"].([]any) {
			listed = append(listed, k.(string))
		}
	}
	if !slices.Equal(listed, []string{cold}) {
		t.Errorf("the summary's archived lists %q, want [%s]", listed, cold)
	}
	if !strings.Contains(r.stderr, cold) {
		t.Errorf("the log does not name the archived object %s", cold)
	}
}
