package source_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

	"github.com/marketrail/marketrail/internal/s3test"
	"github.com/marketrail/marketrail/pkg/source"
	"github.com/marketrail/marketrail/pkg/storage"
	"github.com/marketrail/marketrail/pkg/trail"
)

// windowTrail writes, under dir, the keys of a trail of the given folders whose day folders
// from first on hold perDay(folder index, day index) log files each, plus keys that are in
// no day folder and keys beside the log files (a digest-like name, a folder marker), and
// returns every key written.
func windowTrail(t *testing.T, dir string, folders []trail.Folder, first trail.Day, days int, perDay func(f, d int) int) []string {
	t.Helper()
	var keys []string
	for fi, f := range folders {
		for di := range days {
			d := first.AddDays(di)
			for n := range perDay(fi, di) {
				keys = append(keys, fmt.Sprintf("%s%s_CloudTrail_%s_%sT%02d%02dZ_%04dabcd.json.gz",
					f.DayPrefix(d), f.Account, f.Region, strings.ReplaceAll(d.Path(), "/", ""), n%24, n%60, n))
			}
		}
		// Strays between and around day folders: never part of a day's listing.
		keys = append(keys,
			f.Base()+first.Path()+"-backup/x.json.gz",
			f.Base()+first.AddDays(1).Path()+"0/x.json.gz",
			f.Base()+first.Path()+"x",
			f.Base()+"README",
			f.Base()+first.Path()+"/not-a-log.txt",
		)
	}
	for _, k := range keys {
		p := filepath.Join(dir, filepath.FromSlash(k))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// byDay lists each day with ListDay, the listing Window must agree with.
func byDay(t *testing.T, st storage.Storage, folders []trail.Folder, d trail.Day) []string {
	t.Helper()
	return listed(t, d, func(ctx context.Context, d trail.Day, fn func(source.Object) error) error {
		return source.ListDay(ctx, st, folders, d, 4, fn)
	})
}

func windowDay(t *testing.T, w *source.Window, d trail.Day) []string {
	t.Helper()
	return listed(t, d, w.Day)
}

// listed returns what list gives of day d, an object a line (describe), sorted.
func listed(t *testing.T, d trail.Day, list func(context.Context, trail.Day, func(source.Object) error) error) []string {
	t.Helper()
	var got []string
	if err := list(context.Background(), d, func(o source.Object) error {
		got = append(got, describe(o))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	return got
}

// describe is what the tests compare of a listed object: its key, why it is skipped, and
// its delivery day.
func describe(o source.Object) string { return fmt.Sprintf("%s %s %s", o.Key, o.Skip, o.Day) }

func testFolders() []trail.Folder {
	return []trail.Folder{
		{Account: "111111111111", Region: "us-east-1"},
		{Account: "111111111111", Region: "us-east-2"},
		{OrgID: "o-aaaaaaaaaa", Account: "222222222222", Region: "eu-west-1"},
		{Account: "333333333333", Region: "ap-south-1"}, // an empty folder
	}
}

// TestWindowAgreesWithListDay: whatever the plan (consecutive days, gaps, a month's end,
// days passed over, a day asked for twice or not planned), each day Window serves holds
// exactly the objects ListDay finds, classified alike, on the local folder.
func TestWindowAgreesWithListDay(t *testing.T) {
	dir := t.TempDir()
	folders := testFolders()
	first := trail.Day{Year: 2024, Month: 2, Dom: 20}
	const days = 20
	windowTrail(t, dir, folders, first, days, func(f, d int) int {
		if f == 3 {
			return 0
		}
		return (f*7 + d*3) % 6 // some days empty
	})
	st, err := storage.OpenLocal(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 40 {
		var plan []trail.Day
		for i := range days + 2 { // and days past the trail's end
			if rng.IntN(3) > 0 {
				plan = append(plan, first.AddDays(i-1))
			}
		}
		var asked []trail.Day
		for _, d := range plan {
			if rng.IntN(5) > 0 {
				asked = append(asked, d)
			}
		}
		for i := 1; i < len(asked); i++ { // asked by goroutines of their own: not always in order
			if rng.IntN(4) == 0 {
				asked[i-1], asked[i] = asked[i], asked[i-1]
			}
		}
		if len(asked) > 1 && rng.IntN(4) == 0 { // one day again, and one not planned
			asked = append(asked, asked[0], first.AddDays(days+5))
		}
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			w := source.NewWindow(context.Background(), st, folders, plan, 1+rng.IntN(4))
			defer w.Close()
			for _, d := range asked {
				if got, want := windowDay(t, w, d), byDay(t, st, folders, d); !slices.Equal(got, want) {
					t.Fatalf("plan %v: day %s: Window gave %d objects, ListDay %d:\n%q\nwant\n%q", plan, d, len(got), len(want), got, want)
				}
			}
		})
	}
}

// TestWindowConcurrentDays: days asked for at once from goroutines of their own, as the
// pipeline's day listers do, each get exactly ListDay's objects.
func TestWindowConcurrentDays(t *testing.T) {
	dir := t.TempDir()
	folders := testFolders()
	first := trail.Day{Year: 2024, Month: 12, Dom: 28}
	const days = 10
	windowTrail(t, dir, folders, first, days, func(f, d int) int { return (f + d) % 5 })
	st, err := storage.OpenLocal(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for round := range 20 {
		plan := trail.Range(first, first.AddDays(days-1))
		w := source.NewWindow(context.Background(), st, folders, plan, 2)
		var g errgroup.Group
		got := make([][]string, len(plan))
		for i, d := range plan {
			g.Go(func() error {
				return w.Day(context.Background(), d, func(o source.Object) error {
					got[i] = append(got[i], describe(o))
					return nil
				})
			})
		}
		if err := g.Wait(); err != nil {
			t.Fatal(err)
		}
		w.Close()
		for i, d := range plan {
			slices.Sort(got[i])
			if want := byDay(t, st, folders, d); !slices.Equal(got[i], want) {
				t.Fatalf("round %d, day %s: Window gave %d objects, ListDay %d", round, d, len(got[i]), len(want))
			}
		}
	}
}

// TestWindowRequests counts, at the real S3 server, the listings a window of days costs:
// one listing per trail folder for a 2-day or a 31-day window (with the day before it, for
// its tail) while each folder's keys fit a page, and a busy folder's pages of its window's
// keys only; never more than listing the day folders one by one, which this also counts.
// Each day's objects equal ListDay's.
func TestWindowRequests(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	c, srv := s3test.Client(t)
	bucket := s3test.Bucket(t, c)
	dir := t.TempDir()
	folders := testFolders()
	// March 2024 whole, with the days around it: folder 0 is busy (350 log files a day,
	// the window's 32 days 11,200 keys), folders 1 and 2 quiet (10 a day), 3 empty.
	first := trail.Day{Year: 2024, Month: 2, Dom: 25}
	keys := windowTrail(t, dir, folders, first, 45, func(f, d int) int {
		return []int{350, 10, 10, 0}[f]
	})
	g, ctx := errgroup.WithContext(context.Background())
	g.SetLimit(32)
	for _, k := range keys {
		g.Go(func() error {
			_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(k), Body: bytes.NewReader([]byte("x"))})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	pc, proxy := throughProxy(t, srv.Endpoint)
	st := storage.WithRetry(storage.NewS3(pc, bucket, ""), storage.RetryPolicy{})

	march := func(dom int) trail.Day { return trail.Day{Year: 2024, Month: 3, Dom: dom} }
	for _, tt := range []struct {
		name     string
		from, to trail.Day
		want     int64 // listings: the busy folder's pages, then one per quiet or empty folder
	}{
		// 3 days × 350 keys + the next key: 2 pages.
		{"2 days late in the month", march(28), march(29), 2 + 3},
		// 32 days × 350 = 11,200 keys + the next: 12 pages.
		{"31 days", march(1), march(31), 12 + 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			days := append([]trail.Day{tt.from.AddDays(-1)}, trail.Range(tt.from, tt.to)...)
			before := proxy.Listings.Load()
			w := source.NewWindow(context.Background(), st, folders, days, 16)
			got := make([][]string, len(days))
			for i, d := range days {
				got[i] = windowDay(t, w, d)
			}
			w.Close()
			window := proxy.Listings.Load() - before
			before = proxy.Listings.Load()
			for i, d := range days {
				if want := byDay(t, st, folders, d); !slices.Equal(got[i], want) {
					t.Errorf("day %s: Window gave %d objects, ListDay %d", d, len(got[i]), len(want))
				}
			}
			perDay := proxy.Listings.Load() - before
			t.Logf("%d days in %d folders: %d listings for the window, %d listing day by day", len(days), len(folders), window, perDay)
			if window != tt.want {
				t.Errorf("window listings: %d, want %d", window, tt.want)
			}
			if window > perDay {
				t.Errorf("window listings %d > %d day by day", window, perDay)
			}
		})
	}
}
