package follow

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/marketrail/marketrail/pkg/lake"
	"github.com/marketrail/marketrail/pkg/source"
	"github.com/marketrail/marketrail/pkg/storage"
	"github.com/marketrail/marketrail/pkg/trail"
)

func TestRelative(t *testing.T) {
	const log = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/01/111122223333_CloudTrail_us-east-1_20240301T0005Z_abcdefghijklmnop.json.gz"
	tests := []struct {
		name, bucket, prefix string
		sel                  source.Selection
		objBucket, objKey    string
		wantKey, wantSkip    string
	}{
		{"a log file at the bucket's root", "trail", "", source.Selection{}, "trail", log, log, ""},
		{"a log file under the prefix", "trail", "logs", source.Selection{}, "trail", "logs/" + log, log, ""},
		{"another bucket", "trail", "", source.Selection{}, "other", log, "", SkipOtherBucket},
		{"outside the prefix", "trail", "logs", source.Selection{}, "trail", "old/" + log, "", SkipOutside},
		{"a prefix that only begins the same", "trail", "logs", source.Selection{}, "trail", "logs2/" + log, "", SkipOutside},
		{"a digest", "trail", "", source.Selection{}, "trail",
			"AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/03/01/111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20240301T010203Z.json.gz", "", SkipDigest},
		{"an Insights file", "trail", "", source.Selection{}, "trail",
			"AWSLogs/111122223333/CloudTrail-Insight/us-east-1/2024/03/01/111122223333_CloudTrail-Insight_us-east-1_20240301T0005Z_abcdefghijklmnop.json.gz", "", SkipInsight},
		{"not a trail's key", "trail", "", source.Selection{}, "trail", "reports/2024/summary.csv", "", SkipNotTrail},
		{"another object of a day folder is an input of the day", "trail", "", source.Selection{}, "trail",
			"AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/01/README.txt", "AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/01/README.txt", ""},
		{"an account left out", "trail", "", source.Selection{Accounts: []string{"444455556666"}}, "trail", log, "", SkipNotSelected},
		{"a region left out", "trail", "", source.Selection{Regions: []string{"eu-west-1"}}, "trail", log, "", SkipNotSelected},
		{"a region selected", "trail", "", source.Selection{Regions: []string{"us-east-1"}}, "trail", log, log, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &follower{cfg: Config{Bucket: tt.bucket, Prefix: tt.prefix}}
			f.cfg.Job.Selection = tt.sel
			key, skip := f.relative(tt.objBucket, tt.objKey)
			if key != tt.wantKey || skip != tt.wantSkip {
				t.Errorf("relative(%q, %q) = %q, %q; want %q, %q", tt.objBucket, tt.objKey, key, skip, tt.wantKey, tt.wantSkip)
			}
		})
	}
}

func TestHealth(t *testing.T) {
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name        string
		lastReceive time.Time
		lastBatch   error
		want        string // "" for healthy, else a part of the error
	}{
		{"never received", time.Time{}, nil, "no receive"},
		{"received lately", now.Add(-30 * time.Second), nil, ""},
		{"received too long ago", now.Add(-5 * time.Minute), nil, "no receive has succeeded for 5m0s"},
		{"the last batch failed", now.Add(-time.Second), errors.New("put: access denied"), "the last publish failed: put: access denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Stats{lastReceive: tt.lastReceive, lastBatch: tt.lastBatch}
			err := s.Health(now, 2*time.Minute)
			if (err == nil) != (tt.want == "") || err != nil && !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Health = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestHandler(t *testing.T) {
	s := &Stats{}
	s.Received.Add(7)
	s.Deleted.Add(5)
	s.Unreadable.Add(1)
	s.GivenUp.Add(2)
	s.skip(SkipDigest)
	s.skip(SkipDigest)
	s.skip(SkipOtherBucket)
	s.lag = []time.Duration{3 * time.Second, 40 * time.Second}
	h := Handler(s, time.Minute)
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		b, _ := io.ReadAll(rec.Body)
		return rec.Code, string(b)
	}
	if code, body := get("/healthz"); code != 503 || !strings.Contains(body, "no receive") {
		t.Errorf("/healthz before any receive: %d %q", code, body)
	}
	s.mu.Lock()
	s.lastReceive = time.Now()
	s.mu.Unlock()
	if code, body := get("/healthz"); code != 200 || strings.TrimSpace(body) != "ok" {
		t.Errorf("/healthz after a receive: %d %q", code, body)
	}
	_, body := get("/metrics")
	for _, want := range []string{
		"marketrail_follow_messages_received_total 7",
		"marketrail_follow_messages_deleted_total 5",
		"marketrail_follow_messages_unreadable_total 1",
		"marketrail_follow_files_given_up_total 2",
		`marketrail_follow_objects_skipped_total{reason="digest"} 2`,
		`marketrail_follow_objects_skipped_total{reason="other_bucket"} 1`,
		"marketrail_follow_lag_seconds_count 2",
		"marketrail_follow_lag_seconds_sum 43",
		`marketrail_follow_lag_seconds_bucket{le="5"} 1`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// A second scrape counts nothing twice.
	s.skip(SkipDigest)
	_, body = get("/metrics")
	for _, want := range []string{`marketrail_follow_objects_skipped_total{reason="digest"} 3`, "marketrail_follow_lag_seconds_count 2"} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("second scrape: /metrics lacks %q", want)
		}
	}
}

// TestListFromManifest: a day with a manifest follow trusts is listed from its inputs, the
// files that gave it no record marked not to be read, and the announced files found on the
// source added (an input announced again with new bytes replaces the old); a day whose
// manifest follow does not trust is listed from the source.
func TestListFromManifest(t *testing.T) {
	ctx := context.Background()
	srcDir, destDir := t.TempDir(), t.TempDir()
	src, err := storage.OpenLocal(srcDir, false)
	if err != nil {
		t.Fatal(err)
	}
	dest, err := storage.OpenLocal(destDir, true)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := trail.ParseDay("2024-03-01")
	folder := "AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/01/"
	name := func(hhmm, r string) string {
		return folder + "111122223333_CloudTrail_us-east-1_20240301T" + hhmm + "Z_" + r + ".json.gz"
	}
	put := func(key, body string) storage.Entry {
		p := filepath.Join(srcDir, filepath.FromSlash(key))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		e, ok, err := stat(ctx, src, key)
		if err != nil || !ok {
			t.Fatalf("stat %s: %v %v", key, ok, err)
		}
		return e
	}
	a, b, c := name("0005", "aaaaaaaaaaaaaaaa"), name("0010", "bbbbbbbbbbbbbbbb"), name("0015", "cccccccccccccccc")
	ea, eb := put(a, "records a"), put(b, "records b")
	settings := lake.Settings{SchemaHash: "x", MaxRowsPerFile: 10}
	w := &lake.Writer{Dest: dest, Version: "test"}
	publish := func(state bool) {
		src := &lake.Sources{Settings: settings, Inputs: []lake.Input{{Key: a, Size: ea.Size, ETag: ea.ETag}, {Key: b, Size: eb.Size, ETag: eb.ETag}},
			Matched: map[string]int{b: 3}}
		if _, err := w.PublishDay(ctx, d, src, state); err != nil {
			t.Fatal(err)
		}
	}
	publish(true)
	ec := put(c, "records c")
	eb2 := put(b, "records b, written again") // announced again, with new bytes
	l := &lister{src: src, w: w, settings: settings, listings: 4}
	l.batch(map[trail.Day][]string{d: {b, c, name("0020", "gonegonegonegone")}})
	list := func() []source.Object {
		var objs []source.Object
		if err := l.list(ctx, d, func(o source.Object) error { objs = append(objs, o); return nil }); err != nil {
			t.Fatal(err)
		}
		return objs
	}
	got := list()
	type obj struct {
		key, etag, skip string
		size            int64
	}
	summary := func(objs []source.Object) []obj {
		var out []obj
		for _, o := range objs {
			out = append(out, obj{o.Key, o.ETag, o.Skip, o.Size})
		}
		return out
	}
	want := []obj{{a, ea.ETag, source.SkipNoMatch, ea.Size}, {b, eb2.ETag, "", eb2.Size}, {c, ec.ETag, "", ec.Size}}
	if !slices.Equal(summary(got), want) {
		t.Errorf("listed from the manifest:\n %v\nwant\n %v", summary(got), want)
	}
	if !l.wasFound(b) || !l.wasFound(c) || l.wasFound(name("0020", "gonegonegonegone")) {
		t.Errorf("found: b %v, c %v, gone %v", l.wasFound(b), l.wasFound(c), l.wasFound(name("0020", "gonegonegonegone")))
	}

	// Written with other settings: listed from the source, every log file to read.
	l.settings.MaxRowsPerFile = 5
	got = list()
	want = []obj{{a, ea.ETag, "", ea.Size}, {b, eb2.ETag, "", eb2.Size}, {c, ec.ETag, "", ec.Size}}
	if !slices.Equal(summary(got), want) {
		t.Errorf("listed from the source:\n %v\nwant\n %v", summary(got), want)
	}
}
