package storage

import (
	"context"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
)

// requestInfo is what the retry log says of one S3 call: kept in the call's context by the
// initialize step, counted by the attempt step.
type requestInfo struct {
	bucket, key string
	attempts    int
}

type requestInfoKey struct{}

// retryLogID names logRetries' attempt middleware in the stack.
const retryLogID = "marketrailRetryLog"

// logRetries returns a middleware stack option that logs every failed attempt of an S3 call
// that the client's retryer will try again: the operation, its bucket and key (or listing
// prefix), the attempt that failed (1-based) of how many, and the error. retryer must be the
// client's: it says whether an error will be retried. Without it a run
// whose requests are being retried — throttled, reset, unanswered — is silent until the
// last attempt fails.
func logRetries(log *slog.Logger, retryer aws.Retryer) func(*middleware.Stack) error {
	return func(st *middleware.Stack) error {
		err := st.Initialize.Add(middleware.InitializeMiddlewareFunc("marketrailRequestInfo",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				info := &requestInfo{}
				switch p := in.Parameters.(type) {
				case *s3.GetObjectInput:
					info.bucket, info.key = deref(p.Bucket), deref(p.Key)
				case *s3.PutObjectInput:
					info.bucket, info.key = deref(p.Bucket), deref(p.Key)
				case *s3.DeleteObjectInput:
					info.bucket, info.key = deref(p.Bucket), deref(p.Key)
				case *s3.HeadObjectInput:
					info.bucket, info.key = deref(p.Bucket), deref(p.Key)
				case *s3.ListObjectsV2Input:
					info.bucket, info.key = deref(p.Bucket), deref(p.Prefix)
				}
				return next.HandleInitialize(middleware.WithStackValue(ctx, requestInfoKey{}, info), in)
			}), middleware.Before)
		if err != nil {
			return err
		}
		// After the retry middleware: called once per attempt.
		return st.Finalize.Insert(middleware.FinalizeMiddlewareFunc(retryLogID,
			func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
				out, md, err := next.HandleFinalize(ctx, in)
				info, _ := middleware.GetStackValue(ctx, requestInfoKey{}).(*requestInfo)
				if info == nil {
					return out, md, err
				}
				info.attempts++
				if err == nil || ctx.Err() != nil {
					return out, md, err
				}
				if !retryer.IsErrorRetryable(err) || info.attempts >= retryer.MaxAttempts() {
					return out, md, err // the call fails with this error: its caller says so
				}
				log.Warn("S3 request failed: retrying", "operation", awsmiddleware.GetOperationName(ctx),
					"bucket", info.bucket, "key", info.key, "attempt", info.attempts, "max_attempts", retryer.MaxAttempts(),
					"error", describe(err).Error())
				return out, md, err
			}), "Retry", middleware.After)
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
