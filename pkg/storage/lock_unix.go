//go:build unix

package storage

import (
	"os"
	"syscall"
)

// lock takes the exclusive lock of key's conditional writes (see Local.PutIf); the
// returned function releases it. The lock file stays: removing it would let two writers
// lock two different files.
func (l *Local) lock(key string) (func(), error) {
	f, err := l.root.OpenFile(lockName(key), os.O_RDWR|os.O_CREATE, 0o644)
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
	return func() { f.Close() }, nil // closing the file releases the lock
}
