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
	return ClaimFormat(ctx, dest, version, FormatHive)
}

// FormatHive is the table format of a destination without a Format (Writer.Format nil),
// and of a marker that names none (written before marketrail had others).
const FormatHive = "hive"

// ErrOtherFormat is wrapped by ClaimFormat's error for a destination that holds tables of
// another table format.
var ErrOtherFormat = errors.New("destination holds tables of another table format")

// ClaimFormat is Claim for tables of table format format (FormatHive, or a Format's
// Name): the marker records it, and a destination claimed for one format is refused for
// another — one table format per destination.
func ClaimFormat(ctx context.Context, dest storage.Storage, version, format string) error {
	b, err := storage.ReadAll(ctx, dest, MarkerKey)
	if err == nil {
		return sameFormat(dest, b, format)
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
		if b, err := storage.ReadAll(ctx, dest, MarkerKey); err == nil {
			return sameFormat(dest, b, format)
		}
		return fmt.Errorf("%w: %s holds %s; choose an empty destination or one marketrail wrote", ErrForeignDest, dest, e.Key)
	}
	b, _ = json.Marshal(map[string]any{"tool": "marketrail", "version": version, "created": time.Now().UTC(), "table_format": format})
	if err := dest.Put(ctx, MarkerKey, bytes.NewReader(b), int64(len(b))); err != nil {
		return fmt.Errorf("cannot write to destination %s: %w", dest, err)
	}
	return nil
}

// sameFormat checks that marker (a marker's content) is of table format format.
func sameFormat(dest storage.Storage, marker []byte, format string) error {
	var m struct {
		Format string `json:"table_format"`
	}
	if err := json.Unmarshal(marker, &m); err != nil {
		return fmt.Errorf("the marker %s of destination %s is damaged (%v): it should be marketrail's JSON", MarkerKey, dest, err)
	}
	if m.Format == "" {
		m.Format = FormatHive
	}
	if m.Format != format {
		return fmt.Errorf("%w: %s holds %s tables, not %s: use --table-format %s with it, or another destination for %s tables", ErrOtherFormat, dest, m.Format, format, m.Format, format)
	}
	return nil
}
