package storage

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// MetadataLoader is implemented by a Storage that keeps user metadata with its objects: S3
// (x-amz-meta-* headers). A local folder has none: `aws s3 sync` does not copy it.
type MetadataLoader interface {
	// LoadMetadata returns key's user metadata, by name without the x-amz-meta- prefix, in
	// lower case (S3 gives x-amz-meta-signature as "signature"). A missing key gives an
	// error wrapping ErrNotExist; a storage that keeps no metadata, ErrNoMetadata.
	LoadMetadata(ctx context.Context, key string) (map[string]string, error)
}

// ErrNoMetadata is returned by LoadMetadata for a storage that keeps no user metadata.
var ErrNoMetadata = errors.New("this storage keeps no object metadata")

// LoadMetadata returns key's user metadata from s, or an error wrapping ErrNoMetadata when s
// keeps none (see MetadataLoader).
func LoadMetadata(ctx context.Context, s Storage, key string) (map[string]string, error) {
	if m, ok := s.(MetadataLoader); ok {
		return m.LoadMetadata(ctx, key)
	}
	return nil, fmt.Errorf("%s: %w", s, ErrNoMetadata)
}

// LoadMetadata implements MetadataLoader with HeadObject.
func (s *S3) LoadMetadata(ctx context.Context, key string) (map[string]string, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: aws.String(s.prefix + key), ExpectedBucketOwner: s.owner()})
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("head %s: %w", key, ErrNotExist)
		}
		return nil, fmt.Errorf("head %s: %w", key, s.describe(err))
	}
	if out.Metadata == nil {
		return map[string]string{}, nil
	}
	return out.Metadata, nil
}

// isNotFound reports whether err is HeadObject's answer for a missing key: a bare 404
// (HEAD has no body, so no NoSuchKey code) that the SDK reports as *types.NotFound.
func isNotFound(err error) bool {
	var code interface{ ErrorCode() string }
	return errors.As(err, &code) && (code.ErrorCode() == "NotFound" || code.ErrorCode() == "NoSuchKey")
}

// LoadMetadata implements MetadataLoader by passing through to the wrapped storage.
func (r *retrying) LoadMetadata(ctx context.Context, key string) (map[string]string, error) {
	return LoadMetadata(ctx, r.inner, key)
}

// KeepsMetadata reports whether s keeps user metadata with its objects (S3, also behind
// WithRetry), as opposed to a local folder.
func KeepsMetadata(s Storage) bool {
	if r, ok := s.(*retrying); ok {
		return KeepsMetadata(r.inner)
	}
	_, ok := s.(MetadataLoader)
	return ok
}
