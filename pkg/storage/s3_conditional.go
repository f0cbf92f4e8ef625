package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// Get implements Conditional with GetObject; Version.Now is the response's Date header.
func (s *S3) Get(ctx context.Context, key string) ([]byte, Version, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: aws.String(s.prefix + key), ExpectedBucketOwner: s.owner()})
	if err != nil {
		return nil, Version{}, fmt.Errorf("get %s%s: %w", s, key, s.describeConditional(err))
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, Version{}, fmt.Errorf("get %s%s: %w", s, key, &ReadError{Key: key, Err: err})
	}
	v := Version{ETag: strings.Trim(aws.ToString(out.ETag), `"`), Modified: aws.ToTime(out.LastModified)}
	if now, ok := awsmiddleware.GetServerTime(out.ResultMetadata); ok {
		v.Now = now
	} else {
		return nil, Version{}, fmt.Errorf("get %s%s: the response has no Date header: the object's age cannot be judged on the store's clock", s, key)
	}
	return b, v, nil
}

// PutIf implements Conditional with PutObject and If-None-Match: * (match MatchNone) or
// If-Match: "match". A 412 is checked by reading the object back: the SDK retries a
// request whose answer was lost, and when its first attempt had written body the retry's
// 412 is about this writer's own object.
func (s *S3) PutIf(ctx context.Context, key string, body []byte, match string) (string, error) {
	in := &s3.PutObjectInput{
		Bucket:               &s.bucket,
		Key:                  aws.String(s.prefix + key),
		Body:                 bytes.NewReader(body),
		ContentLength:        aws.Int64(int64(len(body))),
		ContentType:          aws.String("application/json"),
		ExpectedBucketOwner:  s.owner(),
		ServerSideEncryption: s.SSE,
	}
	if s.SSE == types.ServerSideEncryptionAwsKms && s.SSEKMSKeyID != "" {
		in.SSEKMSKeyId = aws.String(s.SSEKMSKeyID)
	}
	if match == MatchNone {
		in.IfNoneMatch = aws.String("*")
	} else {
		in.IfMatch = aws.String(`"` + match + `"`)
	}
	out, err := s.client.PutObject(ctx, in)
	if err == nil {
		return strings.Trim(aws.ToString(out.ETag), `"`), nil
	}
	err = s.describeConditional(err)
	if errors.Is(err, ErrPreconditionFailed) || (match != MatchNone && errors.Is(err, ErrNotExist)) {
		if got, v, gerr := s.Get(ctx, key); gerr == nil && bytes.Equal(got, body) {
			return v.ETag, nil // an earlier attempt of this request wrote it
		}
	}
	return "", fmt.Errorf("put %s%s: %w", s, key, err)
}

// DeleteIf implements Conditional with DeleteObject and If-Match.
func (s *S3) DeleteIf(ctx context.Context, key, match string) error {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: aws.String(s.prefix + key),
		ExpectedBucketOwner: s.owner(), IfMatch: aws.String(`"` + match + `"`)})
	if err != nil {
		if err = s.describeConditional(err); errors.Is(err, ErrNotExist) {
			return nil
		}
		return fmt.Errorf("delete %s%s: %w", s, key, err)
	}
	return nil
}

// describeConditional is describe, with the answers of conditional requests: 412
// PreconditionFailed, 409 ConditionalRequestConflict, and 404 to a conditional request on a
// missing key.
func (s *S3) describeConditional(err error) error {
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "PreconditionFailed":
			return fmt.Errorf("%w (%s)", ErrPreconditionFailed, api.ErrorCode())
		case "ConditionalRequestConflict":
			return fmt.Errorf("%w (%s)", ErrConflict, api.ErrorCode())
		case "NoSuchKey", "NotFound":
			return fmt.Errorf("%w (%s)", ErrNotExist, api.ErrorCode())
		}
	}
	return s.describe(err)
}
