package iceberg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"path"
	"strings"
	"time"

	icebergio "github.com/apache/iceberg-go/io"

	"github.com/marketrail/marketrail/pkg/storage"
)

// iceberg-go finds a file IO by the scheme of a table's location, in a registry of its
// own filled at start-up. marketrail registers s3:// there, so that every metadata file,
// manifest and manifest list of an Iceberg table on S3 is read and written through
// pkg/storage — with the run's --sse, --sse-kms-key-id, bucket-owner checks, retries and
// endpoint, as the data files are — and not through a second S3 client configured
// elsewhere. The registry takes no Go values, only a context: the destination rides in the
// context given to the catalog and the table (WithDestination), and a file IO made
// without one fails. Local folders (file://) keep iceberg-go's own file IO.
func init() {
	icebergio.Register("s3", func(ctx context.Context, u *url.URL, _ map[string]string) (icebergio.IO, error) {
		d, _ := ctx.Value(destKey{}).(*destination)
		if d == nil {
			return nil, fmt.Errorf("no destination for %s: marketrail's Iceberg file IO is used only through its own tables", u.Redacted())
		}
		return &storageIO{d: d, ctx: ctx}, nil
	})
}

type destKey struct{}

// destination is a storage.Storage and the URL of its root ("s3://bucket/prefix/").
type destination struct {
	store storage.Storage
	root  string
}

// WithDestination returns ctx carrying dest, whose root is at URL root: an Iceberg file
// IO made with it reads and writes files under root through dest.
func WithDestination(ctx context.Context, dest storage.Storage, root string) context.Context {
	return context.WithValue(ctx, destKey{}, &destination{store: dest, root: strings.TrimSuffix(root, "/") + "/"})
}

// storageIO is an iceberg-go file IO over a storage.Storage. Files are read whole (the
// metadata, manifests and manifest lists iceberg-go reads are small: marketrail never
// has iceberg-go read a data file) and written on Close, atomically.
type storageIO struct {
	d   *destination
	ctx context.Context
}

func (s *storageIO) key(name string) (string, error) {
	if !strings.HasPrefix(name, s.d.root) {
		return "", fmt.Errorf("%s is outside the destination %s", name, s.d.root)
	}
	return strings.TrimPrefix(name, s.d.root), nil
}

func (s *storageIO) Open(name string) (icebergio.File, error) {
	b, err := s.ReadFile(name)
	if err != nil {
		return nil, err
	}
	return &memFile{Reader: bytes.NewReader(b), name: name, size: int64(len(b))}, nil
}

func (s *storageIO) ReadFile(name string) ([]byte, error) {
	k, err := s.key(name)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	b, err := storage.ReadAll(s.ctx, s.d.store, k)
	if errors.Is(err, storage.ErrNotExist) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return b, err
}

func (s *storageIO) Remove(name string) error {
	k, err := s.key(name)
	if err != nil {
		return &fs.PathError{Op: "remove", Path: name, Err: err}
	}
	return s.d.store.Delete(s.ctx, k)
}

func (s *storageIO) WriteFile(name string, p []byte) error {
	k, err := s.key(name)
	if err != nil {
		return &fs.PathError{Op: "write", Path: name, Err: err}
	}
	return s.d.store.Put(s.ctx, k, bytes.NewReader(p), int64(len(p)))
}

func (s *storageIO) Create(name string) (icebergio.FileWriter, error) {
	if _, err := s.key(name); err != nil {
		return nil, &fs.PathError{Op: "create", Path: name, Err: err}
	}
	return &putOnClose{io: s, name: name}, nil
}

// WalkDir calls fn for every file under root (orphan-file cleanup lists a table's folder).
func (s *storageIO) WalkDir(root string, fn fs.WalkDirFunc) error {
	k, err := s.key(strings.TrimSuffix(root, "/") + "/")
	if err != nil {
		return fn(root, nil, err)
	}
	for e, err := range s.d.store.List(s.ctx, k, false) {
		if err != nil {
			return fn(root, nil, err)
		}
		if err := fn(s.d.root+e.Key, dirEntry{e}, nil); err != nil && !errors.Is(err, fs.SkipDir) {
			return err
		}
	}
	return nil
}

// putOnClose holds what is written and stores it on Close.
type putOnClose struct {
	io   *storageIO
	name string
	buf  bytes.Buffer
}

func (p *putOnClose) Write(b []byte) (int, error)         { return p.buf.Write(b) }
func (p *putOnClose) ReadFrom(r io.Reader) (int64, error) { return p.buf.ReadFrom(r) }
func (p *putOnClose) Close() error                        { return p.io.WriteFile(p.name, p.buf.Bytes()) }

type memFile struct {
	*bytes.Reader
	name string
	size int64
}

func (f *memFile) Stat() (fs.FileInfo, error) {
	return fileInfo{name: path.Base(f.name), size: f.size}, nil
}
func (f *memFile) Close() error { return nil }

type fileInfo struct {
	name string
	size int64
	mod  time.Time
}

func (i fileInfo) Name() string       { return i.name }
func (i fileInfo) Size() int64        { return i.size }
func (i fileInfo) Mode() fs.FileMode  { return 0o444 }
func (i fileInfo) ModTime() time.Time { return i.mod }
func (i fileInfo) IsDir() bool        { return false }
func (i fileInfo) Sys() any           { return nil }

type dirEntry struct{ e storage.Entry }

func (d dirEntry) Name() string      { return path.Base(d.e.Key) }
func (d dirEntry) IsDir() bool       { return false }
func (d dirEntry) Type() fs.FileMode { return 0 }
func (d dirEntry) Info() (fs.FileInfo, error) {
	return fileInfo{name: d.Name(), size: d.e.Size, mod: d.e.ModTime}, nil
}
