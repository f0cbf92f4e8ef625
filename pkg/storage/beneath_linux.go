package storage

import (
	"errors"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// beneath opens files below a folder with one openat2(2) call each, RESOLVE_BENEATH: the
// kernel refuses any path, "..", or symbolic link that leads out of the folder — the
// guarantee os.Root gives, which os.Root's portable code pays for with an openat and a
// close per path component (about twenty system calls for a CloudTrail key, per file).
type beneath struct {
	dir *os.File // the folder
	fd  int      // dir's descriptor
}

// openBeneath opens dir for beneath, or returns nil when this kernel (or a seccomp
// filter, as in some containers) does not offer openat2.
func openBeneath(dir string) *beneath {
	f, err := os.Open(dir)
	if err != nil {
		return nil
	}
	b := &beneath{dir: f, fd: int(f.Fd())}
	probe, err := b.open(".", false)
	if err != nil {
		f.Close()
		return nil
	}
	probe.Close()
	return b
}

func (b *beneath) close() error { return b.dir.Close() }

// open opens name (slash-separated, relative to the folder) for reading; a folder only
// when dir is set. Its errors are *fs.PathError, like os.Root's.
func (b *beneath) open(name string, dir bool) (*os.File, error) {
	flags := uint64(unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NOCTTY)
	if dir {
		flags |= unix.O_DIRECTORY
	}
	for tries := 1; ; tries++ {
		fd, err := unix.Openat2(b.fd, name, &unix.OpenHow{Flags: flags, Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS})
		// EINTR: a signal; EAGAIN: a rename raced a ".." in the lookup, and the kernel could
		// not tell whether it stayed in the folder. Try again, but not for ever.
		if (errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN)) && tries < 10 {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "openat2", Path: name, Err: err}
		}
		return os.NewFile(uintptr(fd), name), nil
	}
}

// readDir lists the folder dir (relative to the folder; "." for itself) in lexical order of
// names. Regular files come with their size and modification time, read with one
// fstatat(2) each relative to the listed folder; other non-folders (symbolic links) with
// stat false, for the caller to stat through its os.Root.
func (b *beneath) readDir(dir string) ([]localEntry, error) {
	f, err := b.open(dir, true)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	des, err := f.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	out := make([]localEntry, 0, len(des))
	for _, de := range des {
		e := localEntry{name: de.Name(), dir: de.IsDir()}
		if de.Type().IsRegular() {
			var st unix.Stat_t
			if err := unix.Fstatat(int(f.Fd()), e.name, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil && st.Mode&unix.S_IFMT == unix.S_IFREG {
				e.stat, e.size, e.modTime = true, st.Size, time.Unix(st.Mtim.Unix())
			}
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b localEntry) int { return strings.Compare(a.name, b.name) })
	return out, nil
}
