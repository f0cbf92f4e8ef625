package lake

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"reflect"
	"regexp"
	"strings"

	"github.com/parquet-go/parquet-go"

	"github.com/marketrail/marketrail/pkg/trail"
)

// Format is what a Writer does with a delivery day's data files once they are written:
// the table format they are published to. A Writer without one (Hive, the default) puts
// each file under a name that depends only on the data and deletes the day's stale files;
// Athena reads the folders as they are.
//
// A table format with a catalog (Iceberg) keeps a history: a file the table referenced
// stays readable by the snapshots that reference it, so it is never overwritten nor
// deleted by a publication. Its data files are therefore named uniquely per publication
// (see PublicationKey), and a day's publication ends with Commit, which makes the day's
// new files the table's files of that delivery day in one step per table. The day
// manifest, the lease and the fencing stay as they are: the manifest still lists every
// file the day wrote (the files of an interrupted publication included), and unchanged
// files are still not uploaded again (their old names are kept).
type Format interface {
	// Name is the format's name, as --table-format and the destination's marker say it.
	Name() string
	// Prepare makes the tables ready to take publications (creates them where they do not
	// exist). It is called once the destination is claimed (ClaimFormat), before any
	// publication.
	Prepare(ctx context.Context) error
	// FileSchema returns the Parquet schema of a data file of rows of type row.
	FileSchema(row reflect.Type) (*parquet.Schema, error)
	// Staged is called with each data file of table once it is written, before it is
	// uploaded (or found unchanged and kept), under the key it is published as: a table
	// format reads what its catalog needs of the file (its footer) here. It may be called
	// from several goroutines at once.
	Staged(table, key string, f io.ReaderAt, size int64) error
	// Commit makes c.Files the files of delivery day c.Day in each of c.Tables, replacing
	// the ones the day had there, as one atomic change per table. It is called once every
	// file is uploaded, and again when a later run publishes the day again, so committing
	// files a table already has as the day's must change nothing.
	Commit(ctx context.Context, c Commit) error
}

// Commit is what a delivery day's publication asks its Format to commit.
type Commit struct {
	Day         trail.Day
	Publication string              // unique to this publication: the suffix of its new files' names
	Tables      []string            // every table a day may write, with or without files now
	Files       map[string][]string // table → the keys of the day's data files in it (new or kept)
	Summary     map[string]string   // what the day was made from, for the table's history
	// Check, called before each attempt to commit, says whether the day's lease is still
	// safely held (nil error) — the same fence as every other write of the day.
	Check func() error
	// Hook is the Writer's Hook (HookCommitted after each table's commit).
	Hook func(point string)
}

// HookCommitted is the Hook point after one table's commit of a day, before the next's.
const HookCommitted = "committed"

// NewPublication returns a publication id: 16 random hex digits.
func NewPublication() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// PublicationKey is the key a data file planned as key gets in publication pub of a table
// format: the publication's id before the extension ("events/data/event_date=2026-12-01/
// 2026-12-01.9f2c4e1a0b3d5e7f.parquet"). Names still start with the delivery day, so a
// day's files are listed as in the Hive layout.
func PublicationKey(key, pub string) string {
	ext := ".parquet"
	base := strings.TrimSuffix(key, ext)
	return base + "." + pub + ext
}

var publicationSuffix = regexp.MustCompile(`\.[0-9a-f]{16}\.parquet$`)

// PlannedKey is the key PublicationKey named k from: k without its publication id.
func PlannedKey(k string) string {
	if loc := publicationSuffix.FindStringIndex(k); loc != nil {
		return k[:loc[0]] + ".parquet"
	}
	return k
}

// DataDir is where a table format's data files go in a table's folder: the table's
// metadata sits beside it.
const DataDir = "data/"
