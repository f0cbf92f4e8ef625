package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/marketrail/marketrail/pkg/storage"
)

// stores opens the places named on the command line, sharing one S3 client.
type stores struct {
	opts   storage.S3Options
	log    *slog.Logger // warned of each re-read of a broken object body
	client *s3.Client
	locals []*storage.Local
}

// parseS3 splits s3://BUCKET/PREFIX; ok is false for anything else.
func parseS3(loc string) (bucket, prefix string, ok bool) {
	rest, ok := strings.CutPrefix(loc, "s3://")
	if !ok {
		return "", "", false
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	return bucket, prefix, true
}

func (s *stores) s3(ctx context.Context) (*s3.Client, error) {
	if s.client == nil {
		c, err := storage.NewS3Client(ctx, s.opts)
		if err != nil {
			return nil, err
		}
		s.client = c
	}
	return s.client, nil
}

// open opens a location; create makes a missing local folder (for a destination). A bucket
// reads an object again when its body breaks off (storage.WithRetry); its requests are
// retried by the S3 client itself.
func (s *stores) open(ctx context.Context, loc string, create bool) (storage.Storage, error) {
	if bucket, prefix, ok := parseS3(loc); ok {
		if bucket == "" {
			return nil, fmt.Errorf("no bucket in %q", loc)
		}
		c, err := s.s3(ctx)
		if err != nil {
			return nil, err
		}
		return storage.WithRetry(storage.NewS3(c, bucket, prefix), storage.RetryPolicy{Logger: s.log}), nil
	}
	l, err := storage.OpenLocal(loc, create)
	if err != nil {
		return nil, err
	}
	s.locals = append(s.locals, l)
	return l, nil
}

// writeFile writes b to a local file or s3://BUCKET/KEY, atomically.
func (s *stores) writeFile(ctx context.Context, loc string, b []byte) error {
	if bucket, key, ok := parseS3(loc); ok {
		if bucket == "" || key == "" {
			return fmt.Errorf("want s3://BUCKET/KEY, got %q", loc)
		}
		c, err := s.s3(ctx)
		if err != nil {
			return err
		}
		return storage.NewS3(c, bucket, "").Put(ctx, key, bytes.NewReader(b), int64(len(b)))
	}
	dir, name := filepath.Split(loc)
	if dir == "" {
		dir = "."
	}
	l, err := storage.OpenLocal(dir, true)
	if err != nil {
		return err
	}
	defer l.Close()
	return l.Put(ctx, name, bytes.NewReader(b), int64(len(b)))
}

func (s *stores) close() {
	for _, l := range s.locals {
		l.Close()
	}
}
