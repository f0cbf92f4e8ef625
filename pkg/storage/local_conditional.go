package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"time"
)

// Local's conditional writes. An object's ETag is a hash of its content (a file's
// modification time is too coarse to tell two quick writes apart). A create is exclusive
// (the content is written to a temporary file, then hard-linked to the key, which fails if
// the key exists: O_EXCL's guarantee with the content complete); a write or delete that
// must match an ETag compares and acts while holding an exclusive lock (flock) on the key's
// folder, which every conditional write in the folder takes. Version's
// times are the local clock's: here the store's clock is the machine's.

// localETag is the ETag of content b.
func localETag(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// Get implements Conditional.
func (l *Local) Get(ctx context.Context, key string) ([]byte, Version, error) {
	if err := ctx.Err(); err != nil {
		return nil, Version{}, err
	}
	f, err := l.open(key)
	if err != nil {
		return nil, Version{}, fmt.Errorf("open %s: %w", key, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err == nil && info.IsDir() {
		err = errors.New("is a folder")
	}
	var b []byte
	if err == nil {
		b, err = io.ReadAll(f)
	}
	if err != nil {
		return nil, Version{}, fmt.Errorf("read %s: %w", key, err)
	}
	return b, Version{ETag: localETag(b), Modified: info.ModTime(), Now: time.Now()}, nil
}

// current returns the ETag of key's content, or "" with no such file.
func (l *Local) current(key string) (string, error) {
	b, err := l.root.ReadFile(key)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return localETag(b), nil
}

// PutIf implements Conditional.
func (l *Local) PutIf(ctx context.Context, key string, body []byte, match string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if dir := path.Dir(key); dir != "." {
		if err := l.root.MkdirAll(dir, 0o755); err != nil {
			return "", fmt.Errorf("put %s: %w", key, err)
		}
	}
	unlock, err := l.lock(key)
	if err != nil {
		return "", fmt.Errorf("put %s: %w", key, err)
	}
	defer unlock()
	cur, err := l.current(key)
	if err != nil {
		return "", fmt.Errorf("put %s: %w", key, err)
	}
	if cur != match && match != MatchNone {
		return "", fmt.Errorf("put %s: %w", key, ErrPreconditionFailed)
	}
	tmp := tempName(key)
	if err := l.writeTemp(tmp, body); err != nil {
		return "", fmt.Errorf("put %s: %w", key, err)
	}
	defer l.root.Remove(tmp)
	if match == MatchNone {
		if err := l.root.Link(tmp, key); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return "", fmt.Errorf("put %s: %w", key, ErrPreconditionFailed)
			}
			return "", fmt.Errorf("put %s: %w", key, err)
		}
	} else if err := l.root.Rename(tmp, key); err != nil {
		return "", fmt.Errorf("put %s: %w", key, err)
	}
	// Under the lock no other conditional write of the folder is half done: a temporary
	// file of key here is a leftover of a writer killed mid-write.
	l.removeTemps(key)
	return localETag(body), nil
}

// writeTemp writes body to the new file tmp and syncs it.
func (l *Local) writeTemp(tmp string, body []byte) error {
	f, err := l.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(body)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		l.root.Remove(tmp)
	}
	return err
}

// DeleteIf implements Conditional.
func (l *Local) DeleteIf(ctx context.Context, key, match string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	unlock, err := l.lock(key)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // no folder: no key
	}
	if err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	defer unlock()
	cur, err := l.current(key)
	switch {
	case err != nil:
		return fmt.Errorf("delete %s: %w", key, err)
	case cur == "":
		return nil
	case cur != match:
		return fmt.Errorf("delete %s: %w", key, ErrPreconditionFailed)
	}
	if err := l.root.Remove(key); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	l.removeTemps(key) // leftovers, as in PutIf
	return nil
}
