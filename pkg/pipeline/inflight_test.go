package pipeline_test

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/marketrail/marketrail/internal/faultproxy"
	"github.com/marketrail/marketrail/internal/s3test"
	"github.com/marketrail/marketrail/pkg/pipeline"
	"github.com/marketrail/marketrail/pkg/storage"
)

// loadsInFlight is a Storage that counts the Loads in progress at once.
type loadsInFlight struct {
	storage.Storage
	now, max atomic.Int64
}

func (l *loadsInFlight) Load(ctx context.Context, key string, fn func(io.Reader) error) error {
	n := l.now.Add(1)
	defer l.now.Add(-1)
	for m := l.max.Load(); n > m && !l.max.CompareAndSwap(m, n); m = l.max.Load() {
	}
	return l.Storage.Load(ctx, key, fn)
}

// TestRequestsInFlight: behind a proxy that holds every request 30 ms, one CPU worker
// (Workers 1) still has many GETs in flight (Requests), and the run writes what a run from
// the local folder writes.
func TestRequestsInFlight(t *testing.T) {
	c, srv := s3test.Client(t)
	bucket := s3test.Bucket(t, c)
	ctx := context.Background()
	err := filepath.WalkDir(sample, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(sample, p)
		_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("trail/" + filepath.ToSlash(rel)), Body: bytes.NewReader(b)})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := faultproxy.New(srv.Endpoint, faultproxy.Config{Latency: 30 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	pc, err := storage.NewS3Client(ctx, storage.S3Options{Endpoint: p.URL, Conns: 64})
	if err != nil {
		t.Fatal(err)
	}
	src := &loadsInFlight{Storage: storage.NewS3(pc, bucket, "trail")}
	from, to := sampleWindow(t)
	dest := t.TempDir()
	got, err := pipeline.Run(ctx, pipeline.Config{
		Source: src, Dest: open(t, dest, true), From: from, To: to, Workers: 1, Requests: 32,
		Version: "test", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := src.max.Load(); n < 8 {
		t.Errorf("at most %d GETs in flight with 1 worker and 32 requests; want at least 8", n)
	}
	if n := p.MaxInFlight.Load(); n < 8 {
		t.Errorf("the proxy saw at most %d requests at once; want at least 8", n)
	}
	t.Logf("GETs in flight at most: %d; requests at the proxy: %d at most, %d in all", src.max.Load(), p.MaxInFlight.Load(), p.Requests.Load())
	want := run(t, sample, t.TempDir(), from, to, nil).Totals
	g := got.Totals
	if g.LogFilesRead != want.LogFilesRead || g.BytesRead != want.BytesRead || g.EventsMatched != want.EventsMatched ||
		g.DuplicatesDropped != want.DuplicatesDropped || !maps.Equal(g.RowsWritten, want.RowsWritten) {
		t.Errorf("through the latency proxy: %+v\nwant, as from the local folder: %+v", g, want)
	}
}
