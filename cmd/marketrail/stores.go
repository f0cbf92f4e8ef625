package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/marketrail/marketrail/pkg/digest"
	"github.com/marketrail/marketrail/pkg/storage"
)

// stores opens the places named on the command line, sharing one S3 client.
type stores struct {
	opts   storage.S3Options
	log    *slog.Logger // warned of each re-read of a broken object body
	client *s3.Client
	locals []*storage.Local
	owners map[string]string // expected owner account by bucket (--source/--dest-bucket-owner)
	sse    storage.S3Option  // the server-side encryption of every PutObject (--sse)

	credsChecked bool // preflight found credentials
}

// expectOwner makes every request to loc's bucket (when loc is s3://) carry owner as the
// expected bucket owner: the location's own requests, and a --report written to the same
// bucket.
func (s *stores) expectOwner(loc, owner string) {
	bucket, _, ok := parseS3(loc)
	if !ok || owner == "" {
		return
	}
	if s.owners == nil {
		s.owners = map[string]string{}
	}
	s.owners[bucket] = owner
}

// newS3 is storage.NewS3 with the bucket's expected owner and the encryption of writes.
func (s *stores) newS3(c *s3.Client, bucket, prefix string) *storage.S3 {
	opts := []storage.S3Option{storage.WithExpectedBucketOwner(s.owners[bucket])}
	if s.sse != nil {
		opts = append(opts, s.sse)
	}
	return storage.NewS3(c, bucket, prefix, opts...)
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

// preflight checks an s3:// location before any work (nothing for a folder): the AWS
// credentials, the first time, then that the bucket can be reached and listed. what names
// the flag ("--source", "--dest"). Its errors are one line each that names the fix.
func (s *stores) preflight(ctx context.Context, loc, what string) error {
	return s.preflightAll(ctx, [][2]string{{loc, what}})
}

// preflightAll is preflight of several locations (each a location and its flag): the
// credentials once, then every bucket at once, each check a round trip that need not wait
// for the others'. The error is the first location's that failed, in the order given.
func (s *stores) preflightAll(ctx context.Context, locs [][2]string) error {
	var buckets []*storage.S3
	var whats []string
	for _, l := range locs {
		bucket, prefix, ok := parseS3(l[0])
		if !ok || bucket == "" {
			continue
		}
		c, err := s.s3(ctx)
		if err != nil {
			return err
		}
		if !s.credsChecked {
			if err := storage.CheckCredentials(ctx, c, s.opts.Profile); err != nil {
				s.log.Info("AWS credentials not found", "error", errors.Unwrap(err))
				return err
			}
			s.credsChecked = true
		}
		buckets = append(buckets, s.newS3(c, bucket, prefix))
		whats = append(whats, l[1])
	}
	errs := make([]error, len(buckets))
	var wg sync.WaitGroup
	for i, b := range buckets {
		wg.Go(func() { errs[i] = b.Preflight(ctx, whats[i]) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// fetchDigestKeys gets CloudTrail's public keys of each region from its ListPublicKeys API,
// with the run's AWS configuration: the keys that sign the digests of --verify-digests when
// no --digest-public-keys are given.
func (s *stores) fetchDigestKeys(ctx context.Context, regions []string, start, end time.Time) (digest.KeySet, error) {
	cfg, err := storage.LoadAWSConfig(ctx, s.opts)
	if err != nil {
		return nil, err
	}
	keys := digest.KeySet{}
	for _, r := range regions {
		client := cloudtrail.NewFromConfig(cfg, func(o *cloudtrail.Options) { o.Region = r })
		got, err := digest.FetchPublicKeys(ctx, client, start, end)
		if err != nil {
			return nil, fmt.Errorf("region %s: %w", r, err)
		}
		maps.Copy(keys, got)
	}
	return keys, nil
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
		return storage.WithRetry(s.newS3(c, bucket, prefix), storage.RetryPolicy{Logger: s.log}), nil
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
		return s.newS3(c, bucket, "").Put(ctx, key, bytes.NewReader(b), int64(len(b)))
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
