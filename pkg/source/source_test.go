package source_test

import (
	"context"
	"errors"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/marketrail/marketrail/internal/gentrail"
	"github.com/marketrail/marketrail/pkg/report"
	"github.com/marketrail/marketrail/pkg/source"
	"github.com/marketrail/marketrail/pkg/storage"
	"github.com/marketrail/marketrail/pkg/trail"
)

// counting counts the listings made through a Storage.
type counting struct {
	storage.Storage
	lists atomic.Int64
}

func (c *counting) List(ctx context.Context, prefix string, delim bool) iter.Seq2[storage.Entry, error] {
	c.lists.Add(1)
	return c.Storage.List(ctx, prefix, delim)
}

func sample(t *testing.T) (*counting, *gentrail.Manifest) {
	t.Helper()
	s, err := storage.OpenLocal("../../testdata/trail", false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	m, err := gentrail.ReadManifest("../../testdata/trail-manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	return &counting{Storage: s}, m
}

// TestDiscover: the folders found are exactly the log folders the generator wrote, and
// discovery costs one listing of AWSLogs/, one per organization and one per account.
func TestDiscover(t *testing.T) {
	s, m := sample(t)
	tests := []struct {
		name string
		sel  source.Selection
	}{
		{"all", source.Selection{}},
		{"one account", source.Selection{Accounts: []string{m.Objects[0].Account}}},
		{"one region", source.Selection{Regions: []string{"us-west-2"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := map[trail.Folder]bool{}
			orgs, accounts := map[string]bool{}, map[[2]string]bool{}
			for _, o := range m.Objects {
				if o.OrgID != "" {
					orgs[o.OrgID] = true
				}
				if o.Kind != "log" {
					continue
				}
				if (len(tt.sel.Accounts) == 0 || slices.Contains(tt.sel.Accounts, o.Account)) &&
					(len(tt.sel.Regions) == 0 || slices.Contains(tt.sel.Regions, o.Region)) {
					want[trail.Folder{OrgID: o.OrgID, Account: o.Account, Region: o.Region}] = true
				}
				if len(tt.sel.Accounts) == 0 || slices.Contains(tt.sel.Accounts, o.Account) {
					accounts[[2]string{o.OrgID, o.Account}] = true
				}
			}
			s.lists.Store(0)
			got, err := source.Discover(context.Background(), s, tt.sel, 4)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Errorf("Discover found %d folders, want %d: %v", len(got), len(want), got)
			}
			for _, f := range got {
				if !want[f] {
					t.Errorf("Discover found %v, which holds no log file", f)
				}
			}
			if n, max := s.lists.Load(), int64(1+len(orgs)+len(accounts)); n != max {
				t.Errorf("Discover made %d listings, want %d (1 + %d organizations + %d accounts)", n, max, len(orgs), len(accounts))
			}
		})
	}
}

// TestListDay: the objects listed for a day are exactly the generator's objects of that
// day's CloudTrail/ folders; digests and insights are never listed; non-log objects are
// marked skipped; one listing per folder.
func TestListDay(t *testing.T) {
	s, m := sample(t)
	ctx := context.Background()
	folders, err := source.Discover(ctx, s, source.Selection{}, 4)
	if err != nil {
		t.Fatal(err)
	}
	for _, day := range []string{"2024-02-29", m.Window.From, m.Window.To, "2024-03-04", "2025-01-01"} {
		d, _ := trail.ParseDay(day)
		var want, wantSkipped []string
		for _, o := range m.Objects {
			if o.DeliveryDay != day || o.Kind == "digest" || o.Kind == "insight" {
				continue
			}
			if o.Kind == "log" {
				want = append(want, o.Key)
			} else {
				wantSkipped = append(wantSkipped, o.Key)
			}
		}
		var got, skipped []string
		s.lists.Store(0)
		err := source.ListDay(ctx, s, folders, d, 3, func(o source.Object) error {
			if o.Day != d {
				t.Errorf("%s listed with day %v", o.Key, o.Day)
			}
			if o.Skip != "" {
				skipped = append(skipped, o.Key)
			} else {
				got = append(got, o.Key)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		slices.Sort(want)
		slices.Sort(skipped)
		slices.Sort(wantSkipped)
		if !slices.Equal(got, want) || !slices.Equal(skipped, wantSkipped) {
			t.Errorf("day %s: listed %d logs and %d skipped, want %d and %d\n%q\n%q", day, len(got), len(skipped), len(want), len(wantSkipped), got, skipped)
		}
		if n := s.lists.Load(); n != int64(len(folders)) {
			t.Errorf("day %s: %d listings, want one per folder (%d)", day, n, len(folders))
		}
	}
}

// TestDiscoverNoTrail: finding nothing to read is an error wrapping report.ErrNoTrail, in one
// line that names what was looked for and where and suggests the fix.
func TestDiscoverNoTrail(t *testing.T) {
	m, err := gentrail.ReadManifest("../../testdata/trail-manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	accounts := map[string]bool{}
	for _, o := range m.Objects {
		accounts[o.Account] = true
	}
	empty, other, elsewhere := t.TempDir(), t.TempDir(), t.TempDir()
	os.MkdirAll(filepath.Join(elsewhere, "logs"), 0o755)
	os.WriteFile(filepath.Join(elsewhere, "notes.txt"), nil, 0o644)
	for _, d := range []string{"logs", "AWSLogs/o-aaaaaaaaaa/123456789012/CloudTrail-Digest/us-east-1"} {
		if err := os.MkdirAll(filepath.Join(other, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name, dir string
		sel       source.Selection
		want      []string // in the message
	}{
		{"AWSLogs given", "../../testdata/trail/AWSLogs", source.Selection{}, []string{"no AWSLogs/ folder in ../../testdata/trail/AWSLogs", "use the folder that holds it, --source ../../testdata/trail"}},
		{"below AWSLogs", "../../testdata/trail/AWSLogs/570192456347", source.Selection{}, []string{"use the folder that holds it, --source ../../testdata/trail"}},
		{"empty", empty, source.Selection{}, []string{empty + " is empty: no AWSLogs/ folder"}},
		{"something else", elsewhere, source.Selection{}, []string{"no AWSLogs/ folder in " + elsewhere + " (it holds logs/, notes.txt): --source must be the folder or s3://BUCKET[/PREFIX] that holds AWSLogs/"}},
		{"no CloudTrail folder", other, source.Selection{}, []string{"no CloudTrail/REGION/ folder in the account folders of " + other + "/AWSLogs/"}},
		{"region typo", "../../testdata/trail", source.Selection{Regions: []string{"us-east1"}}, []string{"--regions us-east1 matches no trail folder", "regions found: ", "us-east-1"}},
		{"account", "../../testdata/trail", source.Selection{Accounts: []string{"000000000000"}}, []string{"--accounts 000000000000 matches no account folder in ../../testdata/trail/AWSLogs/: accounts found: 457861071773, 570192456347, 877502434466"}},
		{"one good account, one bad", "../../testdata/trail", source.Selection{Accounts: []string{"570192456347", "000000000000"}}, []string{"--accounts 000000000000 matches"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := storage.OpenLocal(tt.dir, false)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			got, err := source.Discover(context.Background(), s, tt.sel, 4)
			if !errors.Is(err, report.ErrNoTrail) {
				t.Fatalf("Discover = %v, %v; want an error wrapping ErrNoTrail", got, err)
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("message spans lines: %q", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q lacks %q", msg, w)
				}
			}
		})
	}
	if len(accounts) < 2 {
		t.Fatalf("the sample trail has %d accounts", len(accounts))
	}
}
