package lake

import (
	"compress/gzip"
	"io"

	"github.com/parquet-go/parquet-go"

	"github.com/marketrail/marketrail/pkg/trail"
)

// QuarantineDir holds one file per delivery day with the records of that day that could not
// become rows, so they can be looked at and replayed.
const QuarantineDir = "_marketrail/quarantine/"

// QuarantineKey is the key of delivery day d's quarantine file.
func QuarantineKey(d trail.Day) string { return QuarantineDir + d.String() + ".jsonl.gz" }

// Quarantine returns a delivery day's n quarantined records as a Table for PublishDay,
// which publishes them as QuarantineKey(d) with the day's other files: the day's manifest
// lists the file, and a re-run of the day replaces it, or removes it when the day has no
// quarantined records any more. The file is gzipped JSON Lines, one record per line: lines
// returns them, in order, each time the file is written — each record's exact bytes made one
// line by OneLine, then a line feed. The rows of this table are not counted in the day's
// partitions.
func Quarantine(n int, lines func() io.Reader) Table { return quarantine{n, lines} }

type quarantine struct {
	n    int
	open func() io.Reader
}

func (q quarantine) Name() string { return "quarantine" }

func (q quarantine) files(d trail.Day, _ int) []file {
	if q.n == 0 {
		return nil
	}
	return []file{{key: QuarantineKey(d), rows: q.n, uncounted: true, write: func(w io.Writer, _ []parquet.WriterOption) error {
		zw := gzip.NewWriter(w)
		if _, err := io.Copy(zw, q.open()); err != nil {
			return err
		}
		return zw.Close()
	}}}
}

// OneLine returns rec on one line: a line break (LF or CR) is replaced, by a space outside
// strings (where it is JSON white space) and by the escape \n or \r inside a string (where a
// raw line break is not valid JSON). It returns rec itself when it has none.
func OneLine(rec []byte) []byte {
	var out []byte // nil until the first line break
	inString, escaped := false, false
	for i, c := range rec {
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case c == '\n' || c == '\r':
			if out == nil {
				out = append(make([]byte, 0, len(rec)+16), rec[:i]...)
			}
			switch {
			case !inString:
				out = append(out, ' ')
			case c == '\n':
				out = append(out, '\\', 'n')
			default:
				out = append(out, '\\', 'r')
			}
			continue
		}
		if out != nil {
			out = append(out, c)
		}
	}
	if out == nil {
		return rec
	}
	return out
}
