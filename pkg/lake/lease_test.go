package lake

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/marketrail/marketrail/internal/faultproxy"
	"github.com/marketrail/marketrail/internal/s3test"
	"github.com/marketrail/marketrail/pkg/storage"
	"github.com/marketrail/marketrail/pkg/trail"
)

// The lease tests run against a local folder and against the real S3 server (through the
// fault proxy when it injects something), with short TTLs. On S3, Last-Modified and Date
// have a resolution of a second, so TTLs there are a few seconds.

var leaseDay = func() trail.Day { d, _ := trail.ParseDay("2024-03-02"); return d }()

// leaseStore returns a fresh destination of kind "local" or "s3", the latter through a
// fault proxy with pc when pc is not nil.
func leaseStore(t *testing.T, kind string, pc *faultproxy.Config) (storage.Storage, *faultproxy.Proxy) {
	t.Helper()
	if kind == "local" {
		l, err := storage.OpenLocal(t.TempDir(), true)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return l, nil
	}
	c, srv := s3test.Client(t)
	bucket := s3test.Bucket(t, c)
	var p *faultproxy.Proxy
	if pc != nil {
		var err error
		if p, err = faultproxy.New(srv.Endpoint, *pc); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		if c, err = storage.NewS3Client(context.Background(), storage.S3Options{Endpoint: p.URL}); err != nil {
			t.Fatal(err)
		}
	}
	return storage.WithRetry(storage.NewS3(c, bucket, "dest"), storage.RetryPolicy{}), p
}

// ttlFor is a TTL short enough for tests and long enough for the store's clock resolution.
func ttlFor(kind string) time.Duration {
	if kind == "local" {
		return 600 * time.Millisecond
	}
	return 2 * time.Second
}

func newLeaser(t *testing.T, dest storage.Storage, opts LeaseOptions) *Leaser {
	t.Helper()
	ls, err := NewLeaser(dest, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ls.ReleaseAll(context.Background()) })
	return ls
}

// abandon stops renewing l without releasing it: the lease a killed or paused run leaves.
func abandon(l *Lease) {
	l.once.Do(l.detach)
}

func forEachStore(t *testing.T, fn func(t *testing.T, kind string)) {
	for _, kind := range []string{"local", "s3"} {
		t.Run(kind, func(t *testing.T) { fn(t, kind) })
	}
}

// TestLeaseExclusive: while one run holds a day, another cannot take it, and is told who
// holds it; once released, it can.
func TestLeaseExclusive(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		ctx := context.Background()
		dest, _ := leaseStore(t, kind, nil)
		ttl := ttlFor(kind)
		a := newLeaser(t, dest, LeaseOptions{TTL: ttl})
		b := newLeaser(t, dest, LeaseOptions{TTL: ttl, Wait: -1})
		la, err := a.Acquire(ctx, leaseDay)
		if err != nil {
			t.Fatal(err)
		}
		if la.Contended() {
			t.Errorf("a free day's lease says another run held it")
		}
		var held *HeldError
		if _, err := b.Acquire(ctx, leaseDay); !errors.As(err, &held) || held.Holder != a.Holder() {
			t.Fatalf("second run took a held day: %v", err)
		}
		if err := la.Check(); err != nil {
			t.Fatalf("holder's fence: %v", err)
		}
		if err := la.Release(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := storage.ReadAll(ctx, dest, LeaseKey(leaseDay)); !errors.Is(err, storage.ErrNotExist) {
			t.Fatalf("released lease still there: %v", err)
		}
		lb, err := b.Acquire(ctx, leaseDay)
		if err != nil {
			t.Fatalf("day free after release: %v", err)
		}
		if lb.Contended() {
			t.Errorf("a day released before it was asked for says another run held it")
		}
		if err := lb.Release(ctx); err != nil {
			t.Fatal(err)
		}

		// A run that waits for the holder to release: what the holder wrote meanwhile may
		// be newer than a listing made before, which Contended says.
		la, err = a.Acquire(ctx, leaseDay)
		if err != nil {
			t.Fatal(err)
		}
		waiting := make(chan struct{})
		waiter := newLeaser(t, dest, LeaseOptions{TTL: ttl, Wait: 10 * ttl, Logger: slog.New(onMessage{waiting: waiting, once: new(sync.Once)})})
		got := make(chan *Lease)
		go func() {
			l, err := waiter.Acquire(ctx, leaseDay)
			if err != nil {
				t.Error(err)
			}
			got <- l
		}()
		<-waiting // the waiter found the day held
		if err := la.Release(ctx); err != nil {
			t.Fatal(err)
		}
		if lw := <-got; lw != nil {
			if !lw.Contended() {
				t.Errorf("a lease taken after waiting for another run does not say so")
			}
			lw.Release(ctx)
		}
	})
}

// TestLeaseRenewed: a lease held for several TTLs stays held (renewed in the background),
// and its fence passes throughout.
func TestLeaseRenewed(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		ctx := context.Background()
		dest, _ := leaseStore(t, kind, nil)
		ttl := ttlFor(kind)
		a := newLeaser(t, dest, LeaseOptions{TTL: ttl})
		b := newLeaser(t, dest, LeaseOptions{TTL: ttl, Wait: -1})
		la, err := a.Acquire(ctx, leaseDay)
		if err != nil {
			t.Fatal(err)
		}
		first, _ := storage.ReadAll(ctx, dest, LeaseKey(leaseDay))
		end := time.Now().Add(3 * ttl)
		for time.Now().Before(end) {
			if _, err := b.Acquire(ctx, leaseDay); !errors.Is(err, ErrHeld) {
				t.Fatalf("a renewed lease was taken: %v", err)
			}
			if err := la.Check(); err != nil {
				t.Fatalf("fence of a renewed lease: %v", err)
			}
			time.Sleep(ttl / 5)
		}
		if now, _ := storage.ReadAll(ctx, dest, LeaseKey(leaseDay)); bytes.Equal(first, now) {
			t.Errorf("lease never written again")
		}
		la.Release(ctx)
	})
}

// TestLeaseTakeover: a lease left by a run that stopped (killed, or paused past its TTL)
// expires and is taken over by a waiting run; the old holder's fence then fails, and so
// does its manifest write, even when its clock has not noticed (a paused process).
func TestLeaseTakeover(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		ctx := context.Background()
		dest, _ := leaseStore(t, kind, nil)
		ttl := ttlFor(kind)
		a := newLeaser(t, dest, LeaseOptions{TTL: ttl})
		b := newLeaser(t, dest, LeaseOptions{TTL: ttl}) // waits about one TTL
		w := &Writer{Dest: dest, Version: "test", TempDir: t.TempDir()}
		la, err := a.Acquire(ctx, leaseDay)
		if err != nil {
			t.Fatal(err)
		}
		m, etag, err := w.ReadManifestVersion(ctx, leaseDay)
		if err != nil || m != nil {
			t.Fatal(m, err)
		}
		la.SawManifest(etag)
		abandon(la)
		start := time.Now()
		lb, err := b.Acquire(ctx, leaseDay)
		if err != nil {
			t.Fatalf("abandoned lease not taken over: %v", err)
		}
		if waited := time.Since(start); waited < ttl/2 {
			t.Errorf("took over after %v, before the lease could expire (TTL %v)", waited, ttl)
		}
		if !lb.Contended() {
			t.Errorf("a lease taken over from another run does not say so")
		}
		if err := la.Check(); !errors.Is(err, ErrLeaseLost) {
			t.Errorf("old holder's fence after takeover: %v", err)
		}
		if _, err := w.PublishLeased(ctx, leaseDay, lb, &Sources{}, true); err != nil {
			t.Fatalf("successor publishes: %v", err)
		}
		want, _ := storage.ReadAll(ctx, dest, ManifestKey(leaseDay))
		// The old holder, paused between its fence and its write, believes it still holds.
		la.mu.Lock()
		la.deadline, la.lost = time.Now().Add(time.Hour), nil
		la.mu.Unlock()
		if _, err := w.PublishLeased(ctx, leaseDay, la, &Sources{}, true); !errors.Is(err, ErrLeaseLost) {
			t.Errorf("paused holder published over its successor: %v", err)
		}
		if err := w.writeManifest(ctx, la, &Sources{}, &Manifest{DeliveryDay: leaseDay.String(), State: StateComplete}); !errors.Is(err, ErrLeaseLost) {
			t.Errorf("paused holder's manifest write: %v", err)
		}
		if got, _ := storage.ReadAll(ctx, dest, ManifestKey(leaseDay)); !bytes.Equal(got, want) {
			t.Errorf("successor's manifest overwritten:\n%s", got)
		}
		if err := la.Release(ctx); err != nil {
			t.Errorf("releasing a lease taken over: %v", err)
		}
		if _, err := storage.ReadAll(ctx, dest, LeaseKey(leaseDay)); err != nil {
			t.Errorf("the old holder's release deleted its successor's lease: %v", err)
		}
		lb.Release(ctx)
	})
}

// TestLeaseFencingMargin: a lease no longer renewed fails its fence once less than the
// margin is left, before it expires for other runs.
func TestLeaseFencingMargin(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		ctx := context.Background()
		dest, _ := leaseStore(t, kind, nil)
		ttl := ttlFor(kind)
		a := newLeaser(t, dest, LeaseOptions{TTL: ttl, Margin: ttl / 2})
		la, err := a.Acquire(ctx, leaseDay)
		if err != nil {
			t.Fatal(err)
		}
		abandon(la)
		if err := la.Check(); err != nil {
			t.Fatalf("fresh lease: %v", err)
		}
		time.Sleep(ttl/2 + ttl/10)
		if err := la.Check(); !errors.Is(err, ErrLeaseLost) {
			t.Fatalf("fence with less than the margin left: %v", err)
		}
		// Other runs still see it held: the margin is spent before the TTL.
		b := newLeaser(t, dest, LeaseOptions{TTL: ttl, Wait: -1})
		if _, err := b.Acquire(ctx, leaseDay); !errors.Is(err, ErrHeld) {
			t.Fatalf("lease within its TTL taken: %v", err)
		}
	})
}

// TestLeaseExpiryOnStoreClock: expiry is Last-Modified plus TTL (and the grace for the
// headers' one-second resolution) against the store's Date, whatever the local clock says.
func TestLeaseExpiryOnStoreClock(t *testing.T) {
	mod := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC) // far from the local clock
	b := &leaseBody{TTL: 60}
	for _, c := range []struct {
		now  time.Duration
		want bool
	}{{0, false}, {60 * time.Second, false}, {60*time.Second + LeaseClockGrace - time.Millisecond, false}, {60*time.Second + LeaseClockGrace, true}, {time.Hour, true}, {-time.Hour, false}} {
		if got := expired(b, storage.Version{Modified: mod, Now: mod.Add(c.now)}, time.Minute); got != c.want {
			t.Errorf("store clock %v after Last-Modified: expired %v, want %v", c.now, got, c.want)
		}
	}
	if !expired(&leaseBody{}, storage.Version{Modified: mod, Now: mod.Add(2 * time.Minute)}, time.Minute) {
		t.Errorf("a damaged lease (no TTL) is judged by the run's own TTL")
	}
	// A store whose clock is an hour off the local one: held leases stay held, abandoned
	// ones expire after their TTL as usual.
	for _, skew := range []time.Duration{time.Hour, -time.Hour} {
		t.Run(fmt.Sprint(skew), func(t *testing.T) {
			ctx := context.Background()
			l, _ := leaseStore(t, "local", nil)
			dest := &skewed{Local: l.(*storage.Local), skew: skew}
			ttl := ttlFor("local")
			a := newLeaser(t, dest, LeaseOptions{TTL: ttl})
			c := newLeaser(t, dest, LeaseOptions{TTL: ttl, Wait: -1})
			la, err := a.Acquire(ctx, leaseDay)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Acquire(ctx, leaseDay); !errors.Is(err, ErrHeld) {
				t.Fatalf("held lease taken on a skewed store: %v", err)
			}
			abandon(la)
			time.Sleep(ttl + LeaseClockGrace + 100*time.Millisecond)
			lc, err := c.Acquire(ctx, leaseDay)
			if err != nil {
				t.Fatalf("expired lease not taken on a skewed store: %v", err)
			}
			lc.Release(ctx)
		})
	}
}

// skewed is a local store whose clock is off the local one by skew.
type skewed struct {
	*storage.Local
	skew time.Duration
}

func (s *skewed) Get(ctx context.Context, key string) ([]byte, storage.Version, error) {
	b, v, err := s.Local.Get(ctx, key)
	v.Modified, v.Now = v.Modified.Add(s.skew), v.Now.Add(s.skew)
	return b, v, err
}

// TestLeaseMutualExclusion: runs competing for one day many times over, each doing a
// read-modify-write of a counter under the lease (with plain, unconditional Put), never
// lose an increment; on S3 with 409 conflicts and lost answers injected.
func TestLeaseMutualExclusion(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		ctx := context.Background()
		var pc *faultproxy.Config
		if kind == "s3" {
			pc = &faultproxy.Config{ConflictEvery: 5, LoseAnswerEvery: 7}
		}
		dest, p := leaseStore(t, kind, pc)
		ttl := ttlFor(kind)
		const runs, each = 4, 5
		var wg sync.WaitGroup
		errs := make(chan error, runs*each)
		for range runs {
			ls := newLeaser(t, dest, LeaseOptions{TTL: ttl, Wait: time.Minute})
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range each {
					l, err := ls.Acquire(ctx, leaseDay)
					if err != nil {
						errs <- err
						return
					}
					n := 0
					if b, err := storage.ReadAll(ctx, dest, "counter"); err == nil {
						n, _ = strconv.Atoi(string(b))
					}
					time.Sleep(5 * time.Millisecond) // widen the window a second holder would need
					if err := l.Check(); err != nil {
						errs <- err
						return
					}
					s := strconv.Itoa(n + 1)
					if err := dest.Put(ctx, "counter", bytes.NewReader([]byte(s)), int64(len(s))); err != nil {
						errs <- err
						return
					}
					if err := l.Release(ctx); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		b, err := storage.ReadAll(ctx, dest, "counter")
		if err != nil || string(b) != strconv.Itoa(runs*each) {
			t.Errorf("counter %q (%v), want %d: two runs held the lease at once", b, err, runs*each)
		}
		if p != nil {
			t.Logf("proxy: %d conditional writes, %d conflicts, %d lost answers", p.Conditional.Load(), p.Conflicts.Load(), p.LostAnswers.Load())
			if p.Conflicts.Load() == 0 || p.LostAnswers.Load() == 0 {
				t.Errorf("no 409 conflict or lost answer injected")
			}
		}
	})
}

// TestConflictRetried: a 409 ConditionalRequestConflict on taking, renewing, writing a
// manifest and releasing is retried; a conditional PUT done by the server whose answer was
// lost (the SDK retries it and gets 412) is recognised as this run's own write.
func TestConflictRetried(t *testing.T) {
	ctx := context.Background()
	dest, p := leaseStore(t, "s3", &faultproxy.Config{ConflictEvery: 2, LoseAnswerEvery: 3})
	ttl := ttlFor("s3")
	a := newLeaser(t, dest, LeaseOptions{TTL: ttl, Renew: 200 * time.Millisecond})
	la, err := a.Acquire(ctx, leaseDay)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // renewals, some of them conflicting
	w := &Writer{Dest: dest, Version: "test", TempDir: t.TempDir()}
	if _, err := w.PublishLeased(ctx, leaseDay, la, &Sources{}, true); err != nil {
		t.Fatalf("publish with conflicts: %v", err)
	}
	if err := la.Check(); err != nil {
		t.Fatalf("lease lost to conflicts: %v", err)
	}
	if err := la.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := storage.ReadAll(ctx, dest, LeaseKey(leaseDay)); !errors.Is(err, storage.ErrNotExist) {
		t.Errorf("lease not released: %v", err)
	}
	t.Logf("proxy: %d conditional writes, %d conflicts, %d lost answers", p.Conditional.Load(), p.Conflicts.Load(), p.LostAnswers.Load())
	if p.Conflicts.Load() < 2 || p.LostAnswers.Load() < 1 {
		t.Errorf("faults not injected")
	}
}

// TestCheckLeases: local folders and the S3 server enforce conditional writes; a store that
// ignores them, or has none, is refused.
func TestCheckLeases(t *testing.T) {
	forEachStore(t, func(t *testing.T, kind string) {
		dest, _ := leaseStore(t, kind, nil)
		if err := CheckLeases(context.Background(), dest); err != nil {
			t.Fatal(err)
		}
		var n int
		for _, err := range dest.List(context.Background(), LeaseDir, false) {
			if err == nil {
				n++
			}
		}
		if n != 0 {
			t.Errorf("the check left %d objects behind", n)
		}
	})
	ll, _ := leaseStore(t, "local", nil)
	l := ll.(*storage.Local)
	if err := CheckLeases(context.Background(), &ignoring{l}); !errors.Is(err, ErrLeaseNotEnforced) {
		t.Errorf("a store ignoring conditions: %v", err)
	}
	if err := CheckLeases(context.Background(), plain{l}); !errors.Is(err, storage.ErrNoConditional) {
		t.Errorf("a store without conditional writes: %v", err)
	}
}

// ignoring is a store that accepts conditional writes and ignores their conditions, as
// some S3-compatible servers do.
type ignoring struct{ *storage.Local }

func (s *ignoring) PutIf(ctx context.Context, key string, body []byte, match string) (string, error) {
	if err := s.Put(ctx, key, bytes.NewReader(body), int64(len(body))); err != nil {
		return "", err
	}
	_, v, err := s.Get(ctx, key)
	return v.ETag, err
}

func (s *ignoring) DeleteIf(ctx context.Context, key, match string) error { return s.Delete(ctx, key) }

// plain is a Storage with no conditional writes.
type plain struct{ l *storage.Local }

func (p plain) List(ctx context.Context, prefix string, delim bool) iter.Seq2[storage.Entry, error] {
	return p.l.List(ctx, prefix, delim)
}
func (p plain) Load(ctx context.Context, key string, fn func(io.Reader) error) error {
	return p.l.Load(ctx, key, fn)
}
func (p plain) Put(ctx context.Context, key string, r io.ReadSeeker, size int64) error {
	return p.l.Put(ctx, key, r, size)
}
func (p plain) Delete(ctx context.Context, key string) error { return p.l.Delete(ctx, key) }
func (p plain) String() string                               { return p.l.String() }

// onMessage is a log handler that closes waiting at the first "waiting for its lease"
// record: the moment a run finds the day held and starts to wait.
type onMessage struct {
	waiting chan struct{}
	once    *sync.Once
}

func (h onMessage) Enabled(context.Context, slog.Level) bool { return true }
func (h onMessage) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h onMessage) WithGroup(string) slog.Handler            { return h }
func (h onMessage) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "waiting for its lease") {
		h.once.Do(func() { close(h.waiting) })
	}
	return nil
}
