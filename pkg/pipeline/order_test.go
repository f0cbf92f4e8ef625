package pipeline_test

import (
	"context"
	"errors"
	"io"
	"iter"
	"sync"
	"testing"

	"github.com/marketrail/marketrail/pkg/pipeline"
	"github.com/marketrail/marketrail/pkg/report"
	"github.com/marketrail/marketrail/pkg/source"
	"github.com/marketrail/marketrail/pkg/storage"
)

// journal records, in order, the effects a run has on its source and destination.
type journal struct {
	mu     sync.Mutex
	events []string
}

func (j *journal) add(e string) {
	j.mu.Lock()
	j.events = append(j.events, e)
	j.mu.Unlock()
}

func (j *journal) first(e string) int {
	j.mu.Lock()
	defer j.mu.Unlock()
	for i, x := range j.events {
		if x == e {
			return i
		}
	}
	return -1
}

// watched is a Storage that notes its reads and writes in a journal, and refuses writes when
// readOnly is set.
type watched struct {
	storage.Storage
	name     string
	j        *journal
	readOnly bool
}

var errReadOnly = errors.New("read-only file system")

func (w *watched) Load(ctx context.Context, key string, fn func(io.Reader) error) error {
	w.j.add(w.name + " load")
	return w.Storage.Load(ctx, key, fn)
}

func (w *watched) List(ctx context.Context, prefix string, delim bool) iter.Seq2[storage.Entry, error] {
	w.j.add(w.name + " list")
	return w.Storage.List(ctx, prefix, delim)
}

func (w *watched) Put(ctx context.Context, key string, r io.ReadSeeker, size int64) error {
	w.j.add(w.name + " put")
	if w.readOnly {
		return errReadOnly
	}
	return w.Storage.Put(ctx, key, r, size)
}

func (w *watched) Delete(ctx context.Context, key string) error {
	w.j.add(w.name + " delete")
	if w.readOnly {
		return errReadOnly
	}
	return w.Storage.Delete(ctx, key)
}

// TestOrderOfEffects: nothing is written to the destination before the source is found to
// hold a trail, and a destination that cannot be written is found before any log file is
// read — even one that already carries marketrail's marker.
func TestOrderOfEffects(t *testing.T) {
	from, to := sampleWindow(t)
	runWith := func(src string, sel source.Selection, dest string, readOnly bool) (*journal, *report.Report, error) {
		j := &journal{}
		cfg := pipeline.Config{
			Source: &watched{Storage: open(t, src, false), name: "source", j: j},
			Dest:   &watched{Storage: open(t, dest, true), name: "dest", j: j, readOnly: readOnly},
			From:   from, To: to, Selection: sel, Workers: 2,
			// The journal's wrapper has no conditional writes; the order of effects is the
			// same with leases (they are taken after the probe, before any day is listed).
			NoLease: true,
		}
		rep, err := pipeline.Run(context.Background(), cfg)
		return j, rep, err
	}

	// No trail: the destination is never touched.
	for _, sel := range []source.Selection{{}, {Regions: []string{"us-east1"}}} {
		srcDir := sample + "/AWSLogs"
		if len(sel.Regions) > 0 {
			srcDir = sample
		}
		j, rep, err := runWith(srcDir, sel, t.TempDir(), false)
		if !errors.Is(err, report.ErrNoTrail) || rep.ExitCode != report.ExitNoTrail || rep.Status != report.StatusNoTrail {
			t.Errorf("%s %v: %v, exit %d %s; want no_trail, 5", srcDir, sel, err, rep.ExitCode, rep.Status)
		}
		for _, e := range []string{"dest list", "dest load", "dest put", "dest delete"} {
			if j.first(e) >= 0 {
				t.Errorf("%s %v: %s with no trail found: %v", srcDir, sel, e, j.events)
			}
		}
		if len(rep.Days) != 0 {
			t.Errorf("%s %v: days recorded from an empty discovery: %v", srcDir, sel, rep.Days)
		}
	}

	// A destination that cannot be written: empty, and carrying the marker of an earlier run.
	used := t.TempDir()
	run(t, sample, used, from, to, nil)
	for _, dest := range []string{t.TempDir(), used} {
		j, _, err := runWith(sample, source.Selection{}, dest, true)
		if !errors.Is(err, errReadOnly) {
			t.Errorf("read-only destination: %v, want the write's error", err)
		}
		if j.first("source load") >= 0 {
			t.Errorf("a log file was read before the destination was found unwritable: %v", j.events)
		}
		if j.first("dest put") < 0 {
			t.Errorf("the destination was never tried: %v", j.events)
		}
	}

	// And in a run that works, the source is listed before the destination is written, which
	// is written to before the first log file is read.
	j, _, err := runWith(sample, source.Selection{}, t.TempDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	if list, put, load := j.first("source list"), j.first("dest put"), j.first("source load"); !(list < put && put < load) {
		t.Errorf("first source listing %d, destination write %d, log file read %d: want in that order", list, put, load)
	}
}
