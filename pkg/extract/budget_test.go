package extract

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
)

// bigTrail returns a file of small records and of records over LargeRecordSize (sizes in
// bytes, 0 for a small one).
func bigTrail(sizes ...int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"Records":[`)
	for i, n := range sizes {
		if i > 0 {
			b.WriteString(",\n")
		}
		if n == 0 {
			b.WriteString(`{"eventSource":"s3.amazonaws.com","n":[1,{"x":"}"}]}`)
			continue
		}
		b.WriteString(`{"eventSource":"metering-marketplace.amazonaws.com","blob":"`)
		b.WriteString(strings.Repeat(`ab\"c{}[]`, n/9))
		b.WriteString(`","n":[1,2]}`)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// free reports whether the whole of b is free.
func free(b *Budget) bool {
	if !b.sem.TryAcquire(b.size) {
		return false
	}
	b.sem.Release(b.size)
	return true
}

// TestScannerBudget: with a budget, a Scanner yields the same records; it holds the budget's
// charge exactly while it is on a large record and gives it back once past it (and drops
// the large buffer), and holds nothing after the file.
func TestScannerBudget(t *testing.T) {
	text := bigTrail(0, 3<<20, 0, 0, 5<<20, 2<<20, 0, 0, 0)
	text = append(text[:len(text)-2], []byte(strings.Repeat(`,{"a":1}`, 600_000)+`]}`)...)
	want, err := jsonRecords(text)
	if err != nil {
		t.Fatal(err)
	}
	for _, rc := range []readerCase{readerCases[0], readerCases[2], readerCases[5], readerCases[6]} {
		t.Run(rc.name, func(t *testing.T) {
			b := NewBudget(1 << 40)
			s := newTestScanner(rc.buf)
			s.SetBudget(context.Background(), b)
			s.Reset(rc.open(t, text))
			var got [][]byte
			for s.Next() {
				rec := s.Record()
				if len(rec) > LargeRecordSize && s.lent != LargeRecordCharge(DefaultMaxRecordSize) {
					t.Errorf("record %d (%d bytes): holds %d of the budget", s.Index(), len(rec), s.lent)
				}
				got = append(got, bytes.Clone(rec))
				if len(got) == len(want) && (s.lent != 0 || len(s.buf) > keepBufferSize) {
					// 4 MiB of small records after the last large one: the input read
					// with it is used up, and the large buffer gone.
					t.Errorf("last record: holds %d of the budget, buffer of %d bytes", s.lent, len(s.buf))
				}
			}
			if s.Err() != nil {
				t.Fatal(s.Err())
			}
			if d := sameRecords(got, want); d != "" {
				t.Fatal(d)
			}
			if s.lent != 0 || !free(b) {
				t.Errorf("after the file: holds %d, budget free %v", s.lent, free(b))
			}
		})
	}
}

// TestScannerBudgetTruncated: a record over the maximum record size holds the budget while
// it is skipped, and gives it back after.
func TestScannerBudgetTruncated(t *testing.T) {
	text := bigTrail(0, 6<<20, 0)
	b := NewBudget(1 << 30)
	s := NewScanner(nil)
	s.SetMaxRecordSize(4 << 20)
	s.SetBudget(context.Background(), b)
	got, trunc, err := scanAllTruncated(s, bytes.NewReader(text))
	if err != nil || len(got) != 3 || trunc[1].cause != ErrRecordTooLarge {
		t.Fatalf("%d records, truncated %v, error %v", len(got), trunc, err)
	}
	if s.lent != 0 || !free(b) {
		t.Errorf("after the file: holds %d, budget free %v", s.lent, free(b))
	}
}

// TestScannerBudgetWait: a large record waits for the budget, small ones never do, and a
// wait ends with the context, failing the scan.
func TestScannerBudgetWait(t *testing.T) {
	b := NewBudget(64 << 20)
	if err := b.Acquire(context.Background(), b.Size()); err != nil {
		t.Fatal(err)
	}
	s := NewScanner(nil)
	ctx, cancel := context.WithCancel(context.Background())
	s.SetBudget(ctx, b)
	small := bigTrail(0, 0, 0)
	if got, err := scanAll(s, bytes.NewReader(small)); err != nil || len(got) != 3 {
		t.Fatalf("small records with no budget left: %d, %v", len(got), err)
	}
	done := make(chan error)
	go func() {
		_, err := scanAll(s, bytes.NewReader(bigTrail(0, 2<<20)))
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("a large record waiting for the budget, context canceled: %v", err)
	}
	b.Release(b.Size())
	s.SetBudget(context.Background(), b)
	if got, err := scanAll(s, bytes.NewReader(bigTrail(0, 2<<20))); err != nil || len(got) != 2 {
		t.Errorf("once the budget is back: %d records, %v", len(got), err)
	}
	if !free(b) {
		t.Error("budget not free at the end")
	}
}

// TestBudgetShared: many Scanners on files of several large records each, sharing a budget
// smaller than one record's charge, all finish (one large record at a time), with the
// right records, and give everything back.
func TestBudgetShared(t *testing.T) {
	text := bigTrail(0, 2<<20, 3<<20, 0, 2<<20, 0)
	want, err := jsonRecords(text)
	if err != nil {
		t.Fatal(err)
	}
	b := NewBudget(LargeRecordSize)
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			s := NewScanner(nil)
			s.SetBudget(context.Background(), b)
			for range 2 {
				got, err := scanAll(s, bytes.NewReader(text))
				if err != nil {
					t.Error(err)
					return
				}
				if d := sameRecords(got, want); d != "" {
					t.Error(d)
				}
			}
		})
	}
	wg.Wait()
	if !free(b) {
		t.Error("budget not free at the end")
	}
}
