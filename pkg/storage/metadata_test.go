package storage_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/marketrail/marketrail/internal/s3test"
	"github.com/marketrail/marketrail/pkg/storage"
)

func TestLocalKeepsNoMetadata(t *testing.T) {
	l, err := storage.OpenLocal(t.TempDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, s := range []storage.Storage{l, storage.WithRetry(l, storage.RetryPolicy{})} {
		if storage.KeepsMetadata(s) {
			t.Errorf("%T keeps metadata", s)
		}
		if _, err := storage.LoadMetadata(context.Background(), s, "k"); !errors.Is(err, storage.ErrNoMetadata) {
			t.Errorf("%T: LoadMetadata error %v, want ErrNoMetadata", s, err)
		}
	}
}

// TestS3Metadata reads the user metadata CloudTrail puts on a digest (x-amz-meta-signature,
// x-amz-meta-signature-algorithm) through a bucket prefix, directly and through WithRetry.
func TestS3Metadata(t *testing.T) {
	c, _ := s3test.Client(t)
	bucket := s3test.Bucket(t, c)
	ctx := context.Background()
	_, err := c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String("pre/AWSLogs/d.json.gz"), Body: strings.NewReader("x"),
		Metadata: map[string]string{"signature": "0a1b", "signature-algorithm": "SHA256withRSA"},
	})
	if err != nil {
		t.Fatal(err)
	}
	s3s := storage.NewS3(c, bucket, "pre")
	for _, s := range []storage.Storage{s3s, storage.WithRetry(s3s, storage.RetryPolicy{})} {
		if !storage.KeepsMetadata(s) {
			t.Errorf("%T keeps no metadata", s)
		}
		md, err := storage.LoadMetadata(ctx, s, "AWSLogs/d.json.gz")
		if err != nil || md["signature"] != "0a1b" || md["signature-algorithm"] != "SHA256withRSA" {
			t.Errorf("%T: LoadMetadata = %v, %v", s, md, err)
		}
		if _, err := storage.LoadMetadata(ctx, s, "AWSLogs/none.json.gz"); !errors.Is(err, storage.ErrNotExist) {
			t.Errorf("%T: LoadMetadata of a missing key: %v, want ErrNotExist", s, err)
		}
	}
}
