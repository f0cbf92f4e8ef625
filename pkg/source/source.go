// Package source finds a trail archive's log files without listing the whole bucket: it
// discovers organizations, accounts and regions with delimiter listings, then lists only the
// delivery-day folders a run asks for, streaming each folder's objects as they arrive.
package source

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

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

// Discover returns the trail folders (organization, account, region) of the archive, sorted.
// It lists AWSLogs/ once, each organization folder once and each selected account's
// CloudTrail/ folder once, all with a delimiter, up to concurrency listings at a time.
// Names that are not organization ids, account ids or regions are ignored.
func Discover(ctx context.Context, store storage.Storage, sel Selection, concurrency int) ([]trail.Folder, error) {
	// Three levels, each listed concurrently once the level above is known.
	type account struct{ org, id string }
	var orgs []string
	var accounts []account
	err := children(ctx, store, trail.Root, func(name string) {
		switch {
		case trail.IsOrgID(name):
			orgs = append(orgs, name)
		case trail.IsAccountID(name) && sel.account(name):
			accounts = append(accounts, account{"", name})
		}
	})
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	err = each(ctx, orgs, concurrency, func(ctx context.Context, org string) error {
		return children(ctx, store, trail.Root+org+"/", func(name string) {
			if trail.IsAccountID(name) && sel.account(name) {
				mu.Lock()
				accounts = append(accounts, account{org, name})
				mu.Unlock()
			}
		})
	})
	if err != nil {
		return nil, err
	}
	var folders []trail.Folder
	err = each(ctx, accounts, concurrency, func(ctx context.Context, a account) error {
		return children(ctx, store, trail.LogsFolder(a.org, a.id), func(name string) {
			if trail.IsRegion(name) && sel.region(name) {
				mu.Lock()
				folders = append(folders, trail.Folder{OrgID: a.org, Account: a.id, Region: name})
				mu.Unlock()
			}
		})
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(folders, func(a, b trail.Folder) int { return strings.Compare(a.Base(), b.Base()) })
	return folders, nil
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
			o := Object{Entry: e, Folder: f, Day: d, Skip: trail.Classify(strings.TrimPrefix(e.Key, prefix))}
			if o.Skip == "" && slices.Contains(archiveClasses, e.StorageClass) {
				o.Skip = SkipArchived
			}
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
