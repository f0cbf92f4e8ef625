//go:build !unix

package storage

import "fmt"

// lock: conditional writes to a local folder need flock, which this system lacks; a
// destination here runs with --no-lease.
func (l *Local) lock(key string) (func(), error) {
	return nil, fmt.Errorf("lock %s: %w", key, ErrNoConditional)
}
