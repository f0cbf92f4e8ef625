// Package pipeline runs marketrail's job: for each delivery day of a window it lists the day
// folders of the source, fetches their log files with many GETs in flight (the fetchers,
// Config.Requests), hands them to a few CPU workers (Config.Workers: decompress → scan
// records → filter → decode candidates), then deduplicates the day's events and publishes
// them as Parquet.
//
// Stages are joined by channels under one errgroup and cancelled by one context:
//
//	lister ──jobs──▶ fetchers ──bodies──▶ workers ──results──▶ collector ──▶ lake.PublishDay
//	   └──────────── day begins, skipped objects, day listed ─────▲
//
// Each day has a lister goroutine of its own (lister.go): a day without a complete manifest
// is read as its listing pages arrive, and is published once its listing is complete (the
// listed message) and every log file of it has come back. Fetched bodies wait for a worker
// under a byte budget (Config.FetchBuffer); a file too large for it is streamed by its
// worker (fetch.go).
//
// At most a few delivery days are in flight at once, so memory depends on how busy a day is,
// not on the length of the window.
//
// A day also depends on the previous delivery day's tail, its log files from 23:00Z on
// (trail.InTail): CloudTrail delivers some of their events again after midnight, and the day
// drops those (DropTail). The tail is read from the source: when the previous day is read in
// the same run, its workers' results serve both days; otherwise the day reads the tail files
// itself, for their eventIDs only. Either way a day's output depends only on the log files,
// never on the order days run in or on what the destination already holds.
package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/parquet-go/parquet-go"
	"golang.org/x/sync/errgroup"

	"github.com/marketrail/marketrail/pkg/digest"
	"github.com/marketrail/marketrail/pkg/extract"
	"github.com/marketrail/marketrail/pkg/lake"
	"github.com/marketrail/marketrail/pkg/marketplace"
	"github.com/marketrail/marketrail/pkg/report"
	"github.com/marketrail/marketrail/pkg/source"
	"github.com/marketrail/marketrail/pkg/storage"
	"github.com/marketrail/marketrail/pkg/trail"
)

// Config is one run's job.
type Config struct {
	Source storage.Storage // the trail archive (bucket prefix or folder holding AWSLogs/)
	Dest   storage.Storage // where the tables go
	// Format is the table format the tables are published to (Iceberg); nil: Hive.
	Format       lake.Format
	From, To     trail.Day        // delivery days to read, inclusive
	Selection    source.Selection // accounts and regions; empty means all
	EventSources []string         // event sources to keep; nil means AWS Marketplace
	// Workers is how many log files are decoded at once (decompress, scan, decode: the CPU
	// work); 0 means DefaultWorkers(). Requests is how many GETs of log files are in flight
	// at once, apart from the workers; 0 means DefaultRequests. FetchBuffer is how many bytes
	// of fetched log files may wait for a worker; 0 means DefaultFetchBuffer (objects larger
	// than an eighth of it are streamed by their worker instead).
	Workers      int
	Requests     int
	FetchBuffer  int64
	Listings     int // folder listings at once; 0 means 32
	DaysInFlight int // delivery days read ahead of the one being written; 0 means 4
	MaxRowsFile  int // rows per Parquet file before splitting; 0 means the lake's default
	// MaxObjectBytes is how much JSON text one object may inflate to before it fails (a gzip
	// bomb); 0 means DefaultMaxObjectBytes.
	MaxObjectBytes int64
	Version        string       // marketrail's version, recorded in outputs
	Logger         *slog.Logger // nil means slog.Default()

	// MemoryBudget is how many bytes the workers may hold at once, all together, for records
	// larger than extract.LargeRecordSize (1 MiB): each such record is charged
	// extract.LargeRecordCharge (192 MiB, at most the whole budget) and waits until the budget
	// has room, so hostile files cost the same memory whatever the number of workers. Records
	// of real CloudTrail files never reach the size. 0 means DefaultMemoryBudget.
	MemoryBudget int64

	Force     bool // run days again even when their manifest says they are complete and unchanged
	DryRun    bool // list what the window would read, and write nothing
	Shard     int  // this process's shard, 0 ≤ Shard < Shards
	Shards    int  // how many shards split the window's days; 0 or 1 means no sharding
	MaxFailed int  // failed objects a run may have and still exit 0

	// NoLease writes days without taking their leases (--no-lease): for a destination
	// that does not enforce conditional writes, where nothing stops two runs writing one
	// day at once. Otherwise the run checks at its start that the destination enforces
	// them, and refuses to run if not.
	NoLease bool
	// LeaseTTL is how long a day's lease lasts unless renewed (0: lake.DefaultLeaseTTL);
	// LeaseWait how long a run waits for a day another run holds before reporting it held
	// (0: about one TTL, see lake.LeaseOptions).
	LeaseTTL, LeaseWait time.Duration

	// VerifyDigests checks every log file read against CloudTrail's integrity digests (the
	// SHA-256 of its content, the digests' chains, and with DigestKeys their signatures) and
	// puts what it found in the report's digests section.
	VerifyDigests bool
	DigestKeys    digest.KeySet // the public keys of --digest-public-keys; nil: signatures are not checked
	// FetchDigestKeys, if set and DigestKeys is nil, gets the public keys of the given
	// regions valid between start and end (CloudTrail's ListPublicKeys, in AWS). When it
	// fails, the run goes on and the report says signatures were not checked.
	FetchDigestKeys func(ctx context.Context, regions []string, start, end time.Time) (digest.KeySet, error)
	audit           *digest.Auditor
	settings        lake.Settings // what shapes the output, recorded in day manifests

	// DayList, if set, is the delivery days to run instead of From, To and the shard's:
	// sorted, without repeats. (follow runs the days its notifications name.)
	DayList []trail.Day
	// List, if set, lists each delivery day (and the day before, for its tail) instead of
	// discovering the source's trail folders and listing their day folders: a day listed from
	// what is known of it (marketrail follow: its manifest's inputs and the files notified
	// since). It is called for every listing of a day, from one goroutine at a time per day,
	// and must give the same objects, with the same Size and ETag, as a listing would;
	// objects it marks source.SkipNoMatch are not read. Not with VerifyDigests.
	List DayLister
	// Claimed says the destination was claimed and its conditional writes checked already
	// (by the long-running process that calls Run again and again): Run does not do it again.
	Claimed bool

	// Progress, if set, is told how the run advances.
	Progress Progress
	// Hook, if set, is called at named moments (the lake's hook points, HookBetweenDays
	// after a day is complete, HookRead in a worker before each log file); tests use it to
	// kill the process there, or to panic.
	Hook func(point string)
}

// HookBetweenDays is the hook point after one delivery day is fully written.
const HookBetweenDays = "between-days"

// Progress receives a run's progress. Its methods are called from one goroutine.
type Progress interface {
	// Days is called once, with the number of delivery days the run will handle.
	Days(n int)
	// Listed is called when a day's listing is known: its log files and their bytes.
	Listed(day trail.Day, files int, bytes int64)
	// Read is called after each log file: its bytes and the events it gave.
	Read(bytes int64, events int)
	// Done is called when a day is finished, with its action (report.Action*).
	Done(day trail.Day, action string)
}

// ShardOf returns the shard, of n, that delivery day d belongs to: the day's number since
// 1970-01-01 modulo n. It depends only on the day, so every process agrees on it whatever its
// window, and consecutive days spread over all shards.
func ShardOf(d trail.Day, n int) int {
	if n <= 1 {
		return 0
	}
	return int(d.Time().Unix()/86400) % n
}

// DayLister lists delivery day d, calling fn with each object (see Config.List).
type DayLister func(ctx context.Context, d trail.Day, fn func(source.Object) error) error

// Days returns the delivery days of cfg's window that belong to cfg's shard (or DayList).
func (cfg *Config) Days() []trail.Day {
	if cfg.DayList != nil {
		return slices.Clone(cfg.DayList)
	}
	var days []trail.Day
	for _, d := range trail.Range(cfg.From, cfg.To) {
		if ShardOf(d, cfg.Shards) == cfg.Shard {
			days = append(days, d)
		}
	}
	return days
}

// DefaultMemoryBudget is the default of Config.MemoryBudget: with it, a process meeting
// records of up to the scanner's 64 MiB limit in every worker stays under 512 MiB, the memory
// limit of the container examples (docs/operations.md, Memory).
const DefaultMemoryBudget = 256 << 20

// DefaultWorkers is the default number of CPU workers: the fetchers wait on S3 for them,
// so the workers wait on the network only while they stream a log file too large to buffer;
// two per core keep the cores busy through those waits.
func DefaultWorkers() int { return max(2, 2*runtime.GOMAXPROCS(0)) }

// Run runs the job and returns its report. The report is complete (Finish has been called)
// even when Run fails; the error is the fatal one that stopped the run.
func Run(ctx context.Context, cfg Config) (*report.Report, error) {
	rep := &report.Report{
		Tool: "marketrail", Version: cfg.Version, Source: cfg.Source.String(), Dest: cfg.Dest.String(),
		From: cfg.From.String(), To: cfg.To.String(), Started: time.Now().UTC(),
		DryRun: cfg.DryRun, MaxFailed: cfg.MaxFailed,
	}
	if cfg.Format != nil {
		rep.TableFormat = cfg.Format.Name()
		if c, ok := cfg.Format.(interface{ Catalog() string }); ok {
			rep.Catalog = c.Catalog()
		}
	}
	if cfg.Shards > 1 {
		rep.Shard = fmt.Sprintf("%d/%d", cfg.Shard, cfg.Shards)
	}
	err := run(ctx, cfg, rep)
	rep.Finish(err, 0)
	return rep, err
}

func (cfg *Config) defaults() {
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers()
	}
	if cfg.Requests <= 0 {
		cfg.Requests = DefaultRequests
	}
	if cfg.FetchBuffer <= 0 {
		cfg.FetchBuffer = DefaultFetchBuffer
	}
	if cfg.MemoryBudget <= 0 {
		cfg.MemoryBudget = DefaultMemoryBudget
	}
	if cfg.Listings <= 0 {
		cfg.Listings = 32
	}
	if cfg.DaysInFlight <= 0 {
		cfg.DaysInFlight = 4
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.settings = Settings(cfg)
}

// Settings returns what shapes a run's output beside its inputs, as day manifests record
// it: a day written with other settings is written again.
func Settings(cfg *Config) lake.Settings {
	var sources []string
	if cfg.EventSources != nil {
		sources = slices.Compact(slices.Sorted(slices.Values(cfg.EventSources)))
	}
	maxRows := cfg.MaxRowsFile
	if maxRows <= 0 {
		maxRows = lake.DefaultMaxRowsPerFile
	}
	return lake.Settings{
		EventSources:   sources,
		SchemaHash:     SchemaHash(),
		DecoderVersion: marketplace.DecoderVersion,
		VerifyDigests:  cfg.VerifyDigests,
		MaxRowsPerFile: maxRows,
		TableFormat:    tableFormat(cfg.Format),
	}
}

// tableFormat is the Settings.TableFormat of format: "" for Hive (as manifests written
// before there were others say).
func tableFormat(f lake.Format) string {
	if f == nil {
		return ""
	}
	return f.Name()
}

// SchemaHash hashes the Parquet schemas of the tables, as the lake writes them: a new or
// changed column changes it, with nothing to remember to bump.
func SchemaHash() string {
	h := sha256.New()
	for _, t := range marketplace.Tables() {
		fmt.Fprintf(h, "%s\n%s\n", t.Name, parquet.SchemaOf(t.Row))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// job is one log file to read.
type job struct {
	day  trail.Day // the delivery day the job is for
	obj  source.Object
	tail bool // obj is in the tail of the day before day: read only for its eventIDs
}

// message is what the lister and the workers tell the collector.
type message struct {
	day     trail.Day
	begin   *dayPlan      // the day's listing is known and its work starts
	skipped string        // an object listed and not read, with this reason
	key     string        // the skipped object
	result  *objectResult // a worker finished a log file
	listed  *listCounts   // the day's listing is complete: what it holds
	end     string        // the day needs no (more) work: report.ActionUnchanged, ActionPlanned or ActionHeld
	reason  string        // with end: why (lake.Reason*)
	holder  string        // with ActionHeld: the run that holds the day
}

// dayPlan is how a day is read: what is known when its work starts (the begin message),
// and once its listing is complete, what the listing holds (the listed message).
type dayPlan struct {
	reason string // why the day is written (lake.Reason*)
	// The day before's tail: its log files read by this day's own tail jobs, or, when
	// tailShared, by the day before's own jobs in this same run.
	tailShared bool
	// nextShares: the next day follows in this run, and shares this day's tail.
	nextShares bool
	lease      *lake.Lease // the day's, held until it is published (nil with --no-lease)
	// listed is what the day's listing holds (sources, files to read, their tail), set by
	// the collector from the listed message; nil until then, and until then the day is not
	// published, however many results it has.
	listed  *listCounts
	sources lake.Sources // listed's: every object of the day's folders and of the day before's tail
}

// listedCounts is what the day's listing holds; zero counts until it is complete.
func (p *dayPlan) listedCounts() *listCounts {
	if p == nil || p.listed == nil {
		return &listCounts{}
	}
	return p.listed
}

func run(ctx context.Context, cfg Config, rep *report.Report) error {
	cfg.defaults()
	log := cfg.Logger
	writer := &lake.Writer{Dest: cfg.Dest, Version: cfg.Version, MaxRowsPerFile: cfg.MaxRowsFile, Hook: cfg.Hook, Format: cfg.Format}
	// The order of effects: the source is found readable (discovery finds trail folders)
	// before anything is written to the destination, and the destination is found writable
	// before any log file is read.
	if cfg.List != nil && cfg.VerifyDigests {
		return errors.New("digests cannot be verified for days listed from their manifests (marketrail follow): verify them with a nightly run")
	}
	var folders []trail.Folder
	var err error
	if cfg.List == nil {
		folders, err = source.Discover(ctx, cfg.Source, cfg.Selection, cfg.Listings)
		if errors.Is(err, report.ErrNoTrail) {
			return err
		}
		if err != nil {
			return fmt.Errorf("discover trail folders in %s: %w", cfg.Source, err)
		}
	}
	// The days' listings, each trail folder's consecutive days (and each day's day before,
	// for its tail) in one listing, the next day listed ahead. Listing reads the source
	// only, so it starts now, while the destination is checked.
	days := cfg.Days()
	list, fresh := listFunc(cfg.List), listFunc(cfg.List)
	if cfg.List == nil {
		listed := make([]trail.Day, 0, 2*len(days))
		for _, d := range days {
			listed = append(listed, d.AddDays(-1), d)
		}
		win := source.NewWindow(ctx, cfg.Source, folders, listed, cfg.Listings)
		defer win.Close()
		list = win.Day
		fresh = func(ctx context.Context, d trail.Day, fn func(source.Object) error) error {
			return source.ListDay(ctx, cfg.Source, folders, d, cfg.Listings, fn)
		}
	}
	var leaser *lake.Leaser
	if !cfg.DryRun {
		if err := claim(ctx, &cfg); err != nil {
			return err
		}
		if !cfg.NoLease {
			var err error
			leaser, err = lake.NewLeaser(cfg.Dest, lake.LeaseOptions{TTL: cfg.LeaseTTL, Wait: cfg.LeaseWait, Version: cfg.Version, Logger: log})
			if err != nil {
				return err
			}
			defer func() { // leases of days a failed run did not finish
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
				defer cancel()
				leaser.ReleaseAll(rctx)
			}()
		} else {
			log.Warn("--no-lease: delivery days are written without leases; two runs writing one day at once can lose data")
		}
	}
	rep.Folders = len(folders)
	if cfg.List == nil {
		log.Info("discovered trail folders", "source", cfg.Source.String(), "folders", len(folders),
			"from", cfg.From.String(), "to", cfg.To.String(), "days", len(days), "workers", cfg.Workers, "requests", cfg.Requests)
	}
	if cfg.Progress != nil {
		cfg.Progress.Days(len(days))
	}
	if cfg.VerifyDigests && !cfg.DryRun {
		if cfg.audit, err = newAuditor(ctx, &cfg, folders); err != nil {
			return err
		}
		defer func() {
			rep.Digests = digestReport(cfg.audit.Summary(), storage.KeepsMetadata(cfg.Source))
			logDigests(log, rep.Digests)
		}()
	}

	var empty emptyDays
	defer func() { empty.mark(rep) }()
	g, ctx := errgroup.WithContext(ctx)
	jobs := make(chan job, cfg.Requests)
	ready := make(chan fetched, cfg.Requests)
	msgs := make(chan message, cfg.Requests)
	slots := make(chan struct{}, cfg.DaysInFlight) // delivery days between their first message and published
	send := func(m message) error {
		select {
		case msgs <- m:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}

	// The lister, the fetchers and the CPU workers; msgs closes when the lister and the
	// workers are done, ready when the fetchers are.
	var producers, fetchers sync.WaitGroup
	producers.Add(1 + cfg.Workers)
	fetchers.Add(cfg.Requests)
	lst := &lister{cfg: &cfg, w: writer, ls: leaser, send: send, jobs: jobs, empty: &empty, folders: len(folders),
		slots: slots, ahead: make(chan struct{}, cfg.DaysInFlight),
		list: list, fresh: fresh}
	g.Go(func() error {
		defer producers.Done()
		defer close(jobs)
		// Each day's lister runs in its own goroutine: a day's lease, manifest and listing
		// wait on the network, not on the day before, which it needs only for its tail
		// (dayLink). Up to DaysInFlight days take their lease and read their manifest ahead
		// of a slot (lister.ahead); the slots, which bound the days whose events are held,
		// are taken in the days' order.
		var dayListers sync.WaitGroup
		defer dayListers.Wait()
		var prev *dayLink
		for i, d := range days {
			select {
			case lst.ahead <- struct{}{}:
			case <-ctx.Done():
				return ctx.Err()
			}
			after := prev
			next := i+1 < len(days) && days[i+1] == d.AddDays(1)
			cur := newDayLink(d)
			p := prev
			if p != nil && p.day != d.AddDays(-1) {
				p = nil
			}
			dayListers.Add(1)
			g.Go(func() error {
				defer dayListers.Done()
				return lst.day(ctx, d, p, cur, after, next)
			})
			prev = cur
		}
		return nil
	})
	fetch := newFetcher(cfg.Source, cfg.FetchBuffer)
	for range cfg.Requests {
		g.Go(func() error {
			defer fetchers.Done()
			for j := range jobs {
				f, err := fetch.fetch(ctx, j)
				if err != nil {
					return err
				}
				select {
				case ready <- f:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return nil
		})
	}
	go func() {
		fetchers.Wait()
		close(ready)
	}()
	budget := extract.NewBudget(cfg.MemoryBudget) // shared by the workers
	for range cfg.Workers {
		g.Go(func() error {
			defer producers.Done()
			w := newWorker(cfg.Source, cfg.EventSources)
			w.hook = cfg.Hook
			w.x.SetMaxObjectBytes(cfg.MaxObjectBytes)
			w.x.SetBudget(ctx, budget)
			w.audit = cfg.audit
			for j := range ready {
				r, err := w.processRecovered(ctx, j, log)
				fetch.release(&j)
				if err != nil {
					return err
				}
				if r.err != nil && ctx.Err() != nil {
					return ctx.Err()
				}
				if errors.Is(r.err, errHold) {
					return fmt.Errorf("%s: %w", j.obj.Key, r.err)
				}
				if err := send(message{day: j.day, result: r}); err != nil {
					return err
				}
			}
			return nil
		})
	}
	go func() {
		producers.Wait()
		close(msgs)
	}()

	// The collector: gathers each day's results and, once every log file of a day's listing
	// has come back, hands the day to a publisher goroutine of its own, so that encoding and
	// uploading a day (and waiting for the destination) never keeps the workers waiting.
	// Publishers report back on published; days publish independently of each other (each
	// has its own manifest), and at most DaysInFlight are between listing and published.
	g.Go(func() error {
		states := map[trail.Day]*dayState{}
		// tails gathers the eventIDs of each day's tail, keyed by the day after it (the day
		// whose copies they drop).
		tails := map[trail.Day]*tailState{}
		defer func() { // days that will not be published now: their spill files go
			for _, st := range states {
				st.spill.remove()
				st.rows.remove()
			}
		}()
		published := make(chan *dayState)
		// Days publish at once, each in a goroutine of its own: a day's publishing is round
		// trips to the destination (its manifest, files, lease) that need not wait for
		// another day's. (A run killed while publishing may leave a local destination's
		// temporary files of several days; the lake removes them when it writes those keys
		// again, storage.Tidy.)
		publishing := 0
		in := msgs
		finish := func(st *dayState) {
			st.rep.Elapsed = time.Since(st.start).Seconds()
			rep.Days = append(rep.Days, st.rep)
			if cfg.Progress != nil {
				cfg.Progress.Done(st.day, st.rep.Action)
			}
			if cfg.Hook != nil && st.rep.Action == report.ActionWritten {
				cfg.Hook(HookBetweenDays)
			}
			<-slots
		}
		for in != nil || publishing > 0 {
			var m message
			select {
			case st := <-published:
				publishing--
				finish(st)
				continue
			case <-ctx.Done():
				return ctx.Err()
			case mm, ok := <-in:
				if !ok {
					in = nil
					continue
				}
				m = mm
			}
			st := states[m.day]
			if st == nil {
				st = &dayState{day: m.day, rep: report.NewDay(m.day.String()), start: time.Now(), countUnknown: selectsMarketplace(cfg.EventSources), rows: newDayRows(dayRowsInMemory), matched: map[string]int{}}
				states[m.day] = st
			}
			switch {
			case m.end != "":
				st.rep.Action, st.rep.Reason, st.rep.HeldBy = m.end, m.reason, m.holder
				st.done = true
				if c := st.plan.listedCounts(); m.end == report.ActionPlanned {
					st.rep.ObjectsListed += int64(c.files)
					st.rep.PlannedReads = int64(c.files + c.tailReads)
					st.rep.PlannedBytes = c.bytes + c.tailBytes
				}
				delete(tails, m.day) // a day not read needs no tail
			case m.begin != nil:
				st.plan = m.begin
				st.rep.Reason = m.begin.reason
				if !m.begin.tailShared {
					tails[m.day] = &tailState{}
				}
				if m.begin.nextShares {
					tails[m.day.AddDays(1)] = &tailState{}
				}
			case m.listed != nil:
				c := m.listed
				st.plan.listed, st.plan.sources = c, c.sources
				if t := tails[m.day]; t != nil {
					if !st.plan.tailShared {
						t.want, t.known = c.tailReads, true
					}
					t.unread = append(t.unread, c.tailUnread...)
				}
				if t := tails[m.day.AddDays(1)]; t != nil && st.plan.nextShares {
					t.want, t.known = c.ownTail, true
				}
				if cfg.Progress != nil {
					cfg.Progress.Listed(m.day, c.files+c.tailReads, c.bytes+c.tailBytes)
				}
			case m.skipped != "":
				st.rep.ObjectsListed++
				st.rep.ObjectsSkipped[m.skipped]++
				if m.skipped == source.SkipArchived {
					st.archived(m.key, log)
					st.matched[m.key] = -1
				}
			case m.result != nil && m.result.tail:
				// A file of the day before's tail, read for this day alone.
				tails[m.day].add(m.result)
				st.tailRead(m.result, log)
				if cfg.Progress != nil {
					cfg.Progress.Read(m.result.bytesRead, 0)
				}
			case m.result != nil:
				if err := st.add(m.result, log); err != nil {
					return err
				}
				if t := tails[m.day.AddDays(1)]; t != nil && trail.InTail(path.Base(m.result.key), m.day) {
					t.add(m.result) // shared with the next day
				}
				if cfg.Progress != nil {
					var events int
					if m.result.file != nil {
						events = len(m.result.file.Events)
					}
					cfg.Progress.Read(m.result.bytesRead, events)
				}
			}
			// A result of this day's tail may complete the next day too.
			for _, day := range []trail.Day{m.day, m.day.AddDays(1)} {
				st := states[day]
				t := tails[day]
				if st == nil || st.plan == nil || st.plan.listed == nil || st.received != st.plan.listed.files || st.done || cfg.DryRun || t == nil || !t.known || t.got < t.want {
					continue
				}
				delete(states, day)
				delete(tails, day)
				st.tail = t
				publishing++
				g.Go(func() error {
					err := publish(ctx, writer, st.day, st, log)
					if rerr := st.plan.lease.Release(context.WithoutCancel(ctx)); err == nil && rerr != nil {
						log.Warn("could not release a lease: it expires by itself", "delivery_day", st.day.String(), "error", rerr.Error())
					}
					if err != nil {
						return err
					}
					st.rep.Action = report.ActionWritten
					select {
					case published <- st:
						return nil
					case <-ctx.Done():
						return ctx.Err()
					}
				})
			}
			if st := states[m.day]; st != nil && st.done {
				delete(states, m.day)
				finish(st)
			}
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return err
	}
	if n := empty.count(); n > 0 && n == len(days) && cfg.List == nil {
		return fmt.Errorf("%w: no log file in any of the %d trail folders of %s on any delivery day from %s to %s: is the trail still logging, and delivering here? (a quiet account can have an empty day, not a whole window)",
			report.ErrNoTrail, len(folders), cfg.Source, days[0], days[len(days)-1])
	}
	return nil
}

// claim makes the destination marketrail's (lake.Claim), checks that it can be written and,
// unless cfg.NoLease, that it enforces the conditional writes leases need; with
// cfg.Claimed it does nothing, the caller having done it.
func claim(ctx context.Context, cfg *Config) error {
	if cfg.Claimed {
		return nil
	}
	format := lake.FormatHive
	if cfg.Format != nil {
		format = cfg.Format.Name()
	}
	if err := lake.ClaimFormat(ctx, cfg.Dest, cfg.Version, format); err != nil {
		return err
	}
	if cfg.Format != nil && !cfg.DryRun {
		if err := cfg.Format.Prepare(ctx); err != nil {
			return err
		}
	}
	// The write probe and the leases' check write apart from each other: at once, each a
	// few round trips. The probe's failure is the one reported when both fail.
	var leaseErr error
	var checked sync.WaitGroup
	if !cfg.NoLease {
		checked.Go(func() { leaseErr = lake.CheckLeases(ctx, cfg.Dest) })
	}
	err := storage.ProbeWrite(ctx, cfg.Dest, probePrefix)
	checked.Wait()
	if err != nil {
		return err
	}
	if leaseErr != nil {
		return fmt.Errorf("%w; without leases nothing stops two runs from writing one delivery day at once: run with --no-lease only if no two runs can ever overlap", leaseErr)
	}
	return nil
}

// Claim is what Run does first to the destination (unless cfg.Claimed): it makes it
// marketrail's, checks that it can be written and that it enforces the conditional writes
// day leases need. A long-running caller (follow) calls it once, then runs with Claimed.
func Claim(ctx context.Context, cfg Config) error { return claim(ctx, &cfg) }

// probePrefix is where the destination's write probe is put (and deleted at once).
const probePrefix = "_marketrail/probe-"

// emptyDays gathers the delivery days whose folders hold no log file, from the lister, for
// the report once the run is over.
type emptyDays struct {
	mu   sync.Mutex
	days map[trail.Day]bool
}

func (e *emptyDays) add(d trail.Day) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.days == nil {
		e.days = map[trail.Day]bool{}
	}
	e.days[d] = true
}

func (e *emptyDays) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.days)
}

// mark flags the empty days in rep.
func (e *emptyDays) mark(rep *report.Report) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, d := range rep.Days {
		if day, err := trail.ParseDay(d.DeliveryDay); err == nil && e.days[day] {
			d.Empty = true
		}
	}
}

// tailState gathers the eventIDs of a delivery day's tail: the events the next day drops.
type tailState struct {
	want, got int                 // tail log files to hear from, and heard from
	known     bool                // want is known: the listing that sets it is complete
	ids       map[string]struct{} // eventIDs of the events read from them
	unread    []string            // tail log files that could not be read: the next day is partial
}

// add takes in the result of reading one tail log file.
func (t *tailState) add(r *objectResult) {
	t.got++
	if r.err != nil {
		t.unread = append(t.unread, r.key)
		return
	}
	for i := range r.file.Events {
		if id := r.file.Events[i].EventID; id != nil {
			if t.ids == nil {
				t.ids = map[string]struct{}{}
			}
			t.ids[*id] = struct{}{}
		}
	}
}

// dayState gathers one delivery day's results in the collector.
type dayState struct {
	day         trail.Day
	rep         *report.Day
	start       time.Time
	plan        *dayPlan // nil until the day's listing is known
	received    int      // log files back from the workers
	done        bool
	rows        dayRows       // the events, on disk, and their index
	quarantined []Quarantined // their bytes are in spill
	spill       spill
	tail        *tailState // the day before's tail, once complete
	// matched is the manifest's Matched: records the filter selected, by log file read
	// (those with none left out), -1 for a log file that could not be read.
	matched map[string]int
	// countUnknown: count the written events of operations not in the table of known
	// Marketplace operations (report.Counts.UnknownOperations).
	countUnknown bool
}

// tailRead counts a log file of the day before's tail that this day read itself.
func (st *dayState) tailRead(r *objectResult, log *slog.Logger) {
	switch {
	case errors.Is(r.err, storage.ErrArchived):
		st.archived(r.key, log)
	case r.err != nil:
		st.rep.ObjectsFailed++
		st.rep.Failures = append(st.rep.Failures, report.Failure{Key: r.key, Reason: "in the previous delivery day's tail: " + r.err.Error()})
		log.Error("object of the previous day's tail failed: the day is partial, and dropped none of its events on its account", "key", r.key, "delivery_day", st.day.String(), "error", r.err.Error())
	default:
		st.rep.TailFilesRead++
		st.rep.BytesRead += r.bytesRead
	}
}

// add takes in one log file's results; it fails only when the day's events or quarantined
// records cannot be written to their spill files.
func (st *dayState) add(r *objectResult, log *slog.Logger) error {
	st.received++
	st.rep.ObjectsListed++
	switch {
	case errors.Is(r.err, storage.ErrArchived):
		st.rep.ObjectsSkipped[source.SkipArchived]++
		st.archived(r.key, log)
		st.matched[r.key] = -1
		return nil
	case r.err != nil:
		st.matched[r.key] = -1
		st.rep.ObjectsFailed++
		st.rep.Failures = append(st.rep.Failures, report.Failure{Key: r.key, Reason: r.err.Error()})
		log.Error("object failed: none of its events were written", "key", r.key, "error", r.err.Error())
		return nil
	}
	f := r.file
	if f.Matched > 0 {
		st.matched[r.key] = int(f.Matched)
	}
	st.rep.LogFilesRead++
	st.rep.BytesRead += r.bytesRead
	st.rep.BytesDecompressed += f.BytesOut
	st.rep.RecordsScanned += f.Records
	st.rep.EventsMatched += f.Matched
	for reason, n := range f.Skipped {
		st.rep.RecordsSkipped[reason] += n
		log.Warn("skipped records too large or too deeply nested to read, whose eventSource was not found in their first bytes", "key", r.key, "reason", reason, "records", n)
	}
	for _, q := range f.Quarantined {
		st.rep.RecordsQuarantined++
		log.Warn("record quarantined: it cannot become a row", "key", q.Key, "record", *q.Record, "error", q.Reason)
	}
	err := st.spill.add(r.key, f.Quarantined, f.held)
	f.discard()
	if err != nil {
		return err
	}
	st.quarantined = append(st.quarantined, f.Quarantined...)
	return st.rows.add(r.key, f, st.countUnknown)
}

// archived records an object found archived (by its listing's storage class or by a read),
// so the report lists what to restore.
func (st *dayState) archived(key string, log *slog.Logger) {
	if i, found := slices.BinarySearch(st.rep.Archived, key); !found {
		st.rep.Archived = slices.Insert(st.rep.Archived, i, key)
	}
	log.Warn("skipped archived object: restore it to read it", "key", key)
}

// publish deduplicates a delivery day's events and writes them, streamed from the day's
// spill file (dayRows) in the tables' order.
func publish(ctx context.Context, w *lake.Writer, d trail.Day, st *dayState, log *slog.Logger) error {
	defer st.rows.remove()
	redelivered, dropped := st.rows.dedup(st.tail.ids)
	st.rep.RedeliveriesDropped = int64(redelivered)
	st.rep.DuplicatesDropped = int64(dropped)
	st.rows.sortForTables()
	n := st.rows.notes()
	st.rep.TextRepaired, st.rep.UsageUnparsed, st.rep.UnknownOperations = n.repaired, n.unparsed, n.unknown
	events, metering := st.rows.events(), n.metering
	complete := st.rep.ObjectsFailed == 0 && st.rep.ObjectsSkipped[source.SkipArchived] == 0 && len(st.tail.unread) == 0
	for _, k := range st.tail.unread {
		log.Warn("the previous delivery day's tail could not be read: the day is partial and runs again next time", "delivery_day", d.String(), "key", k)
	}
	// The report's list in the quarantine file's order: by key (as the spill reads its
	// segments), then record.
	slices.SortFunc(st.quarantined, func(a, b Quarantined) int {
		if c := strings.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		return *a.Record - *b.Record
	})
	for _, q := range st.quarantined {
		st.rep.Quarantined = append(st.rep.Quarantined, q.Failure)
	}
	quarantined := len(st.quarantined)
	st.quarantined = nil
	defer st.spill.remove()
	evTable, mTable := st.rows.tables()
	st.plan.sources.Matched = st.matched // counted: an empty map says none held any
	res, err := w.PublishLeased(ctx, d, st.plan.lease, &st.plan.sources, complete, lake.Quarantine(quarantined, st.spill.lines), evTable, mTable)
	if err != nil {
		return fmt.Errorf("publish delivery day %s: %w", d, err)
	}
	st.rep.Files = append(st.rep.Files, res.Files...)
	for _, t := range marketplace.Tables() {
		st.rep.RowsWritten[t.Name] += 0 // every table appears in the report, even with no rows
	}
	for table, parts := range res.Rows {
		st.rep.Partitions[table] = parts
		for _, n := range parts {
			st.rep.RowsWritten[table] += n
		}
	}
	slices.SortFunc(st.rep.Failures, func(a, b report.Failure) int { return strings.Compare(a.Key, b.Key) })
	log.Info("delivery day written", "delivery_day", d.String(), "objects", st.rep.ObjectsListed,
		"events", events, "metering_records", metering, "duplicates", dropped, "redeliveries", redelivered,
		"failed", st.rep.ObjectsFailed, "quarantined", st.rep.RecordsQuarantined, "files", len(res.Files), "spilled_bytes", st.rows.size)
	return nil
}

// DropTail drops the events whose eventID is in tail, the eventIDs of the previous delivery
// day's tail: CloudTrail delivers some events again in the next day's first files, and the
// earlier delivery wins. Events without an eventID are never dropped. It keeps the order
// of events and returns the kept events and how many it dropped. (publish applies the same
// rule, dropTail, to its index of a day's events: dayRows.dedup.)
func DropTail(events []marketplace.Event, tail map[string]struct{}) ([]marketplace.Event, int) {
	return dropTail(events, tail, eventID)
}

// Dedup keeps one copy of each eventID: the one from the smallest source key (then the
// earliest record in it), so the result does not depend on the order files were read in.
// Events without an eventID are never merged. It returns the kept events and how many
// copies it dropped. (publish applies the same rule, dedup, to its index of a day's
// events: dayRows.dedup.)
func Dedup(events []marketplace.Event) ([]marketplace.Event, int) {
	return dedup(events, eventID, func(a, b *marketplace.Event) int {
		if c := strings.Compare(a.SourceKey, b.SourceKey); c != 0 {
			return c
		}
		return a.RecordIndex - b.RecordIndex
	})
}

// eventID returns an event's eventID, and whether it has one.
func eventID(e *marketplace.Event) (string, bool) {
	if e.EventID == nil {
		return "", false
	}
	return *e.EventID, true
}

// dropTail is DropTail for events of any type E whose eventID id gives.
func dropTail[E any](events []E, tail map[string]struct{}, id func(*E) (string, bool)) ([]E, int) {
	if len(tail) == 0 {
		return events, 0
	}
	kept := 0
	for i := range events {
		if id, ok := id(&events[i]); ok {
			if _, dup := tail[id]; dup {
				continue
			}
		}
		if kept != i {
			events[kept] = events[i]
		}
		kept++
	}
	return events[:kept], len(events) - kept
}

// dedup is Dedup for events of any type E whose eventID id gives, bySource ordering them by
// source key, then record.
func dedup[E any](events []E, id func(*E) (string, bool), bySource func(a, b *E) int) ([]E, int) {
	// publish hands over its events in this order already; compare in place (sorting would
	// copy two events per comparison) and sort only what is not.
	for i := 1; i < len(events); i++ {
		if bySource(&events[i-1], &events[i]) > 0 {
			slices.SortFunc(events, func(a, b E) int { return bySource(&a, &b) })
			break
		}
	}
	seen := make(map[string]struct{}, len(events))
	kept := 0
	for i := range events {
		if id, ok := id(&events[i]); ok {
			if _, dup := seen[id]; dup {
				continue
			}
			seen[id] = struct{}{}
		}
		if kept != i {
			events[kept] = events[i]
		}
		kept++
	}
	return events[:kept], len(events) - kept
}

// compareMetering orders metering rows in a file: by call time, then by where they came from.
// dayRows.sortForTables gives the tables this order (its tests compare with it).
func compareMetering(a, b *marketplace.MeteringRecord) int {
	if c := a.EventTime.Compare(b.EventTime); c != 0 {
		return c
	}
	if c := strings.Compare(a.SourceKey, b.SourceKey); c != 0 {
		return c
	}
	if c := a.RecordIndex - b.RecordIndex; c != 0 {
		return c
	}
	return a.Position - b.Position
}

// compareEvents orders rows in a file: by event time, then by where they came from.
// dayRows.sortForTables gives the tables this order (its tests compare with it).
func compareEvents(a, b *marketplace.Event) int {
	if c := a.EventTime.Compare(b.EventTime); c != 0 {
		return c
	}
	if c := strings.Compare(a.SourceKey, b.SourceKey); c != 0 {
		return c
	}
	return a.RecordIndex - b.RecordIndex
}
