package lake

import (
	"cmp"
	"fmt"
	"io"
	"reflect"
	"slices"

	"github.com/parquet-go/parquet-go"

	"github.com/marketrail/marketrail/pkg/trail"
)

// Partition is one partition of a streamed table (NewStreamTable): its date and how many
// rows the table has in it.
type Partition struct {
	Date trail.Day
	Rows int
}

// RowSource produces rows of a streamed table in file order: rows [from, to) of partition
// p, in the order they are to be written, each passed to emit once. emit does not keep the
// row it is given past its return. A RowSource is called once per planned file, and
// concurrently for different files (a Writer encodes several files at once).
type RowSource[T any] func(p trail.Day, from, to int, emit func(*T) error) error

// NewStreamTable returns table name as a Table whose rows are not in memory: parts says how
// many rows each partition has (so files are planned, split by MaxRowsPerFile and counted
// in Result.Rows before any row exists), and rows produces each file's rows, already in
// order, as the file is written. Only a small batch of rows is held at a time, so a day's
// tables can be much larger than memory. Writing a file fails if rows produces a different
// number of rows than planned. sortColumn is the column the order is first by, recorded
// in each file's metadata.
func NewStreamTable[T any](name string, parts []Partition, rows RowSource[T], sortColumn string) Table {
	parts = slices.Clone(parts)
	slices.SortFunc(parts, func(a, b Partition) int { return cmp.Compare(a.Date.String(), b.Date.String()) })
	return &streamTable[T]{name: name, parts: parts, rows: rows, sortColumn: sortColumn}
}

type streamTable[T any] struct {
	name       string
	parts      []Partition
	rows       RowSource[T]
	sortColumn string
}

func (t *streamTable[T]) Name() string { return t.name }

// streamBatch is how many rows a streamed file hands parquet-go at once.
const streamBatch = 64

func (t *streamTable[T]) files(d trail.Day, maxRows int) []file {
	return planFiles(t.name, d, maxRows, t.parts, reflect.TypeFor[T](), func(p trail.Day, from, to int) func(io.Writer, []parquet.WriterOption) error {
		return func(w io.Writer, meta []parquet.WriterOption) error {
			pw := parquet.NewGenericWriter[T](w, fileOptions(meta, t.sortColumn)...)
			batch := make([]T, 0, streamBatch)
			flush := func() error {
				_, err := pw.Write(batch)
				clear(batch) // let go of the rows' strings
				batch = batch[:0]
				return err
			}
			n := 0
			err := t.rows(p, from, to, func(row *T) error {
				if n++; n > to-from {
					return fmt.Errorf("partition %s of table %s: more than the %d rows planned for the file", p, t.name, to-from)
				}
				batch = append(batch, *row)
				if len(batch) == streamBatch {
					return flush()
				}
				return nil
			})
			if err == nil && len(batch) > 0 {
				err = flush()
			}
			if err == nil && n != to-from {
				err = fmt.Errorf("partition %s of table %s: %d rows, not the %d planned for the file", p, t.name, n, to-from)
			}
			if err != nil {
				return err
			}
			return pw.Close()
		}
	})
}
