package storage_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/marketrail/marketrail/internal/s3test"
	"github.com/marketrail/marketrail/pkg/storage"
)

// forConditional runs fn on a local folder and on a bucket of the S3 server (behind
// WithRetry, as marketrail uses it), each in a subtest.
func forConditional(t *testing.T, fn func(t *testing.T, s storage.Storage)) {
	t.Run("local", func(t *testing.T) {
		l, err := storage.OpenLocal(t.TempDir(), true)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		fn(t, l)
	})
	t.Run("s3", func(t *testing.T) {
		c, _ := s3test.Client(t)
		fn(t, storage.WithRetry(storage.NewS3(c, s3test.Bucket(t, c), "p"), storage.RetryPolicy{}))
	})
}

// TestConditional: create only if absent, write and delete only if the ETag matches, and
// the versions Get reports.
func TestConditional(t *testing.T) {
	forConditional(t, func(t *testing.T, s storage.Storage) {
		ctx := context.Background()
		c, err := storage.AsConditional(s)
		if err != nil {
			t.Fatal(err)
		}
		const key = "d/k.json"
		e1, err := c.PutIf(ctx, key, []byte("one"), storage.MatchNone)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.PutIf(ctx, key, []byte("two"), storage.MatchNone); !errors.Is(err, storage.ErrPreconditionFailed) {
			t.Errorf("second create: %v", err)
		}
		b, v, err := c.Get(ctx, key)
		if err != nil || string(b) != "one" || v.ETag != e1 {
			t.Fatalf("Get: %q %+v %v, want one with ETag %s", b, v, err, e1)
		}
		if d := time.Since(v.Now); d < -time.Minute || d > time.Minute || v.Modified.After(v.Now.Add(time.Second)) {
			t.Errorf("store clock %v, modified %v", v.Now, v.Modified)
		}
		e2, err := c.PutIf(ctx, key, []byte("three"), e1)
		if err != nil || e2 == e1 {
			t.Fatalf("write on the right ETag: %v (%s)", err, e2)
		}
		if _, err := c.PutIf(ctx, key, []byte("four"), e1); !errors.Is(err, storage.ErrPreconditionFailed) {
			t.Errorf("write on a stale ETag: %v", err)
		}
		if err := c.DeleteIf(ctx, key, e1); !errors.Is(err, storage.ErrPreconditionFailed) {
			t.Errorf("delete on a stale ETag: %v", err)
		}
		if b, _ := storage.ReadAll(ctx, s, key); string(b) != "three" {
			t.Errorf("content %q after refused writes", b)
		}
		if err := c.DeleteIf(ctx, key, e2); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.Get(ctx, key); !errors.Is(err, storage.ErrNotExist) {
			t.Errorf("after delete: %v", err)
		}
		if err := c.DeleteIf(ctx, key, e2); err != nil {
			t.Errorf("delete of a missing key: %v", err)
		}
		if _, err := c.PutIf(ctx, key, []byte("five"), e2); !errors.Is(err, storage.ErrPreconditionFailed) && !errors.Is(err, storage.ErrNotExist) {
			t.Errorf("write on the ETag of a deleted object: %v", err)
		}
	})
}

// TestConditionalCreateRace: of many writers creating one key at once, exactly one wins.
func TestConditionalCreateRace(t *testing.T) {
	forConditional(t, func(t *testing.T, s storage.Storage) {
		c, _ := storage.AsConditional(s)
		for trial := range 10 {
			key := "race/" + string(rune('a'+trial))
			var wg sync.WaitGroup
			var mu sync.Mutex
			wins := 0
			for w := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := c.PutIf(context.Background(), key, []byte{byte(w)}, storage.MatchNone)
					if err == nil {
						mu.Lock()
						wins++
						mu.Unlock()
					} else if !errors.Is(err, storage.ErrPreconditionFailed) && !errors.Is(err, storage.ErrConflict) {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			if wins != 1 {
				t.Errorf("trial %d: %d writers created the key", trial, wins)
			}
		}
	})
}
