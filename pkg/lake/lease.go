package lake

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/marketrail/marketrail/pkg/storage"
	"github.com/marketrail/marketrail/pkg/trail"
)

// LeaseDir holds one lease per delivery day being written (see the package comment).
const LeaseDir = "_marketrail/leases/"

// LeaseKey is the key of delivery day d's lease.
func LeaseKey(d trail.Day) string { return LeaseDir + d.String() + ".json" }

// Lease defaults.
const (
	// DefaultLeaseTTL is how long a lease lasts after it was last written.
	DefaultLeaseTTL = time.Minute
	// LeaseClockGrace is added to a lease's TTL before another process judges it expired:
	// Last-Modified and Date have a resolution of one second.
	LeaseClockGrace = time.Second
)

var (
	// ErrHeld is wrapped by Leaser.Acquire's error when another run still holds the day
	// after the wait (a *HeldError).
	ErrHeld = errors.New("delivery day is held by another run")
	// ErrLeaseLost is wrapped by the error of a write fenced by a lease that is no longer
	// safely held: it expired, or is too close to expiring, or another run took it over.
	ErrLeaseLost = errors.New("lease lost")
	// ErrLeaseNotEnforced is wrapped by CheckLeases' error for a store that ignores
	// conditional writes.
	ErrLeaseNotEnforced = errors.New("the destination does not enforce conditional writes (If-None-Match / If-Match), so it cannot hold leases")
)

// HeldError says who holds a delivery day.
type HeldError struct {
	Day    trail.Day
	Holder string // the lease's holder: host:pid:token
	Waited time.Duration
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("delivery day %s is held by another run (%s) after waiting %v", e.Day, e.Holder, e.Waited.Round(time.Millisecond))
}

// Unwrap returns ErrHeld.
func (e *HeldError) Unwrap() error { return ErrHeld }

// leaseBody is a lease's content.
type leaseBody struct {
	Holder  string    `json:"holder"` // host:pid:token
	Token   string    `json:"token"`  // random, unique to the holding run
	Host    string    `json:"host"`
	PID     int       `json:"pid"`
	TTL     float64   `json:"ttl_seconds"`
	Taken   time.Time `json:"taken"`   // holder's clock, for people
	Renewed time.Time `json:"renewed"` // holder's clock, for people; expiry uses Last-Modified
	Tool    string    `json:"tool"`
	Version string    `json:"version"`
}

// LeaseOptions configure a Leaser. Zero values mean the defaults.
type LeaseOptions struct {
	TTL time.Duration // DefaultLeaseTTL
	// Wait is how long Acquire waits for a day another run holds; 0 means TTL plus twice
	// LeaseClockGrace, enough for a lease left by a killed run to expire; negative: not at all.
	Wait time.Duration
	// Margin is how much of its TTL a lease must have left for a write it fences; 0 means
	// half the TTL. It must cover the longest single PUT or DELETE.
	Margin time.Duration
	// Renew is how often a held lease is written again; 0 means a sixth of the TTL.
	Renew   time.Duration
	Version string
	Logger  *slog.Logger
}

// Leaser takes delivery days' leases for one run.
type Leaser struct {
	dest  storage.Conditional
	opts  LeaseOptions
	host  string
	pid   int
	token string // the run's

	mu   sync.Mutex
	held map[*Lease]struct{}
}

// NewLeaser returns a Leaser over dest, which must support conditional writes.
func NewLeaser(dest storage.Storage, opts LeaseOptions) (*Leaser, error) {
	c, err := storage.AsConditional(dest)
	if err != nil {
		return nil, fmt.Errorf("leases in %s: %w", dest, err)
	}
	if opts.TTL <= 0 {
		opts.TTL = DefaultLeaseTTL
	}
	if opts.Wait == 0 {
		opts.Wait = opts.TTL + 2*LeaseClockGrace
	}
	if opts.Margin <= 0 {
		opts.Margin = opts.TTL / 2
	}
	if opts.Renew <= 0 {
		opts.Renew = opts.TTL / 6
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	host, _ := os.Hostname()
	return &Leaser{dest: c, opts: opts, host: host, pid: os.Getpid(), token: randomToken(), held: map[*Lease]struct{}{}}, nil
}

func randomToken() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Holder names this run as leases and manifests record it: host:pid:token.
func (ls *Leaser) Holder() string { return fmt.Sprintf("%s:%d:%s", ls.host, ls.pid, ls.token) }

// expired reports whether the lease b, read with version v, has expired on the store's
// clock: its Last-Modified plus its TTL (and LeaseClockGrace) is past the response's Date.
func expired(b *leaseBody, v storage.Version, ownTTL time.Duration) bool {
	ttl := time.Duration(b.TTL * float64(time.Second))
	if ttl <= 0 {
		ttl = ownTTL // a lease that does not say (damaged): judge it by ours
	}
	return !v.Now.Before(v.Modified.Add(ttl + LeaseClockGrace))
}

// Acquire takes delivery day d's lease, waiting up to the options' Wait while another run
// holds it (a *HeldError after that), and taking over a lease that has expired. The lease
// is renewed in the background until Release.
func (ls *Leaser) Acquire(ctx context.Context, d trail.Day) (*Lease, error) {
	key := LeaseKey(d)
	start := time.Now()
	poll := min(max(ls.opts.TTL/20, 20*time.Millisecond), 2*time.Second)
	l := &Lease{ls: ls, day: d, key: key, body: leaseBody{
		Holder: ls.Holder(), Token: ls.token, Host: ls.host, PID: ls.pid, TTL: ls.opts.TTL.Seconds(),
		Tool: "marketrail", Version: ls.opts.Version,
	}}
	match := storage.MatchNone
	var firstSent time.Time // of the first write since the lease was last seen held by another or free
	for {
		now := time.Now()
		if firstSent.IsZero() {
			firstSent = now
		}
		l.body.Taken, l.body.Renewed = now.UTC(), now.UTC()
		b, _ := json.Marshal(l.body)
		etag, err := ls.dest.PutIf(ctx, key, b, match)
		if err == nil {
			l.etag, l.deadline = etag, now.Add(ls.opts.TTL)
			if match != storage.MatchNone {
				ls.opts.Logger.Warn("took over an expired lease: the run that held the day stopped without releasing it", "delivery_day", d.String(), "lease", key)
			}
			ls.start(l)
			return l, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		switch {
		case errors.Is(err, storage.ErrConflict):
			// Raced another conditional write: read again.
		case errors.Is(err, storage.ErrPreconditionFailed), match != storage.MatchNone && errors.Is(err, storage.ErrNotExist):
		default:
			// An unknown outcome (the request failed after the SDK's retries) could
			// still have taken the lease: it expires, unrenewed, after one TTL.
			return nil, fmt.Errorf("take lease %s: %w", key, err)
		}
		cur, v, err := ls.dest.Get(ctx, key)
		if errors.Is(err, storage.ErrNotExist) {
			match = storage.MatchNone // released meanwhile
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read lease %s: %w", key, err)
		}
		var other leaseBody
		json.Unmarshal(cur, &other) // a damaged lease has no TTL: judged by ours
		if other.Token == ls.token && other.Holder == l.body.Holder {
			// An earlier attempt of this run's write took it (its answer was lost, and a
			// retry found the condition false, or raced it): the lease is ours.
			l.body = other
			l.etag, l.deadline = v.ETag, firstSent.Add(ls.opts.TTL)
			ls.start(l)
			return l, nil
		}
		if expired(&other, v, ls.opts.TTL) {
			match, l.contended = v.ETag, true
			continue
		}
		match, firstSent = storage.MatchNone, time.Time{}
		l.contended = true
		waited := time.Since(start)
		if ls.opts.Wait < 0 || waited >= ls.opts.Wait {
			return nil, &HeldError{Day: d, Holder: other.Holder, Waited: waited}
		}
		if waited == 0 || waited < poll {
			ls.opts.Logger.Info("delivery day held by another run: waiting for its lease", "delivery_day", d.String(), "holder", other.Holder, "wait_seconds", ls.opts.Wait.Seconds())
		}
		t := time.NewTimer(min(poll, ls.opts.Wait-waited))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
	}
}

// start registers l and starts renewing it.
func (ls *Leaser) start(l *Lease) {
	ls.mu.Lock()
	ls.held[l] = struct{}{}
	ls.mu.Unlock()
	l.stop = make(chan struct{})
	l.done = make(chan struct{})
	go l.renew()
}

// ReleaseAll releases every lease still held (at the end of a run that failed).
func (ls *Leaser) ReleaseAll(ctx context.Context) {
	ls.mu.Lock()
	var all []*Lease
	for l := range ls.held {
		all = append(all, l)
	}
	ls.mu.Unlock()
	for _, l := range all {
		l.Release(ctx)
	}
}

// Lease is one delivery day's lease, held by this run.
type Lease struct {
	ls   *Leaser
	day  trail.Day
	key  string
	body leaseBody
	stop chan struct{}
	done chan struct{}
	once sync.Once

	mu       sync.Mutex
	etag     string    // the lease object's, as last written
	deadline time.Time // when the lease expires at the earliest, on the local monotonic clock
	lost     error     // why the lease is lost, once it is
	// The day's manifest as last seen under the lease: manifestSeen says it was read,
	// manifestETag is its ETag ("" for none).
	manifestSeen bool
	manifestETag string

	contended bool // set by Acquire only
}

// Day returns the lease's delivery day.
func (l *Lease) Day() trail.Day { return l.day }

// Contended reports whether another run held the day's lease (live, or expired and taken
// over) when Acquire was called: that run may have written the day meanwhile, from a
// listing newer than one made before the lease was taken.
func (l *Lease) Contended() bool { return l != nil && l.contended }

// Holder returns the holder recorded in the lease: host:pid:token.
func (l *Lease) Holder() string { return l.body.Holder }

// Check is the fence before a write of the day's files: it fails (wrapping ErrLeaseLost)
// unless the lease is still held with at least the options' Margin left. The time left is
// measured on the local monotonic clock from just before the lease was last written, which
// is never later than its Last-Modified on the store's clock, by which other runs judge it.
// A nil lease (--no-lease) always passes.
func (l *Lease) Check() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lost != nil {
		return l.lost
	}
	if left := time.Until(l.deadline); left < l.ls.opts.Margin {
		return fmt.Errorf("%w: lease %s has %v left, less than the margin of %v", ErrLeaseLost, l.key, left.Round(time.Millisecond), l.ls.opts.Margin)
	}
	return nil
}

// renew writes the lease again every Renew until it is released or lost.
func (l *Lease) renew() {
	defer close(l.done)
	t := time.NewTicker(l.ls.opts.Renew)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		// A renewal in flight is never cancelled (Release waits for it): cut short, it
		// could have written the lease without this run learning its ETag.
		ctx, cancel := context.WithTimeout(context.Background(), l.ls.opts.TTL)
		err := l.renewOnce(ctx)
		cancel()
		if err != nil {
			l.mu.Lock()
			if l.lost == nil && (errors.Is(err, ErrLeaseLost) || !time.Now().Before(l.deadline)) {
				l.lost = fmt.Errorf("%w: %s: %v", ErrLeaseLost, l.key, err)
			}
			lost := l.lost != nil
			l.mu.Unlock()
			l.ls.opts.Logger.Warn("could not renew a lease", "delivery_day", l.day.String(), "lease", l.key, "lost", lost, "error", err.Error())
			if lost {
				return
			}
		}
	}
}

// conflictAttempts bounds the retries of a conditional write that keeps racing others
// (409 ConditionalRequestConflict).
const conflictAttempts = 10

// onConflict waits a little before the attempt-th retry of a write that raced another,
// and reports whether to retry: err wraps storage.ErrConflict and attempts are left.
func onConflict(ctx context.Context, err error, attempt int) bool {
	if !errors.Is(err, storage.ErrConflict) || attempt >= conflictAttempts {
		return false
	}
	t := time.NewTimer(time.Duration(attempt) * 20 * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// renewOnce writes the lease again, conditional on its ETag; a conflict is retried.
func (l *Lease) renewOnce(ctx context.Context) error {
	first := time.Now()
	for attempt := 1; ; attempt++ {
		l.mu.Lock()
		etag := l.etag
		l.mu.Unlock()
		now := time.Now()
		l.body.Renewed = now.UTC()
		b, _ := json.Marshal(l.body)
		next, err := l.ls.dest.PutIf(ctx, l.key, b, etag)
		switch {
		case err == nil:
			l.mu.Lock()
			l.etag, l.deadline = next, now.Add(l.ls.opts.TTL)
			l.mu.Unlock()
			return nil
		case onConflict(ctx, err, attempt):
			continue
		case errors.Is(err, storage.ErrPreconditionFailed):
			// An earlier attempt of this renewal may have written it (a lost answer, then
			// a conflict): the lease is still ours if it holds our token.
			cur, v, gerr := l.ls.dest.Get(ctx, l.key)
			var other leaseBody
			if gerr == nil && json.Unmarshal(cur, &other) == nil && other.Token == l.body.Token && other.Holder == l.body.Holder {
				l.mu.Lock()
				l.etag, l.deadline = v.ETag, first.Add(l.ls.opts.TTL)
				l.mu.Unlock()
				return nil
			}
			return fmt.Errorf("%w: another run took it over: %v", ErrLeaseLost, err)
		case errors.Is(err, storage.ErrNotExist):
			return fmt.Errorf("%w: another run took it over: %v", ErrLeaseLost, err)
		}
		return err
	}
}

// detach stops renewing the lease and forgets it in its Leaser (ReleaseAll), without
// deleting it. Call it once (under l.once).
func (l *Lease) detach() {
	close(l.stop)
	<-l.done
	l.ls.mu.Lock()
	delete(l.ls.held, l)
	l.ls.mu.Unlock()
}

// Release stops renewing the lease and deletes it, conditional on its ETag (a lease that
// another run took over is left to it). A lease that cannot be deleted expires by itself.
func (l *Lease) Release(ctx context.Context) error {
	if l == nil {
		return nil
	}
	var err error
	l.once.Do(func() {
		l.detach()
		l.mu.Lock()
		etag, lost := l.etag, l.lost
		l.mu.Unlock()
		if lost != nil {
			return
		}
		for attempt := 1; ; attempt++ {
			err = l.ls.dest.DeleteIf(ctx, l.key, etag)
			if errors.Is(err, storage.ErrPreconditionFailed) {
				// Written since this run last knew its ETag: by this run (a write whose
				// outcome it did not learn), or by a run that took it over.
				cur, v, gerr := l.ls.dest.Get(ctx, l.key)
				var other leaseBody
				switch {
				case errors.Is(gerr, storage.ErrNotExist):
					err = nil
				case gerr == nil && json.Unmarshal(cur, &other) == nil && other.Token == l.body.Token && other.Holder == l.body.Holder && etag != v.ETag:
					etag = v.ETag
					continue
				case gerr == nil:
					err = nil // taken over: not ours to delete
				}
			}
			if !onConflict(ctx, err, attempt) {
				break
			}
		}
		if err != nil {
			err = fmt.Errorf("release lease %s: %w", l.key, err)
			l.ls.opts.Logger.Warn("could not release a lease: it expires by itself", "delivery_day", l.day.String(), "error", err.Error())
		}
	})
	return err
}

// SawManifest records the ETag of the day's manifest ("" for none) as read under the
// lease, when the day's listing was compared with it: the manifest writes that follow are
// conditional on it.
func (l *Lease) SawManifest(etag string) {
	l.mu.Lock()
	l.manifestSeen, l.manifestETag = true, etag
	l.mu.Unlock()
}

// CheckLeases checks that dest enforces conditional writes, by trying them on a probe key:
// a second create (If-None-Match: *) and a write with a wrong If-Match must both fail.
// A store that does not (or cannot) is refused with an error wrapping ErrLeaseNotEnforced
// or storage.ErrNoConditional; the run needs --no-lease there.
func CheckLeases(ctx context.Context, dest storage.Storage) error {
	c, err := storage.AsConditional(dest)
	if err != nil {
		return fmt.Errorf("%s: %w", dest, err)
	}
	key := LeaseDir + "probe-" + randomToken() + ".json"
	removed := false
	defer func() { // when the check stopped before its conditional delete
		if !removed {
			dest.Delete(context.WithoutCancel(ctx), key)
		}
	}()
	put := func(body, match string) (etag string, err error) {
		for attempt := 1; ; attempt++ {
			etag, err = c.PutIf(ctx, key, []byte(body), match)
			if !onConflict(ctx, err, attempt) {
				return etag, err
			}
		}
	}
	first, err := put(`{"probe":1}`, storage.MatchNone)
	if err != nil {
		return fmt.Errorf("check conditional writes in %s: %w", dest, err)
	}
	// The two writes that must fail, at once: each is a round trip the other need not wait
	// for (against S3 in a region, tens of milliseconds at the start of every run).
	var second, wrong error
	var wg sync.WaitGroup
	wg.Go(func() { _, second = put(`{"probe":2}`, storage.MatchNone) })
	wg.Go(func() { _, wrong = put(`{"probe":3}`, "0123456789abcdef0123456789abcdef") })
	wg.Wait()
	if !errors.Is(second, storage.ErrPreconditionFailed) {
		return fmt.Errorf("%w: a second PutObject with If-None-Match: * of %s answered %v", ErrLeaseNotEnforced, key, second)
	}
	if !errors.Is(wrong, storage.ErrPreconditionFailed) {
		return fmt.Errorf("%w: a PutObject of %s with a wrong If-Match answered %v", ErrLeaseNotEnforced, key, wrong)
	}
	for attempt := 1; ; attempt++ {
		if err = c.DeleteIf(ctx, key, first); !onConflict(ctx, err, attempt) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("check conditional writes in %s: %w", dest, err)
	}
	removed = true
	return nil
}
