//go:build noiceberg

package main

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/marketrail/marketrail/pkg/lake"
	"github.com/marketrail/marketrail/pkg/storage"
)

// A build with -tags noiceberg: no iceberg-go (some 68 MB of the binary, and about 100 ms
// and 45 MB of memory at every start, spent by its packages' initialization), and no
// --table-format iceberg.

const icebergBuilt = false

var errNoIceberg = errors.New("this marketrail was built without Iceberg support (go build -tags noiceberg): use a standard build for --table-format iceberg")

func openIceberg(string, string, storage.Storage, string, *slog.Logger) (lake.Format, func(), error) {
	return nil, nil, errNoIceberg
}

func icebergUpkeep(lake.Format, time.Duration, *slog.Logger) func(context.Context) error { return nil }
