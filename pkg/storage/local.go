package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path"
	"strings"
)

// Local is a Storage over a folder. It opens everything through an os.Root, so no key,
// "..", or symbolic link can reach a file outside the folder.
type Local struct {
	dir  string
	root *os.Root
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
	return &Local{dir: dir, root: root}, nil
}

// Close releases the folder.
func (l *Local) Close() error { return l.root.Close() }

func (l *Local) String() string { return l.dir }

// List implements Storage. Entries come in lexical order of names within each folder.
func (l *Local) List(ctx context.Context, prefix string, delim bool) iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		dir, partial := ".", prefix
		if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
			dir, partial = prefix[:i], prefix[i+1:]
		}
		fsys := l.root.FS()
		if delim {
			ents, err := fs.ReadDir(fsys, dir)
			if err != nil {
				if !errors.Is(err, fs.ErrNotExist) {
					yield(Entry{}, fmt.Errorf("list %s: %w", prefix, err))
				}
				return
			}
			for _, de := range ents {
				if err := ctx.Err(); err != nil {
					yield(Entry{}, err)
					return
				}
				if !strings.HasPrefix(de.Name(), partial) {
					continue
				}
				key := joinKey(dir, de.Name())
				var e Entry
				if de.IsDir() {
					e = Entry{Key: key + "/", IsPrefix: true}
				} else {
					e = l.entry(key, de)
				}
				if !yield(e, nil) {
					return
				}
			}
			return
		}
		err := fs.WalkDir(fsys, dir, func(p string, de fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) && p == dir {
					return fs.SkipAll
				}
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			key := strings.TrimPrefix(p, "./")
			if de.IsDir() || !strings.HasPrefix(key, prefix) {
				return nil
			}
			if !yield(l.entry(key, de), nil) {
				return fs.SkipAll
			}
			return nil
		})
		if err != nil {
			yield(Entry{}, fmt.Errorf("list %s: %w", prefix, err))
		}
	}
}

func joinKey(dir, name string) string {
	if dir == "." {
		return name
	}
	return dir + "/" + name
}

func (l *Local) entry(key string, de fs.DirEntry) Entry {
	e := Entry{Key: key}
	if info, err := l.root.Stat(key); err == nil {
		e.Size, e.ModTime = info.Size(), info.ModTime()
		e.ETag = fmt.Sprintf("%x-%x", info.Size(), info.ModTime().UnixNano())
	}
	return e
}

// Load implements Storage. fn runs once: a local read does not break off and retry.
func (l *Local) Load(ctx context.Context, key string, fn func(io.Reader) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := l.root.Open(key)
	if err != nil {
		return fmt.Errorf("open %s: %w", key, err)
	}
	defer f.Close()
	if info, err := f.Stat(); err == nil && info.IsDir() {
		return fmt.Errorf("open %s: is a folder", key)
	}
	return fn(f)
}

// Put implements Storage: it writes a hidden temporary file ".NAME.tmp" beside key, syncs it
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

// tempName is the hidden name Put writes key's content under before renaming it.
func tempName(key string) string {
	dir, name := path.Split(key)
	return dir + "." + name + ".tmp"
}

// Delete implements Storage; it also removes a leftover temporary file of key.
func (l *Local) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, k := range []string{key, tempName(key)} {
		if err := l.root.Remove(k); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("delete %s: %w", k, err)
		}
	}
	return nil
}
