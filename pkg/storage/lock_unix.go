//go:build unix

package storage

import (
	"path"
	"syscall"
)

// lock takes the exclusive lock of the conditional writes of key's folder (see
// Local.PutIf): a flock on the folder itself, so no lock file is left behind. The returned
// function releases it.
func (l *Local) lock(key string) (func(), error) {
	f, err := l.root.Open(path.Dir(key))
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil // closing the folder releases the lock
}
