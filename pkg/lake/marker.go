package lake

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/marketrail/marketrail/pkg/storage"
)

// MarkerKey marks a destination as marketrail's. marketrail only replaces or deletes files
// in a destination that carries it.
const MarkerKey = "_marketrail/marker.json"

// ErrForeignDest is wrapped by Claim's error for a destination that holds data that is not
// marketrail's.
var ErrForeignDest = errors.New("destination holds data but no marketrail marker")

// Claim makes sure dest is marketrail's before anything is written: a destination with the
// marker is claimed already; an empty one gets the marker (which also proves, before any
// work starts, that the destination can be written); one that holds anything else is
// refused, so a wrong --dest never loses someone's data.
func Claim(ctx context.Context, dest storage.Storage, version string) error {
	_, err := storage.ReadAll(ctx, dest, MarkerKey)
	if err == nil {
		return nil
	}
	if !errors.Is(err, storage.ErrNotExist) {
		return fmt.Errorf("read destination %s: %w", dest, err)
	}
	for e, err := range dest.List(ctx, "", true) {
		if err != nil {
			return fmt.Errorf("list destination %s: %w", dest, err)
		}
		// Another shard may be claiming the same empty destination right now: its
		// _marketrail/ folder is not foreign data.
		if e.Key == "_marketrail/" {
			continue
		}
		// A shard that started at the same time may have claimed the destination and
		// published files since the marker was read: its marker comes first, so look again.
		if _, err := storage.ReadAll(ctx, dest, MarkerKey); err == nil {
			return nil
		}
		return fmt.Errorf("%w: %s holds %s; choose an empty destination or one marketrail wrote", ErrForeignDest, dest, e.Key)
	}
	b, _ := json.Marshal(map[string]any{"tool": "marketrail", "version": version, "created": time.Now().UTC()})
	if err := dest.Put(ctx, MarkerKey, bytes.NewReader(b), int64(len(b))); err != nil {
		return fmt.Errorf("cannot write to destination %s: %w", dest, err)
	}
	return nil
}
