package digest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/marketrail/marketrail/internal/gentrail"
	"github.com/marketrail/marketrail/pkg/digest"
	"github.com/marketrail/marketrail/pkg/source"
	"github.com/marketrail/marketrail/pkg/storage"
	"github.com/marketrail/marketrail/pkg/trail"
)

// signedConfig is a small archive with real digests: 2 accounts (the first in both trails,
// so three digested chains with 2 regions of digests), 3 delivery days, 4 log files per
// folder and day.
func signedConfig(backfill bool) gentrail.Config {
	return gentrail.Config{
		Seed: 11, Start: time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC), Days: 3, Accounts: 2, Regions: 2,
		FilesPerFolder: 4, RecordsPerFile: 3, MarketplaceRatio: 0.2, DigestAccounts: 1, DigestRegions: 1,
		SignedDigests: true, DigestBackfill: backfill, FastGzip: true,
	}
}

// withMetadata is a local folder that answers LoadMetadata as S3 would for a copy of the
// archive uploaded with the generator's signatures as x-amz-meta-signature.
type withMetadata struct {
	*storage.Local
	sigs map[string]string
}

func (w withMetadata) LoadMetadata(_ context.Context, key string) (map[string]string, error) {
	if s, ok := w.sigs[key]; ok {
		return map[string]string{"signature": s, "signature-algorithm": "SHA256withRSA"}, nil
	}
	return map[string]string{}, nil
}

type archive struct {
	dir   string
	m     *gentrail.Manifest
	store *storage.Local
}

func generate(t *testing.T, cfg gentrail.Config) archive {
	t.Helper()
	dir := t.TempDir()
	m, err := gentrail.Generate(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	st, err := storage.OpenLocal(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return archive{dir, m, st}
}

// audit runs an audit of the manifest's window over store the way a run would: load the
// digests, then hash every log file listed in the window's folders.
func audit(t *testing.T, a archive, store storage.Storage, keys digest.KeySet) digest.Summary {
	t.Helper()
	ctx := context.Background()
	from, _ := trail.ParseDay(a.m.Window.From)
	to, _ := trail.ParseDay(a.m.Window.To)
	folders, err := source.Discover(ctx, store, source.Selection{}, 4)
	if err != nil {
		t.Fatal(err)
	}
	au := digest.NewAuditor(store, "", keys, from, to)
	if err := au.Load(ctx, folders, 4); err != nil {
		t.Fatal(err)
	}
	for _, d := range trail.Range(from, to) {
		err := source.ListDay(ctx, store, folders, d, 4, func(o source.Object) error {
			if o.Skip != "" {
				return nil
			}
			return store.Load(ctx, o.Key, func(r io.Reader) error {
				b, err := io.ReadAll(r)
				if err != nil {
					return err
				}
				if zr, err := gzip.NewReader(bytes.NewReader(b)); err == nil {
					if b, err = io.ReadAll(zr); err != nil {
						return err
					}
				}
				sum := sha256.Sum256(b)
				au.Check(o.Key, sum[:])
				return nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return au.Summary()
}

// expect is what the manifest says an untouched audit finds.
func expect(m *gentrail.Manifest) (covered, notCovered, backfill, digests int) {
	for _, o := range m.Objects {
		switch {
		case o.Kind == gentrail.KindLog && o.DeliveryDay >= m.Window.From && o.DeliveryDay <= m.Window.To:
			if o.DigestedBy != "" {
				covered++
				if strings.HasSuffix(o.DigestedBy, "_backfill.json.gz") {
					backfill++
				}
			} else {
				notCovered++
			}
		case o.Kind == gentrail.KindDigest:
			digests++
		}
	}
	return
}

func keys(t *testing.T) digest.KeySet {
	t.Helper()
	k, err := digest.ParsePublicKeys(gentrail.DigestPublicKeys())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestAuditGeneratedArchive(t *testing.T) {
	a := generate(t, signedConfig(true))
	covered, notCovered, backfill, digests := expect(a.m)
	chainEnds, backfills := 0, 0
	named := map[string]bool{}
	for _, o := range a.m.Objects {
		named[o.PreviousDigest] = true
	}
	for _, o := range a.m.Objects {
		switch {
		case o.Backfill:
			backfills++
		case o.Kind == gentrail.KindDigest && !named[o.Key]:
			chainEnds++
		}
	}
	// Account 0 is in both trails: two chains in the one digested region.
	if covered == 0 || notCovered == 0 || backfill != 2 || backfills != 2 || chainEnds != 2 {
		t.Fatalf("the archive is not what the test needs: %d covered, %d not, %d by backfill", covered, notCovered, backfill)
	}
	// Window of 3 days, digests of the window's days and the next: all of them here.
	s := audit(t, a, a.store, keys(t))
	if s.Verified != covered || len(s.NotCovered) != notCovered || s.Backfill != backfill || s.Digests != digests {
		t.Errorf("verified %d (%d by backfill), not covered %d, digests %d; want %d (%d), %d, %d",
			s.Verified, s.Backfill, len(s.NotCovered), s.Digests, covered, backfill, notCovered, digests)
	}
	if len(s.Mismatch)+len(s.Missing)+len(s.ChainBreaks)+len(s.BadDigests) != 0 {
		t.Errorf("untouched archive: %+v", s)
	}
	// Local: no metadata. Every digest but the last of each chain is verified by the
	// signature its successor records; backfill digests and chain ends are not.
	if !s.SignaturesChecked || s.SignaturesUnknown != backfills+chainEnds || s.SignaturesVerified != digests-backfills-chainEnds {
		t.Errorf("local signatures: checked %v, verified %d, unknown %d of %d", s.SignaturesChecked, s.SignaturesVerified, s.SignaturesUnknown, digests)
	}

	// With the signatures as S3 metadata, every digest verifies.
	sigs := map[string]string{}
	for _, o := range a.m.Objects {
		if o.Signature != "" {
			sigs[o.Key] = o.Signature
		}
	}
	s = audit(t, a, withMetadata{a.store, sigs}, keys(t))
	if s.SignaturesVerified != digests || s.SignaturesUnknown != 0 || len(s.BadDigests) != 0 || len(s.ChainBreaks) != 0 {
		t.Errorf("with metadata: verified %d of %d, unknown %d, bad %v, breaks %v", s.SignaturesVerified, digests, s.SignaturesUnknown, s.BadDigests, s.ChainBreaks)
	}
	// Without keys, signatures are not checked.
	if s := audit(t, a, a.store, nil); s.SignaturesChecked || s.SignaturesVerified != 0 || s.Verified != covered {
		t.Errorf("without keys: %+v", s)
	}
}

// TestAuditTampering changes the archive one way at a time and checks that the audit reports
// exactly that.
func TestAuditTampering(t *testing.T) {
	// Pick, from the manifest, the log files and digests to tamper with: a log file of the
	// window's middle day listed by an hourly digest, and that digest.
	pick := func(a archive) (log gentrail.Object, dg gentrail.Object, next gentrail.Object) {
		mid := time.Date(2024, 6, 2, 0, 0, 0, 0, time.UTC).Format("2006-01-02")
		var logs []gentrail.Object
		byPrev := map[string]gentrail.Object{}
		byKey := map[string]gentrail.Object{}
		for _, o := range a.m.Objects {
			byKey[o.Key] = o
			if o.PreviousDigest != "" {
				byPrev[o.PreviousDigest] = o
			}
			if o.Kind == gentrail.KindLog && o.DeliveryDay == mid && o.DigestedBy != "" && !strings.HasSuffix(o.DigestedBy, "_backfill.json.gz") {
				logs = append(logs, o)
			}
		}
		slices.SortFunc(logs, func(x, y gentrail.Object) int { return strings.Compare(x.Key, y.Key) })
		log = logs[0]
		dg = byKey[log.DigestedBy]
		return log, dg, byPrev[dg.Key]
	}
	path := func(a archive, key string) string { return filepath.Join(a.dir, filepath.FromSlash(key)) }
	rewrite := func(t *testing.T, file string, edit func([]byte) []byte) {
		if err := gentrail.Tamper(file, edit); err != nil {
			t.Fatal(err)
		}
	}

	tests := []struct {
		name  string
		edit  func(t *testing.T, a archive) (want string)
		check func(s digest.Summary) string
	}{
		{"log file changed", func(t *testing.T, a archive) string {
			log, _, _ := pick(a)
			rewrite(t, path(a, log.Key), func(b []byte) []byte { return bytes.Replace(b, []byte(`"eventVersion"`), []byte(`"eventVersion" `), 1) })
			return fmt.Sprint("mismatch ", []string{log.Key})
		}, func(s digest.Summary) string { return fmt.Sprint("mismatch ", s.Mismatch) }},
		{"log file recompressed, content unchanged", func(t *testing.T, a archive) string {
			log, _, _ := pick(a)
			rewrite(t, path(a, log.Key), func(b []byte) []byte { return b })
			return "mismatch []"
		}, func(s digest.Summary) string { return fmt.Sprint("mismatch ", s.Mismatch) }},
		{"log file deleted", func(t *testing.T, a archive) string {
			log, _, _ := pick(a)
			if err := os.Remove(path(a, log.Key)); err != nil {
				t.Fatal(err)
			}
			return fmt.Sprint("missing ", []string{log.Key})
		}, func(s digest.Summary) string { return fmt.Sprint("missing ", s.Missing) }},
		{"digest deleted", func(t *testing.T, a archive) string {
			log, dg, next := pick(a)
			if err := os.Remove(path(a, dg.Key)); err != nil {
				t.Fatal(err)
			}
			// Its log files are no longer covered, and its successor's link is broken.
			var uncovered []string
			for _, o := range a.m.Objects {
				if o.DigestedBy == dg.Key {
					uncovered = append(uncovered, o.Key)
				}
			}
			_ = log
			return fmt.Sprint("breaks [", next.Key, " missing] newly uncovered ", len(uncovered))
		}, nil},
		{"digest of a day's last hour deleted (in the next day's folder)", func(t *testing.T, a archive) string {
			var dg, next gentrail.Object
			for _, o := range a.m.Objects {
				if o.Kind == gentrail.KindDigest && o.DeliveryDay == "2024-06-02" && strings.HasSuffix(o.Key, "_20240602T000000Z.json.gz") && dg.Key == "" {
					dg = o
				}
			}
			for _, o := range a.m.Objects {
				if o.PreviousDigest == dg.Key && dg.Key != "" {
					next = o
				}
			}
			if err := os.Remove(path(a, dg.Key)); err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, o := range a.m.Objects {
				if o.DigestedBy == dg.Key {
					n++
				}
			}
			if n == 0 {
				t.Fatal("the test needs a log file delivered in the last hour of a day")
			}
			return fmt.Sprint("breaks [", next.Key, " missing] newly uncovered ", n)
		}, nil},
		{"digest changed", func(t *testing.T, a archive) string {
			_, dg, next := pick(a)
			rewrite(t, path(a, dg.Key), func(b []byte) []byte { return bytes.Replace(b, []byte(`"logFiles":[`), []byte(`"logFiles": [`), 1) })
			// Locally its signature is unknown (the link that recorded it is broken); see
			// TestAuditChangedDigestWithMetadata.
			return fmt.Sprint("breaks [", next.Key, " hash] bad []")
		}, func(s digest.Summary) string {
			var bad []string
			for _, p := range s.BadDigests {
				bad = append(bad, p.Key)
			}
			return fmt.Sprint("breaks ", breaks(s), " bad ", bad)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := generate(t, signedConfig(false))
			covered, notCovered, _, _ := expect(a.m)
			want := tt.edit(t, a)
			s := audit(t, a, a.store, keys(t))
			if tt.check == nil { // digest deleted
				got := fmt.Sprint("breaks ", breaks(s), " newly uncovered ", len(s.NotCovered)-notCovered)
				if got != want {
					t.Errorf("got %s, want %s", got, want)
				}
				if s.Verified+len(s.NotCovered) != covered+notCovered {
					t.Errorf("verified %d + not covered %d != %d log files", s.Verified, len(s.NotCovered), covered+notCovered)
				}
				return
			}
			if got := tt.check(s); got != want {
				t.Errorf("got %s, want %s", got, want)
			}
		})
	}
}

func breaks(s digest.Summary) []string {
	var out []string
	for _, b := range s.ChainBreaks {
		out = append(out, b.Key+" "+b.Reason)
	}
	return out
}

// TestAuditChangedDigestWithMetadata: with the signatures S3 keeps, a changed digest fails its
// own signature as well as breaking its successor's link.
func TestAuditChangedDigestWithMetadata(t *testing.T) {
	a := generate(t, signedConfig(false))
	sigs := map[string]string{}
	var dg gentrail.Object
	for _, o := range a.m.Objects {
		if o.Signature != "" {
			sigs[o.Key] = o.Signature
		}
		if o.Kind == gentrail.KindDigest && o.DeliveryDay == "2024-06-02" && o.PreviousDigest != "" && dg.Key == "" {
			dg = o
		}
	}
	file := filepath.Join(a.dir, filepath.FromSlash(dg.Key))
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	zr, _ := gzip.NewReader(bytes.NewReader(b))
	plain, _ := io.ReadAll(zr)
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(bytes.Replace(plain, []byte(`"logFiles":[`), []byte(`"logFiles": [`), 1))
	zw.Close()
	if err := os.WriteFile(file, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	s := audit(t, a, withMetadata{a.store, sigs}, keys(t))
	if len(s.BadDigests) != 1 || s.BadDigests[0].Key != dg.Key || !strings.Contains(s.BadDigests[0].Reason, "signature does not verify") {
		t.Errorf("bad digests %v, want %s with a bad signature", s.BadDigests, dg.Key)
	}
	if len(s.ChainBreaks) != 1 || s.ChainBreaks[0].Previous != dg.Key || s.ChainBreaks[0].Reason != digest.BreakHash {
		t.Errorf("chain breaks %v, want the successor of %s (hash)", s.ChainBreaks, dg.Key)
	}
}
