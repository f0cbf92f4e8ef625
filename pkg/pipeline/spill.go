package pipeline

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/marketrail/marketrail/pkg/lake"
)

// spill keeps a delivery day's quarantined records on disk, as the lines of the day's
// quarantine file, from the moment their log file comes back until the day is published:
// a day with many large bad records (each may be up to the scanner's 64 MiB) does not hold
// them in memory. Each log file's records are one segment, in record order; publishing
// reads the segments in key order, which is the order of the report's list.
type spill struct {
	f    *os.File // nil until the day's first quarantined record
	size int64
	segs []segment
}

// A segment is one log file's lines in the spill file.
type segment struct {
	key    string
	off, n int64
}

// add writes one log file's quarantined records as lines and lets go of their bytes. The
// records that are not in memory (Quarantined.held) are copied from held, their log file's
// FileResult.held.
func (s *spill) add(key string, recs []Quarantined, held *os.File) error {
	if len(recs) == 0 {
		return nil
	}
	if s.f == nil {
		f, err := os.CreateTemp("", ".marketrail-quarantine-*")
		if err != nil {
			return fmt.Errorf("hold quarantined records: %w", err)
		}
		s.f = f
	}
	w := bufio.NewWriter(s.f)
	off := s.size
	for i := range recs {
		if q := &recs[i]; q.held {
			if held == nil {
				return fmt.Errorf("hold quarantined records of %s: record %d is in no file", key, *q.Record)
			}
			n, err := w.ReadFrom(io.NewSectionReader(held, q.off, q.n))
			s.size += n
			if err != nil {
				return fmt.Errorf("hold quarantined records of %s: %w", key, err)
			}
			continue
		}
		n, _ := w.Write(lake.OneLine(recs[i].Raw))
		w.WriteByte('\n')
		s.size += int64(n) + 1
		recs[i].Raw = nil
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("hold quarantined records of %s: %w", key, err)
	}
	s.segs = append(s.segs, segment{key, off, s.size - off})
	return nil
}

// lines returns the spilled lines, the segments in key order; each call reads them afresh.
func (s *spill) lines() io.Reader {
	slices.SortFunc(s.segs, func(a, b segment) int { return strings.Compare(a.key, b.key) })
	parts := make([]io.Reader, len(s.segs))
	for i, seg := range s.segs {
		parts[i] = io.NewSectionReader(s.f, seg.off, seg.n)
	}
	return io.MultiReader(parts...)
}

// remove deletes the spill file, if there is one.
func (s *spill) remove() {
	if s.f != nil {
		s.f.Close()
		os.Remove(s.f.Name())
		s.f = nil
	}
}
