package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Local is a Storage over a folder. It opens everything through an os.Root (or, reading
// on Linux, openat2 with RESOLVE_BENEATH, the same guarantee in one system call), so no
// key, "..", or symbolic link can reach a file outside the folder.
type Local struct {
	dir  string
	root *os.Root
	fast *beneath // nil where openat2 is not available
}

// OpenLocal opens the folder dir as a Storage. With create, the folder is made if missing
// (for a destination); otherwise it must exist (for a source).
func OpenLocal(dir string, create bool) (*Local, error) {
	if create {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	return &Local{dir: dir, root: root, fast: openBeneath(dir)}, nil
}

// Close releases the folder.
func (l *Local) Close() error {
	if l.fast != nil {
		l.fast.close()
	}
	return l.root.Close()
}

// open opens key for reading.
func (l *Local) open(key string) (*os.File, error) {
	if l.fast != nil {
		return l.fast.open(key, false)
	}
	return l.root.Open(key)
}

func (l *Local) String() string { return l.dir }

// List implements Storage. Entries come in lexical order of names within each folder.
func (l *Local) List(ctx context.Context, prefix string, delim bool) iter.Seq2[Entry, error] {
	return l.list(ctx, prefix, "", delim)
}

// ListAfter implements ListerAfter: List without a delimiter, from the first key after
// startAfter. Folders whose every key sorts before startAfter are not entered.
func (l *Local) ListAfter(ctx context.Context, prefix, startAfter string) iter.Seq2[Entry, error] {
	return l.list(ctx, prefix, startAfter, false)
}

// list is List, leaving out the keys up to after (with delim false).
func (l *Local) list(ctx context.Context, prefix, after string, delim bool) iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		dir, partial := ".", prefix
		if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
			dir, partial = prefix[:i], prefix[i+1:]
		}
		ents, err := l.readDir(dir)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) { // no such folder: nothing listed
				yield(Entry{}, fmt.Errorf("list %s: %w", prefix, err))
			}
			return
		}
		if delim {
			for _, de := range ents {
				if err := ctx.Err(); err != nil {
					yield(Entry{}, err)
					return
				}
				if !strings.HasPrefix(de.name, partial) {
					continue
				}
				key := joinKey(dir, de.name)
				e := Entry{Key: key + "/", IsPrefix: true}
				if !de.dir {
					e = l.entry(key, de)
				}
				if !yield(e, nil) {
					return
				}
			}
			return
		}
		// Depth first, in the order of the keys, as S3 lists (a folder's name sorts as if it
		// ended in '/', so "CloudTrail/…" comes after "CloudTrail-Digest/…"); folders that
		// cannot hold a key with the prefix are not entered, links to folders never.
		var walk func(dir string, ents []localEntry) (more bool, err error)
		walk = func(dir string, ents []localEntry) (bool, error) {
			slices.SortStableFunc(ents, func(a, b localEntry) int { return strings.Compare(a.sortName(), b.sortName()) })
			for _, de := range ents {
				if err := ctx.Err(); err != nil {
					return false, err
				}
				key := joinKey(dir, de.name)
				if !de.dir {
					if strings.HasPrefix(key, prefix) && key > after && !yield(l.entry(key, de), nil) {
						return false, nil
					}
					continue
				}
				if !strings.HasPrefix(key+"/", prefix) && !strings.HasPrefix(prefix, key+"/") {
					continue
				}
				if key+"/" < after && !strings.HasPrefix(after, key+"/") {
					continue // every key in it sorts before after
				}
				sub, err := l.readDir(key)
				if err != nil {
					return false, err
				}
				if more, err := walk(key, sub); !more || err != nil {
					return more, err
				}
			}
			return true, nil
		}
		if _, err := walk(dir, ents); err != nil {
			yield(Entry{}, fmt.Errorf("list %s: %w", prefix, err))
		}
	}
}

// A localEntry is a name in a listed folder; stat says size and modTime were read with it.
type localEntry struct {
	name    string
	dir     bool
	stat    bool
	size    int64
	modTime time.Time
}

// sortName is the name as it sorts among keys: a folder's with the '/' that follows it.
func (e localEntry) sortName() string {
	if e.dir {
		return e.name + "/"
	}
	return e.name
}

// readDir lists the folder dir in lexical order of names.
func (l *Local) readDir(dir string) ([]localEntry, error) {
	if l.fast != nil {
		return l.fast.readDir(dir)
	}
	des, err := fs.ReadDir(l.root.FS(), dir)
	if err != nil {
		return nil, err
	}
	out := make([]localEntry, len(des))
	for i, de := range des {
		out[i] = localEntry{name: de.Name(), dir: de.IsDir()}
	}
	return out, nil
}

func joinKey(dir, name string) string {
	if dir == "." {
		return name
	}
	return dir + "/" + name
}

// entry is the Entry of the file key listed as de; a file de has no size of (a symbolic
// link) is stat'ed through the root, which follows links that stay in the folder.
func (l *Local) entry(key string, de localEntry) Entry {
	e := Entry{Key: key}
	if !de.stat {
		info, err := l.root.Stat(key)
		if err != nil {
			return e
		}
		de.size, de.modTime = info.Size(), info.ModTime()
	}
	e.Size, e.ModTime = de.size, de.modTime
	e.ETag = fmt.Sprintf("%x-%x", de.size, de.modTime.UnixNano())
	return e
}

// Load implements Storage. fn runs once: a local read does not break off and retry.
func (l *Local) Load(ctx context.Context, key string, fn func(io.Reader) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := l.open(key)
	if err != nil {
		return fmt.Errorf("open %s: %w", key, err)
	}
	defer f.Close()
	if info, err := f.Stat(); err == nil && info.IsDir() {
		return fmt.Errorf("open %s: is a folder", key)
	}
	return fn(f)
}

// Put implements Storage: it writes a hidden temporary file ".NAME.RANDOM.tmp" beside key, syncs it
// and renames it over key. A run killed mid-write leaves only the hidden file (Athena and
// Hive ignore names starting with '.'), which Delete or the next Put of key removes.
func (l *Local) Put(ctx context.Context, key string, r io.ReadSeeker, size int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if dir := path.Dir(key); dir != "." {
		if err := l.root.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("put %s: %w", key, err)
		}
	}
	tmp := tempName(key)
	f, err := l.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	n, err := io.Copy(f, r)
	if err == nil && n != size {
		err = fmt.Errorf("wrote %d bytes, want %d", n, size)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = l.root.Rename(tmp, key)
	}
	if err != nil {
		l.root.Remove(tmp)
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

// tempName is a hidden name Put writes key's content under before renaming it:
// ".NAME.RANDOM.tmp", unique, so that writers of the same key at the same moment (two shards
// claiming a destination, two processes publishing one day) never rename each other's file.
func tempName(key string) string {
	dir, name := path.Split(key)
	var b [8]byte
	rand.Read(b[:])
	return dir + "." + name + "." + hex.EncodeToString(b[:]) + ".tmp"
}

// isTempOf reports whether the file name is a temporary file of a Put of the key whose
// name is name (or of marketrail before temporary names were unique: ".NAME.tmp").
func isTempOf(file, name string) bool {
	rest, ok := strings.CutPrefix(file, "."+name+".")
	return ok && strings.HasSuffix(rest, "tmp")
}

// Delete implements Storage; it also removes a leftover temporary file of key.
func (l *Local) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := l.root.Remove(key); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return l.removeTemps(key)
}

// Tidy implements Tidier: it removes the temporary files of Puts of key that a killed
// process left.
func (l *Local) Tidy(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return l.removeTemps(key)
}

// removeTemps removes the leftover temporary files of Puts of key.
func (l *Local) removeTemps(key string) error {
	dir, name := path.Split(key)
	if dir == "" {
		dir = "."
	}
	ents, err := l.readDir(strings.TrimSuffix(dir, "/"))
	if err != nil {
		return nil // no folder: no leftover either
	}
	for _, e := range ents {
		if e.dir || !isTempOf(e.name, name) {
			continue
		}
		k := joinKey(strings.TrimSuffix(dir, "/"), e.name)
		if err := l.root.Remove(k); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("delete %s: %w", k, err)
		}
	}
	return nil
}
