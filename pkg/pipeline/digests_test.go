package pipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"iter"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/marketrail/marketrail/internal/duckcheck"
	"github.com/marketrail/marketrail/internal/gentrail"
	"github.com/marketrail/marketrail/internal/s3test"
	"github.com/marketrail/marketrail/pkg/digest"
	"github.com/marketrail/marketrail/pkg/pipeline"
	"github.com/marketrail/marketrail/pkg/report"
	"github.com/marketrail/marketrail/pkg/storage"
	"github.com/marketrail/marketrail/pkg/trail"
)

// signedArchive generates 3 delivery days with real, signed hourly digests for the first
// account (in both trails: two chains) in the first region, a _backfill digest in each
// chain, and returns its folder and manifest.
func signedArchive(t *testing.T) (string, *gentrail.Manifest) {
	t.Helper()
	dir := t.TempDir()
	m, err := gentrail.Generate(dir, gentrail.Config{
		Seed: 5, Start: time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC), Days: 3, Accounts: 2, Regions: 2,
		FilesPerFolder: 4, RecordsPerFile: 5, MarketplaceRatio: 0.3, DigestAccounts: 1, DigestRegions: 1,
		SignedDigests: true, DigestBackfill: true, FastGzip: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir, m
}

// untouched is the digests section an untouched signedArchive gives, from the manifest.
func untouched(m *gentrail.Manifest) report.Digests {
	want := report.Digests{HashMismatch: []string{}, NotCovered: []string{}, Missing: []string{},
		ChainBreaks: []report.ChainBreak{}, BadDigests: []report.Failure{}, SignaturesChecked: true}
	named := map[string]bool{}
	for _, o := range m.Objects {
		named[o.PreviousDigest] = true
	}
	for _, o := range m.Objects {
		switch {
		case o.Kind == gentrail.KindLog && o.DigestedBy != "":
			want.LogFilesVerified++
			if strings.HasSuffix(o.DigestedBy, "_backfill.json.gz") {
				want.VerifiedByBackfill++
			}
		case o.Kind == gentrail.KindLog:
			want.NotCovered = append(want.NotCovered, o.Key)
		case o.Kind == gentrail.KindDigest:
			want.DigestFiles++
			// Locally, a digest's signature comes from the next digest of its chain only.
			if o.Backfill || !named[o.Key] {
				want.SignaturesUnknown++
			} else {
				want.SignaturesVerified++
			}
		}
	}
	slices.Sort(want.NotCovered)
	return want
}

func digestKeys(t *testing.T) digest.KeySet {
	t.Helper()
	k, err := digest.ParsePublicKeys(gentrail.DigestPublicKeys())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func verify(t *testing.T, dir string, m *gentrail.Manifest, tweak func(*pipeline.Config)) *report.Digests {
	t.Helper()
	from, _ := trail.ParseDay(m.Window.From)
	to, _ := trail.ParseDay(m.Window.To)
	rep := run(t, dir, t.TempDir(), from, to, func(c *pipeline.Config) {
		c.VerifyDigests, c.DigestKeys = true, digestKeys(t)
		if tweak != nil {
			tweak(c)
		}
	})
	if rep.Digests == nil {
		t.Fatal("no digests section in the report")
	}
	return rep.Digests
}

func sameDigests(t *testing.T, got *report.Digests, want report.Digests) {
	t.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if !bytes.Equal(g, w) {
		t.Errorf("digests section:\n got %s\nwant %s", g, w)
	}
}

func rewriteGz(t *testing.T, file string, edit func([]byte) []byte) {
	t.Helper()
	if err := gentrail.Tamper(file, edit); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyDigests runs --verify-digests over a generated archive, untouched and then
// changed one way at a time, and checks the report says exactly what was done.
func TestVerifyDigests(t *testing.T) {
	// pick returns a log file of the middle day listed by an hourly digest, that digest and
	// the next one of its chain.
	pick := func(m *gentrail.Manifest) (log, dg, next gentrail.Object) {
		for _, o := range m.Objects {
			if o.Kind == gentrail.KindLog && o.DeliveryDay == "2024-06-02" && o.DigestedBy != "" &&
				!strings.HasSuffix(o.DigestedBy, "_backfill.json.gz") && log.Key == "" {
				log = o
			}
		}
		for _, o := range m.Objects {
			if o.Key == log.DigestedBy {
				dg = o
			}
		}
		for _, o := range m.Objects {
			if o.PreviousDigest == dg.Key {
				next = o
			}
		}
		return
	}
	path := func(dir, key string) string { return filepath.Join(dir, filepath.FromSlash(key)) }
	tests := []struct {
		name string
		edit func(t *testing.T, dir string, m *gentrail.Manifest, want *report.Digests)
	}{
		{"untouched", func(*testing.T, string, *gentrail.Manifest, *report.Digests) {}},
		{"a log file changed", func(t *testing.T, dir string, m *gentrail.Manifest, want *report.Digests) {
			log, _, _ := pick(m)
			rewriteGz(t, path(dir, log.Key), func(b []byte) []byte { return bytes.Replace(b, []byte(`"eventVersion"`), []byte(`"eventVersion" `), 1) })
			want.LogFilesVerified--
			want.HashMismatch = []string{log.Key}
		}},
		{"a log file deleted", func(t *testing.T, dir string, m *gentrail.Manifest, want *report.Digests) {
			log, _, _ := pick(m)
			if err := os.Remove(path(dir, log.Key)); err != nil {
				t.Fatal(err)
			}
			want.LogFilesVerified--
			want.Missing = []string{log.Key}
		}},
		{"a digest deleted", func(t *testing.T, dir string, m *gentrail.Manifest, want *report.Digests) {
			_, dg, next := pick(m)
			if err := os.Remove(path(dir, dg.Key)); err != nil {
				t.Fatal(err)
			}
			want.DigestFiles--
			want.ChainBreaks = []report.ChainBreak{{Key: next.Key, Previous: dg.Key, Reason: digest.BreakMissing}}
			for _, o := range m.Objects {
				if o.DigestedBy == dg.Key {
					want.LogFilesVerified--
					want.NotCovered = append(want.NotCovered, o.Key)
				}
			}
			slices.Sort(want.NotCovered)
			// The deleted digest's signature was verified through next; next's own, through
			// the one after it, still is; the digest before dg has lost its successor.
			want.SignaturesVerified -= 2
			want.SignaturesUnknown++
		}},
		{"a backfill digest deleted", func(t *testing.T, dir string, m *gentrail.Manifest, want *report.Digests) {
			for _, o := range m.Objects {
				if o.Backfill {
					if err := os.Remove(path(dir, o.Key)); err != nil {
						t.Fatal(err)
					}
					want.DigestFiles--
					want.SignaturesUnknown--
				}
			}
			for _, o := range m.Objects {
				if strings.HasSuffix(o.DigestedBy, "_backfill.json.gz") {
					want.LogFilesVerified--
					want.VerifiedByBackfill--
					want.NotCovered = append(want.NotCovered, o.Key)
				}
			}
			slices.Sort(want.NotCovered)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, m := signedArchive(t)
			want := untouched(m)
			if want.VerifiedByBackfill != 2 || len(want.NotCovered) == 0 || want.LogFilesVerified == 0 {
				t.Fatalf("the archive is not what the test needs: %+v", want)
			}
			tt.edit(t, dir, m, &want)
			sameDigests(t, verify(t, dir, m, nil), want)
		})
	}
}

// flaky breaks off the first read of every log file halfway, as a reset connection would:
// the retried read must hash the file from scratch.
type flaky struct {
	storage.Storage
	mu     sync.Mutex
	seen   map[string]bool
	broken int
}

func (f *flaky) List(ctx context.Context, prefix string, delim bool) iter.Seq2[storage.Entry, error] {
	return f.Storage.List(ctx, prefix, delim)
}

func (f *flaky) Load(ctx context.Context, key string, fn func(io.Reader) error) error {
	f.mu.Lock()
	first := !f.seen[key] && strings.Contains(key, "/CloudTrail/")
	f.seen[key] = true
	if first {
		f.broken++
	}
	f.mu.Unlock()
	if !first {
		return f.Storage.Load(ctx, key, fn)
	}
	return f.Storage.Load(ctx, key, func(r io.Reader) error {
		b, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		return fn(io.MultiReader(bytes.NewReader(b[:len(b)/2]), errReader{&storage.ReadError{Key: key, Err: io.ErrUnexpectedEOF}}))
	})
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestVerifyDigestsRetriedRead(t *testing.T) {
	dir, m := signedArchive(t)
	want := untouched(m)
	f := &flaky{seen: map[string]bool{}}
	got := verify(t, dir, m, func(c *pipeline.Config) {
		f.Storage = c.Source
		c.Source = storage.WithRetry(f, storage.RetryPolicy{Backoff: time.Millisecond})
	})
	sameDigests(t, got, want)
	if f.broken < want.LogFilesVerified {
		t.Errorf("only %d reads broke off", f.broken)
	}
}

// TestVerifyDigestsS3 uploads the archive to a bucket, each digest with its signature as
// x-amz-meta-signature (as CloudTrail delivers it): every signature is then at hand and
// verifies, and a digest whose metadata holds another signature is named.
func TestVerifyDigestsS3(t *testing.T) {
	c, _ := s3test.Client(t)
	dir, m := signedArchive(t)
	want := untouched(m)
	want.SignatureMetadata = true
	want.SignaturesVerified += want.SignaturesUnknown
	want.SignaturesUnknown = 0
	var forged gentrail.Object // a digest whose metadata gets another digest's signature
	var successor string
	for _, o := range m.Objects {
		if o.Kind == gentrail.KindDigest && o.DeliveryDay == "2024-06-02" && o.PreviousDigest != "" && forged.Key == "" {
			forged = o
		}
	}
	for _, o := range m.Objects {
		if o.PreviousDigest == forged.Key {
			successor = o.Key
		}
	}
	for _, tc := range []struct {
		name   string
		forge  bool
		expect func(*report.Digests)
	}{
		{"signatures in metadata", false, func(*report.Digests) {}},
		{"a forged signature", true, func(d *report.Digests) {
			d.SignaturesVerified--
			d.BadDigests = []report.Failure{{Key: forged.Key, Reason: "signature does not verify: " + forged.Key}}
			d.ChainBreaks = []report.ChainBreak{{Key: successor, Previous: forged.Key, Reason: digest.BreakSignature}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bucket := s3test.Bucket(t, c)
			ctx := context.Background()
			for _, o := range m.Objects {
				b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(o.Key)))
				if err != nil {
					t.Fatal(err)
				}
				in := &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("trail/" + o.Key), Body: bytes.NewReader(b)}
				if o.Signature != "" {
					sig := o.Signature
					if tc.forge && o.Key == forged.Key {
						sig = m.Objects[slices.IndexFunc(m.Objects, func(x gentrail.Object) bool { return x.Signature != "" && x.Key != forged.Key })].Signature
					}
					in.Metadata = map[string]string{"signature": sig, "signature-algorithm": "SHA256withRSA"}
				}
				if _, err := c.PutObject(ctx, in); err != nil {
					t.Fatal(err)
				}
			}
			w := want
			tc.expect(&w)
			from, _ := trail.ParseDay(m.Window.From)
			to, _ := trail.ParseDay(m.Window.To)
			cfg := pipeline.Config{
				Source: storage.NewS3(c, bucket, "trail"), Dest: open(t, t.TempDir(), true), From: from, To: to,
				Version: "test", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
				VerifyDigests: true, DigestKeys: digestKeys(t),
			}
			rep, err := pipeline.Run(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			sameDigests(t, rep.Digests, w)
		})
	}
}

// TestVerifyDigestsFetchedKeys: without DigestKeys, the keys come from FetchDigestKeys (the
// ListPublicKeys call in AWS), asked for every region of the archive and the window's days;
// when it fails, the run goes on as without keys.
func TestVerifyDigestsFetchedKeys(t *testing.T) {
	dir, m := signedArchive(t)
	withKeys := verify(t, dir, m, nil)
	withoutKeys := verify(t, dir, m, func(c *pipeline.Config) { c.DigestKeys = nil })
	if reflect.DeepEqual(withKeys, withoutKeys) {
		t.Fatal("keys make no difference to the report: the test proves nothing")
	}
	var regions []string
	for _, o := range m.Objects {
		if o.Kind == gentrail.KindLog && !slices.Contains(regions, o.Region) {
			regions = append(regions, o.Region)
		}
	}
	slices.Sort(regions)
	from, _ := trail.ParseDay(m.Window.From)
	to, _ := trail.ParseDay(m.Window.To)
	var asked []string
	fetched := verify(t, dir, m, func(c *pipeline.Config) {
		c.DigestKeys = nil
		c.FetchDigestKeys = func(_ context.Context, r []string, start, end time.Time) (digest.KeySet, error) {
			asked = r
			if !start.Equal(from.Time()) || !end.Equal(to.AddDays(2).Time()) {
				t.Errorf("keys asked for %v..%v, want %v..%v", start, end, from.Time(), to.AddDays(2).Time())
			}
			return digestKeys(t), nil
		}
	})
	if !slices.Equal(asked, regions) {
		t.Errorf("keys asked for regions %q, want %q", asked, regions)
	}
	if !reflect.DeepEqual(fetched, withKeys) {
		t.Errorf("with fetched keys the report differs from one with the same keys given")
	}
	failed := verify(t, dir, m, func(c *pipeline.Config) {
		c.DigestKeys = nil
		c.FetchDigestKeys = func(context.Context, []string, time.Time, time.Time) (digest.KeySet, error) {
			return nil, errors.New("AccessDenied")
		}
	})
	if !reflect.DeepEqual(failed, withoutKeys) {
		t.Errorf("when fetching keys fails the report differs from one without keys")
	}
}

// TestSourceDigestColumn: with --verify-digests every row carries what the digests say of
// its log file — verified, hash_mismatch for a file changed since delivery, not_covered for
// one no digest lists — as the generator's manifest has it; without, the column is null.
func TestSourceDigestColumn(t *testing.T) {
	dir, m := signedArchive(t)
	from, _ := trail.ParseDay(m.Window.From)
	to, _ := trail.ParseDay(m.Window.To)
	want := map[string]string{}
	var changed string
	kept := map[string]bool{} // log files with rows: a copy of an event kept by dedup
	for _, c := range m.Expected(m.Window.From, m.Window.To) {
		kept[c.SourceKey] = true
	}
	for _, o := range m.Objects {
		if o.Kind != gentrail.KindLog || !kept[o.Key] {
			continue
		}
		want[o.Key] = "not_covered"
		if o.DigestedBy != "" {
			want[o.Key] = "verified"
			if changed == "" && !strings.HasSuffix(o.DigestedBy, "_backfill.json.gz") {
				changed = o.Key
			}
		}
	}
	if changed == "" || !slices.Contains(slices.Collect(maps.Values(want)), "not_covered") {
		t.Fatal("the archive lacks a digested or an undigested log file with Marketplace events")
	}
	rewriteGz(t, filepath.Join(dir, filepath.FromSlash(changed)), func(b []byte) []byte {
		return bytes.Replace(b, []byte(`"eventVersion"`), []byte(`"eventVersion" `), 1)
	})
	want[changed] = "hash_mismatch"

	states := func(dest string) map[string]string {
		db := duckcheck.Open(t)
		got := map[string]string{}
		for _, table := range []string{"events", "metering_records"} {
			for _, r := range duckcheck.Strings(t, db, "SELECT DISTINCT source_key, coalesce(source_digest, 'NULL') FROM "+duckcheck.Table(dest, table)) {
				if prev, ok := got[r[0]]; ok && prev != r[1] {
					t.Errorf("%s: rows say both %s and %s", r[0], prev, r[1])
				}
				got[r[0]] = r[1]
			}
		}
		return got
	}
	dest := t.TempDir()
	run(t, dir, dest, from, to, func(c *pipeline.Config) { c.VerifyDigests, c.DigestKeys = true, digestKeys(t) })
	if got := states(dest); !maps.Equal(got, want) {
		t.Errorf("source_digest per log file:\n got %v\nwant %v", got, want)
	}
	plain := t.TempDir()
	run(t, dir, plain, from, to, nil)
	for k, v := range states(plain) {
		if v != "NULL" {
			t.Errorf("%s: source_digest %s without --verify-digests", k, v)
		}
	}
}

// TestVerifyDigestsExitStatus: a run whose digests vouch for everything it read exits 0; one
// that read a log file changed since delivery exits 4 (digest_problems).
func TestVerifyDigestsExitStatus(t *testing.T) {
	dir, m := signedArchive(t)
	from, _ := trail.ParseDay(m.Window.From)
	to, _ := trail.ParseDay(m.Window.To)
	verifying := func(c *pipeline.Config) { c.VerifyDigests, c.DigestKeys = true, digestKeys(t) }
	if rep := run(t, dir, t.TempDir(), from, to, verifying); rep.ExitCode != report.ExitOK || rep.Status != report.StatusOK {
		t.Errorf("untouched: exit %d (%s), want 0", rep.ExitCode, rep.Status)
	}
	for _, o := range m.Objects {
		if o.Kind == gentrail.KindLog && o.DigestedBy != "" {
			rewriteGz(t, filepath.Join(dir, filepath.FromSlash(o.Key)), func(b []byte) []byte { return append(b, ' ') })
			break
		}
	}
	if rep := run(t, dir, t.TempDir(), from, to, verifying); rep.ExitCode != report.ExitDigests || rep.Status != report.StatusDigests {
		t.Errorf("a log file changed: exit %d (%s), want %d", rep.ExitCode, rep.Status, report.ExitDigests)
	}
	if rep := run(t, dir, t.TempDir(), from, to, nil); rep.ExitCode != report.ExitOK {
		t.Errorf("without --verify-digests: exit %d, want 0", rep.ExitCode)
	}
}
