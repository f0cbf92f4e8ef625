package pipeline_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/marketrail/marketrail/pkg/pipeline"
	"github.com/marketrail/marketrail/pkg/report"
)

// A panic in a worker (a bug) fails the run with an error naming the object, instead of
// crashing the process; the report is complete and fatal.
func TestWorkerPanicFailsRun(t *testing.T) {
	from, to := sampleWindow(t)
	var reads int
	cfg := pipeline.Config{
		Source: open(t, sample, false), Dest: open(t, t.TempDir(), true), From: from, To: to, Workers: 1,
		Version: "test", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Hook: func(point string) {
			if point == pipeline.HookRead {
				if reads++; reads == 3 {
					panic("injected")
				}
			}
		},
	}
	rep, err := pipeline.Run(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "internal error (a bug in marketrail): panic while reading AWSLogs/") ||
		!strings.HasSuffix(err.Error(), ": injected") {
		t.Fatalf("Run: %v", err)
	}
	if rep == nil || rep.ExitCode != report.ExitFatal {
		t.Errorf("report: %+v", rep)
	}
}
