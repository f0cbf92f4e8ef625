package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// S3Options configure the S3 client. Everything left empty comes from the standard AWS
// configuration: AWS_PROFILE and the shared config/credentials files, AWS_REGION, the
// SDK's default credential chain (environment, SSO, web identity, ECS and EC2 roles), and
// AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL.
type S3Options struct {
	Profile  string // a named profile of the shared config files
	Region   string // overrides AWS_REGION and the profile's region
	Endpoint string // an S3-compatible endpoint URL; implies path-style addressing
}

// NewS3Client builds an S3 client from the standard AWS configuration and opts. With a
// custom endpoint (opts.Endpoint, AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL) it uses path-style
// addressing, which S3-compatible servers expect. When no region is configured at all it
// uses us-east-1.
func NewS3Client(ctx context.Context, opts S3Options) (*s3.Client, error) {
	var load []func(*config.LoadOptions) error
	if opts.Profile != "" {
		load = append(load, config.WithSharedConfigProfile(opts.Profile))
	}
	if opts.Region != "" {
		load = append(load, config.WithRegion(opts.Region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	custom := opts.Endpoint != "" || os.Getenv("AWS_ENDPOINT_URL_S3") != "" || os.Getenv("AWS_ENDPOINT_URL") != ""
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		if opts.Endpoint != "" {
			o.BaseEndpoint = aws.String(opts.Endpoint)
		}
		if custom {
			o.UsePathStyle = true
		}
	}), nil
}

// S3 is a Storage over a bucket and an optional key prefix.
type S3 struct {
	client *s3.Client
	bucket string
	prefix string // "" or ending in '/'
}

// NewS3 returns a Storage rooted at s3://bucket/prefix.
func NewS3(client *s3.Client, bucket, prefix string) *S3 {
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return &S3{client: client, bucket: bucket, prefix: prefix}
}

// Bucket returns the bucket name.
func (s *S3) Bucket() string { return s.bucket }

func (s *S3) String() string { return "s3://" + s.bucket + "/" + s.prefix }

// List implements Storage with ListObjectsV2, one page (up to 1,000 keys) at a time.
func (s *S3) List(ctx context.Context, prefix string, delim bool) iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		in := &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: aws.String(s.prefix + prefix)}
		if delim {
			in.Delimiter = aws.String("/")
		}
		pages := s3.NewListObjectsV2Paginator(s.client, in)
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if err != nil {
				yield(Entry{}, fmt.Errorf("list %s%s: %w", s, prefix, describe(err)))
				return
			}
			for _, o := range page.Contents {
				e := Entry{
					Key:          strings.TrimPrefix(aws.ToString(o.Key), s.prefix),
					Size:         aws.ToInt64(o.Size),
					ETag:         strings.Trim(aws.ToString(o.ETag), `"`),
					ModTime:      aws.ToTime(o.LastModified),
					StorageClass: string(o.StorageClass),
				}
				if e.StorageClass == string(types.ObjectStorageClassStandard) {
					e.StorageClass = ""
				}
				if !yield(e, nil) {
					return
				}
			}
			for _, p := range page.CommonPrefixes {
				if !yield(Entry{Key: strings.TrimPrefix(aws.ToString(p.Prefix), s.prefix), IsPrefix: true}, nil) {
					return
				}
			}
		}
	}
}

// Load implements Storage with GetObject.
func (s *S3) Load(ctx context.Context, key string, fn func(io.Reader) error) error {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: aws.String(s.prefix + key)})
	if err != nil {
		return fmt.Errorf("get %s: %w", key, describe(err))
	}
	defer out.Body.Close()
	return fn(out.Body)
}

// Put implements Storage with a single PutObject, which S3 applies atomically.
func (s *S3) Put(ctx context.Context, key string, r io.ReadSeeker, size int64) error {
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        &s.bucket,
		Key:           aws.String(s.prefix + key),
		Body:          r,
		ContentLength: aws.Int64(size),
	})
	if err != nil {
		return fmt.Errorf("put %s%s: %w", s, key, describe(err))
	}
	return nil
}

// Delete implements Storage with DeleteObject (which succeeds for a missing key).
func (s *S3) Delete(ctx context.Context, key string) error {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: aws.String(s.prefix + key)})
	if err != nil {
		return fmt.Errorf("delete %s%s: %w", s, key, describe(err))
	}
	return nil
}

// describe maps S3's error codes onto this package's errors and keeps the rest readable:
// the SDK's own messages carry request ids and retry counts that say little to an operator.
func describe(err error) error {
	var nsk *types.NoSuchKey
	var ios *types.InvalidObjectState
	var api smithy.APIError
	switch {
	case errors.As(err, &nsk):
		return fmt.Errorf("%w (NoSuchKey)", ErrNotExist)
	case errors.As(err, &ios):
		return fmt.Errorf("%w (%s)", ErrArchived, ios.StorageClass)
	case errors.As(err, &api):
		switch api.ErrorCode() {
		case "NoSuchBucket":
			return fmt.Errorf("no such bucket: %w", err)
		case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken":
			return fmt.Errorf("access denied (%s): %w", api.ErrorCode(), err)
		}
	}
	return err
}
