package storage

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
)

// ProbeWrite proves that s can be written before any work starts: it writes a small object
// under prefix with a random name (so that processes probing at once never meet) and deletes
// it again. Its error names the destination and says it cannot be written: a read-only
// folder, a bucket this identity may not write to.
func ProbeWrite(ctx context.Context, s Storage, prefix string) error {
	var id [8]byte
	rand.Read(id[:])
	key := prefix + hex.EncodeToString(id[:])
	body := []byte("marketrail write probe; deleted at once\n")
	if err := s.Put(ctx, key, bytes.NewReader(body), int64(len(body))); err != nil {
		return fmt.Errorf("cannot write to destination %s: %w", s, err)
	}
	if err := s.Delete(ctx, key); err != nil {
		return fmt.Errorf("cannot delete from destination %s (a write probe, %s, is left there): %w", s, key, err)
	}
	return nil
}
