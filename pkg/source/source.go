// Package source finds a trail archive's log files without listing the whole bucket: it
// discovers organizations, accounts and regions with delimiter listings, then lists only the
// delivery-day folders a run asks for, streaming each folder's objects as they arrive.
package source

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/marketrail/marketrail/pkg/report"
	"github.com/marketrail/marketrail/pkg/storage"
	"github.com/marketrail/marketrail/pkg/trail"
)

// Selection narrows discovery to some accounts and regions; empty means all.
type Selection struct {
	Accounts []string
	Regions  []string
}

func (s Selection) account(a string) bool {
	return len(s.Accounts) == 0 || slices.Contains(s.Accounts, a)
}
func (s Selection) region(r string) bool { return len(s.Regions) == 0 || slices.Contains(s.Regions, r) }

// Includes reports whether trail folder f is selected: its account and its region.
func (s Selection) Includes(f trail.Folder) bool { return s.account(f.Account) && s.region(f.Region) }

// Discover returns the trail folders (organization, account, region) of the archive, sorted.
// It lists AWSLogs/ once, each organization folder once and each selected account's
// CloudTrail/ folder once, all with a delimiter, up to concurrency listings at a time.
// Names that are not organization ids, account ids or regions are ignored.
//
// Finding nothing to read is an error that wraps report.ErrNoTrail, in one line that says
// what was looked for, where, and the likely fix: no trail folder at all (with a look at
// what the source holds instead, one more listing), or an account of sel.Accounts or a
// region of sel.Regions that matches no folder (naming some of those found).
func Discover(ctx context.Context, store storage.Storage, sel Selection, concurrency int) ([]trail.Folder, error) {
	// Three levels, each listed concurrently once the level above is known.
	type account struct{ org, id string }
	var orgs []string
	var accounts []account
	allAccounts := map[string]bool{} // every account found, selected or not
	err := children(ctx, store, trail.Root, func(name string) {
		switch {
		case trail.IsOrgID(name):
			orgs = append(orgs, name)
		case trail.IsAccountID(name):
			allAccounts[name] = true
			if sel.account(name) {
				accounts = append(accounts, account{"", name})
			}
		}
	})
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	err = each(ctx, orgs, concurrency, func(ctx context.Context, org string) error {
		return children(ctx, store, trail.Root+org+"/", func(name string) {
			if !trail.IsAccountID(name) {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			allAccounts[name] = true
			if sel.account(name) {
				accounts = append(accounts, account{org, name})
			}
		})
	})
	if err != nil {
		return nil, err
	}
	var folders []trail.Folder
	allRegions := map[string]bool{} // every region found in the selected accounts
	err = each(ctx, accounts, concurrency, func(ctx context.Context, a account) error {
		return children(ctx, store, trail.LogsFolder(a.org, a.id), func(name string) {
			if !trail.IsRegion(name) {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			allRegions[name] = true
			if sel.region(name) {
				folders = append(folders, trail.Folder{OrgID: a.org, Account: a.id, Region: name})
			}
		})
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(folders, func(a, b trail.Folder) int { return strings.Compare(a.Base(), b.Base()) })
	where := strings.TrimSuffix(store.String(), "/") + "/" + trail.Root
	switch {
	case len(allAccounts) == 0:
		return nil, noFolder(ctx, store)
	case len(sel.Accounts) > 0:
		for _, a := range sel.Accounts {
			if !allAccounts[a] {
				return nil, fmt.Errorf("%w: --accounts %s matches no account folder in %s: accounts found: %s",
					report.ErrNoTrail, a, where, few(slices.Sorted(maps.Keys(allAccounts))))
			}
		}
	}
	if len(allRegions) == 0 {
		return nil, fmt.Errorf("%w: no CloudTrail/REGION/ folder in the account folders of %s: is this a CloudTrail archive? (want %s[o-ORGID/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/)",
			report.ErrNoTrail, where, trail.Root)
	}
	for _, r := range sel.Regions {
		if !allRegions[r] {
			return nil, fmt.Errorf("%w: --regions %s matches no trail folder (%s[o-ORGID/]ACCOUNT/CloudTrail/%s/) in %s: regions found: %s",
				report.ErrNoTrail, r, trail.Root, r, store, few(slices.Sorted(maps.Keys(allRegions))))
		}
	}
	if len(folders) == 0 { // every value matches some folder, but no folder matches both
		return nil, fmt.Errorf("%w: no trail folder of --accounts %s is in --regions %s in %s",
			report.ErrNoTrail, strings.Join(sel.Accounts, ","), strings.Join(sel.Regions, ","), store)
	}
	return folders, nil
}

// few joins up to five names, and says how many there are in all when there are more.
func few(names []string) string {
	const most = 5
	if len(names) <= most {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s, … (%d in all)", strings.Join(names[:most], ", "), len(names))
}

// noFolder is the error of a source with no account folder under AWSLogs/: it looks at what
// the source holds to suggest the folder meant. The most common slip is the AWSLogs/ folder
// itself (or one below it) given as the source; the source must be the folder or bucket
// prefix that holds AWSLogs/.
func noFolder(ctx context.Context, store storage.Storage) error {
	src := strings.TrimSuffix(store.String(), "/")
	if i := strings.LastIndex("/"+src+"/", "/"+strings.TrimSuffix(trail.Root, "/")+"/"); i >= 0 {
		parent := src[:max(i-1, 0)]
		switch {
		case i == 0:
			parent = "."
		case parent == "":
			parent = "/"
		}
		return fmt.Errorf("%w: no %s folder in %s, which is the %s folder itself (or inside it): use the folder that holds it, --source %s",
			report.ErrNoTrail, trail.Root, src, trail.Root, parent)
	}
	var names []string
	for e, err := range store.List(ctx, "", true) {
		if err != nil {
			return fmt.Errorf("%w: no %s folder in %s (and listing it failed: %w)", report.ErrNoTrail, trail.Root, src, err)
		}
		names = append(names, e.Key)
	}
	for _, n := range names {
		name := strings.TrimSuffix(n, "/")
		if trail.IsAccountID(name) || trail.IsOrgID(name) {
			return fmt.Errorf("%w: no %s folder in %s, which holds account folders (%s) itself: CloudTrail's keys start with %s; give the folder or s3://BUCKET[/PREFIX] that holds %s",
				report.ErrNoTrail, trail.Root, src, n, trail.Root, trail.Root)
		}
	}
	if len(names) == 0 {
		return fmt.Errorf("%w: %s is empty: no %s folder (--source must be the folder or s3://BUCKET[/PREFIX] that holds %s)",
			report.ErrNoTrail, src, trail.Root, trail.Root)
	}
	return fmt.Errorf("%w: no %s folder in %s (it holds %s): --source must be the folder or s3://BUCKET[/PREFIX] that holds %s",
		report.ErrNoTrail, trail.Root, src, few(names), trail.Root)
}

// each runs fn for every item, up to concurrency at a time, and returns the first error.
func each[T any](ctx context.Context, items []T, concurrency int, fn func(context.Context, T) error) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(max(concurrency, 1))
	for _, it := range items {
		g.Go(func() error { return fn(ctx, it) })
	}
	return g.Wait()
}

// children lists prefix with a delimiter and calls fn with the name of each sub-folder.
func children(ctx context.Context, store storage.Storage, prefix string, fn func(name string)) error {
	for e, err := range store.List(ctx, prefix, true) {
		if err != nil {
			return err
		}
		if e.IsPrefix {
			fn(strings.TrimSuffix(strings.TrimPrefix(e.Key, prefix), "/"))
		}
	}
	return nil
}

// Object is one object listed in a delivery-day folder.
type Object struct {
	storage.Entry
	Folder trail.Folder
	Day    trail.Day
	Skip   string // "" for a log file to read, else why it is not read (trail.Skip* or SkipArchived)
}

// SkipArchived marks an object in an archive storage class, which must be restored before
// it can be read.
const SkipArchived = "archived"

// SkipNoMatch marks a log file that its day's manifest says holds no record the filter
// selects (lake.Manifest.Matched): a day listed from its manifest (marketrail follow) does
// not read it again, and it gives the day no rows and no tail eventIDs. It is a log file of
// the day all the same: an input of its manifest and, late in the day, of the next day's tail.
const SkipNoMatch = "no_match"

// archiveClasses are the S3 storage classes whose objects cannot be read without a restore.
// (Glacier Instant Retrieval reads like any other class.)
var archiveClasses = []string{"GLACIER", "DEEP_ARCHIVE"}

// ListDay lists the delivery folder of day d in every folder, up to concurrency listings at
// a time, and calls fn with each object as its page arrives; fn is called from one goroutine
// at a time. Only the CloudTrail/ folders are listed; digests and insights are never read.
func ListDay(ctx context.Context, store storage.Storage, folders []trail.Folder, d trail.Day, concurrency int, fn func(Object) error) error {
	var mu sync.Mutex
	err := each(ctx, folders, concurrency, func(ctx context.Context, f trail.Folder) error {
		prefix := f.DayPrefix(d)
		for e, err := range store.List(ctx, prefix, false) {
			if err != nil {
				return err
			}
			o := object(e, f, d)
			mu.Lock()
			err := fn(o)
			mu.Unlock()
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list delivery day %s: %w", d, err)
	}
	return nil
}

// Classify returns entry e of folder f's delivery day d as a listing gives it: classified,
// with the reason it is not read, if any. A day listed from elsewhere than a listing
// (marketrail follow) classifies its objects the same way.
func Classify(e storage.Entry, f trail.Folder, d trail.Day) Object { return object(e, f, d) }

// object is listed entry e of folder f's delivery day d, classified.
func object(e storage.Entry, f trail.Folder, d trail.Day) Object {
	o := Object{Entry: e, Folder: f, Day: d, Skip: trail.Classify(strings.TrimPrefix(e.Key, f.DayPrefix(d)))}
	if o.Skip == "" && slices.Contains(archiveClasses, e.StorageClass) {
		o.Skip = SkipArchived
	}
	return o
}
