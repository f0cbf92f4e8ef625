package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
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
	// Conns is how many requests the caller keeps in flight at once: the client keeps as
	// many idle connections per host, so that each request reuses one instead of dialling
	// (and, with TLS, handshaking) anew. 0 means the SDK's default.
	Conns int
	// ResponseHeaderTimeout is how long one attempt of a request may wait for the response's
	// headers once the request is sent: an attempt that gets no answer in that time (no
	// response, no reset) fails with a timeout, which the client retries like a reset. 0
	// means DefaultResponseHeaderTimeout. A GetObject's body is covered by S3.StallTimeout.
	ResponseHeaderTimeout time.Duration
	// Logger, if set, gets a warning for each request the client retries: the operation, its
	// bucket and key, the attempt that failed and why.
	Logger *slog.Logger
}

// DefaultResponseHeaderTimeout is S3Options.ResponseHeaderTimeout's default. S3 answers in
// milliseconds, a ListObjectsV2 page or a PutObject of a large Parquet file in seconds; half a
// minute without even the headers of an answer is a request lost, not a slow one.
const DefaultResponseHeaderTimeout = 30 * time.Second

// CustomEndpoint reports whether S3 is reached through an endpoint of the user's
// (opts.Endpoint, AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL) rather than AWS's own: an
// S3-compatible server, addressed path-style, with no other AWS service beside it.
func (opts S3Options) CustomEndpoint() bool {
	return opts.Endpoint != "" || os.Getenv("AWS_ENDPOINT_URL_S3") != "" || os.Getenv("AWS_ENDPOINT_URL") != ""
}

// LoadAWSConfig loads the standard AWS configuration (profiles and shared files, AWS_REGION,
// the default credential chain) with opts' profile and region, for S3 and the other AWS
// clients marketrail uses. When no region is configured at all it uses us-east-1.
func LoadAWSConfig(ctx context.Context, opts S3Options) (aws.Config, error) {
	var load []func(*config.LoadOptions) error
	if opts.Profile != "" {
		load = append(load, config.WithSharedConfigProfile(opts.Profile))
	}
	if opts.Region != "" {
		load = append(load, config.WithRegion(opts.Region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, load...)
	var noProfile config.SharedConfigProfileNotExistError
	if errors.As(err, &noProfile) {
		return cfg, &oneLine{fmt.Sprintf("AWS profile %s is not in the shared config files (~/.aws/config, ~/.aws/credentials, or AWS_CONFIG_FILE/AWS_SHARED_CREDENTIALS_FILE): check AWS_PROFILE / --profile", noProfile.Profile), err}
	}
	if err != nil {
		return cfg, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	return cfg, nil
}

// NewS3Client builds an S3 client from the standard AWS configuration and opts. With a
// custom endpoint (opts.Endpoint, AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL) it uses path-style
// addressing, which S3-compatible servers expect. When no region is configured at all it
// uses us-east-1.
//
// The client retries failed requests itself, more patiently than the SDK's default (3
// attempts), in the SDK's standard retry mode: see newRetryer for what and why. Every attempt
// has a deadline for its response's headers (opts.ResponseHeaderTimeout), so a request that
// is never answered fails and is retried instead of hanging the run; with opts.Logger, each
// retry is logged.
// AWS_MAX_ATTEMPTS (max_attempts) and AWS_RETRY_MODE=adaptive (retry_mode) still apply when
// set.
func NewS3Client(ctx context.Context, opts S3Options) (*s3.Client, error) {
	cfg, err := LoadAWSConfig(ctx, opts)
	if err != nil {
		return nil, err
	}
	custom := opts.CustomEndpoint()
	headerTimeout := opts.ResponseHeaderTimeout
	if headerTimeout <= 0 {
		headerTimeout = DefaultResponseHeaderTimeout
	}
	cfg.HTTPClient = awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		if opts.Conns > 0 {
			t.MaxIdleConns = max(t.MaxIdleConns, opts.Conns)
			t.MaxIdleConnsPerHost = opts.Conns
		}
		t.ResponseHeaderTimeout = headerTimeout
	})
	retryer := newRetryer(cfg.RetryMode, cfg.RetryMaxAttempts)
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.Retryer = retryer
		if opts.Logger != nil {
			o.APIOptions = append(o.APIOptions, logRetries(opts.Logger, retryer))
		}
		if opts.Endpoint != "" {
			o.BaseEndpoint = aws.String(opts.Endpoint)
		}
		if custom {
			o.UsePathStyle = true
		}
	}), nil
}

// Retry settings of the S3 client (see newRetryer).
const (
	// S3MaxAttempts is how many times the client sends one request before giving up.
	S3MaxAttempts = 10
	// S3MaxBackoff caps the delay before one retry.
	S3MaxBackoff = 20 * time.Second
	// s3BaseBackoff is the unit of the backoff: the ceiling before the n-th retry is 2^n of it.
	s3BaseBackoff = 200 * time.Millisecond
)

// newRetryer is the S3 client's retry strategy for API calls (GetObject up to its response
// headers, ListObjectsV2, PutObject, DeleteObject):
//
//   - Up to S3MaxAttempts attempts (AWS_MAX_ATTEMPTS / max_attempts when set), retrying what
//     the SDK deems transient: 500, 502, 503 and 504 answers, throttling codes such as
//     SlowDown, RequestTimeout, and connection errors (reset, refused, timeouts) before the
//     response. A PutObject body is a ReadSeeker, so the SDK rewinds and resends it.
//   - Before the n-th retry, a delay drawn uniformly from [0, min(S3MaxBackoff, 200ms·2^n))
//     ("full jitter"), so workers retrying together spread out.
//   - No retry quota. The SDK's default circuit breaker refuses retries once some 100
//     attempts have failed without enough successes in between; a burst of 503 SlowDown at
//     high concurrency would then fail objects. Attempts stay bounded per request instead.
//
// Throttling slows the worker pool down rather than failing the run: a worker whose request
// is throttled sleeps its backoff before trying again, so the more S3 throttles, the fewer
// requests are in flight; and one request may wait up to a minute and a half in all (40 s on
// average) before its tenth attempt fails.
//
// The SDK's "adaptive" mode (a client-side token bucket that cuts the send rate on throttling
// answers) was tried, against versitygw through the tests' fault-injecting proxy, and is not
// the default: it works, but it measures the send rate in half-second buckets and never
// limits below 0.5 requests a second, so throttling early in a run (before a rate is
// measured) drops the whole client to about one request every two seconds. The fault test
// over the 46-file sample trail took 50 s instead of 3 s. Its retry quota is also never
// refilled by successes (aws/aws-sdk-go-v2#3550), which this strategy avoids by having none.
// AWS_RETRY_MODE=adaptive (retry_mode) still selects it, with the settings above.
func newRetryer(mode aws.RetryMode, maxAttempts int) aws.Retryer {
	if maxAttempts <= 0 {
		maxAttempts = S3MaxAttempts
	}
	std := func(o *retry.StandardOptions) {
		o.MaxAttempts = maxAttempts
		o.MaxBackoff = S3MaxBackoff
		o.Backoff = retry.BackoffDelayerFunc(func(attempt int, _ error) (time.Duration, error) {
			return jitter(attempt, s3BaseBackoff, S3MaxBackoff), nil
		})
		o.RateLimiter = ratelimit.None
	}
	if mode == aws.RetryModeAdaptive {
		return retry.NewAdaptiveMode(func(o *retry.AdaptiveModeOptions) {
			o.StandardOptions = append(o.StandardOptions, std)
		})
	}
	return retry.NewStandard(std)
}

// jitter returns a random delay in [0, min(ceiling, base·2^attempt)).
func jitter(attempt int, base, ceiling time.Duration) time.Duration {
	d := base
	for i := 0; i < attempt && d < ceiling; i++ {
		d *= 2
	}
	if d = min(d, ceiling); d <= 0 {
		return 0
	}
	return rand.N(d)
}

// S3 is a Storage over a bucket and an optional key prefix.
type S3 struct {
	client *s3.Client
	bucket string
	prefix string // "" or ending in '/'

	// StallTimeout is how long one read of an object's body may wait for data before Load
	// gives up on the connection: the read then fails with a [*ReadError] (wrapping
	// ErrStalled), which [WithRetry] retries. 0 means DefaultStallTimeout.
	StallTimeout time.Duration

	// ExpectedBucketOwner, when set, is the 12-digit AWS account id that must own the
	// bucket. Every request of the storage (ListObjectsV2, GetObject, PutObject,
	// DeleteObject, HeadObject) carries it
	// as x-amz-expected-bucket-owner, and S3 refuses it (403 AccessDenied) when another
	// account owns the bucket, so a bucket deleted and re-created by someone else under the
	// same name is never read from or written to.
	ExpectedBucketOwner string

	// SSE, when set, is the server-side encryption every PutObject asks for: AES256 (SSE-S3)
	// or aws:kms (SSE-KMS, with SSEKMSKeyID or else the account's default aws/s3 key).
	SSE         types.ServerSideEncryption
	SSEKMSKeyID string
}

// S3Option configures an S3 storage made by NewS3.
type S3Option func(*S3)

// WithExpectedBucketOwner makes every request of the storage carry the expected bucket
// owner (see S3.ExpectedBucketOwner). An empty account sets nothing.
func WithExpectedBucketOwner(account string) S3Option {
	return func(s *S3) { s.ExpectedBucketOwner = account }
}

// WithSSE makes every PutObject of the storage ask for server-side encryption mode
// ("AES256" or "aws:kms"), with the KMS key kmsKeyID for aws:kms ("" for the default key).
// An empty mode sets nothing.
func WithSSE(mode, kmsKeyID string) S3Option {
	return func(s *S3) { s.SSE, s.SSEKMSKeyID = types.ServerSideEncryption(mode), kmsKeyID }
}

// DefaultStallTimeout is S3.StallTimeout's default. A CloudTrail log file is a few
// megabytes at most, so a minute without one byte is a dead connection, not a slow one.
const DefaultStallTimeout = time.Minute

// NewS3 returns a Storage rooted at s3://bucket/prefix.
func NewS3(client *s3.Client, bucket, prefix string, opts ...S3Option) *S3 {
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	s := &S3{client: client, bucket: bucket, prefix: prefix}
	for _, o := range opts {
		o(s)
	}
	return s
}

// owner is the x-amz-expected-bucket-owner of every request: nil when none is expected.
func (s *S3) owner() *string {
	if s.ExpectedBucketOwner == "" {
		return nil
	}
	return aws.String(s.ExpectedBucketOwner)
}

// Bucket returns the bucket name.
func (s *S3) Bucket() string { return s.bucket }

func (s *S3) String() string { return "s3://" + s.bucket + "/" + s.prefix }

// List implements Storage with ListObjectsV2, one page (up to 1,000 keys) at a time.
func (s *S3) List(ctx context.Context, prefix string, delim bool) iter.Seq2[Entry, error] {
	return s.list(ctx, prefix, "", delim)
}

// ListAfter implements ListerAfter with ListObjectsV2's StartAfter.
func (s *S3) ListAfter(ctx context.Context, prefix, startAfter string) iter.Seq2[Entry, error] {
	return s.list(ctx, prefix, startAfter, false)
}

// list is List from the first key after after ("" for all).
func (s *S3) list(ctx context.Context, prefix, after string, delim bool) iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		in := &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: aws.String(s.prefix + prefix), ExpectedBucketOwner: s.owner()}
		if delim {
			in.Delimiter = aws.String("/")
		}
		if after != "" {
			in.StartAfter = aws.String(s.prefix + after)
		}
		pages := s3.NewListObjectsV2Paginator(s.client, in)
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if err != nil {
				yield(Entry{}, fmt.Errorf("list %s%s: %w", s, prefix, s.describe(err)))
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

// Load implements Storage with GetObject. The SDK retries the request itself (see
// newRetryer) until the response headers arrive. Past that point, any error reading the
// body (a connection reset, a body shorter than its Content-Length, a timeout, a read that
// waits StallTimeout for data) reaches fn as a [*ReadError], which wraps ErrBrokenRead: Load
// itself does not retry; [WithRetry] does.
func (s *S3) Load(ctx context.Context, key string, fn func(io.Reader) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: aws.String(s.prefix + key), ExpectedBucketOwner: s.owner()})
	if err != nil {
		return fmt.Errorf("get %s: %w", key, s.describe(err))
	}
	defer out.Body.Close()
	stall := s.StallTimeout
	if stall <= 0 {
		stall = DefaultStallTimeout
	}
	b := &s3Body{key: key, r: out.Body, ctx: ctx, stall: stall}
	b.timer = time.AfterFunc(stall, func() { cancel(ErrStalled) })
	b.timer.Stop()
	defer b.timer.Stop()
	if err := fn(b); err != nil {
		return err
	}
	// fn may stop short of the body's end (a gzip member's trailer read, the JSON closed):
	// read what is left, so that the connection goes back to the pool instead of being
	// closed and dialled (and, with TLS, handshaken) again for the next GET.
	io.Copy(io.Discard, io.LimitReader(b, maxDrain))
	return nil
}

// maxDrain is the most Load reads past what fn read to keep a connection for reuse.
const maxDrain = 256 << 10

// s3Body is a GetObject body that marks its read errors as [*ReadError] and gives up on a
// read that waits longer than stall for data, by cancelling the request's context.
type s3Body struct {
	key   string
	r     io.Reader
	ctx   context.Context // the request's; cancelled with ErrStalled by timer
	stall time.Duration
	timer *time.Timer
}

func (b *s3Body) Read(p []byte) (int, error) {
	b.timer.Reset(b.stall)
	n, err := b.r.Read(p)
	b.timer.Stop()
	if err != nil && err != io.EOF {
		if cause := context.Cause(b.ctx); errors.Is(cause, ErrStalled) {
			err = fmt.Errorf("%w after %v: %v", ErrStalled, b.stall, err)
		}
		err = &ReadError{Key: b.key, Err: err}
	}
	return n, err
}

// Put implements Storage with a single PutObject, which S3 applies atomically.
func (s *S3) Put(ctx context.Context, key string, r io.ReadSeeker, size int64) error {
	in := &s3.PutObjectInput{
		Bucket:               &s.bucket,
		Key:                  aws.String(s.prefix + key),
		Body:                 r,
		ContentLength:        aws.Int64(size),
		ExpectedBucketOwner:  s.owner(),
		ServerSideEncryption: s.SSE,
	}
	if s.SSE == types.ServerSideEncryptionAwsKms && s.SSEKMSKeyID != "" {
		in.SSEKMSKeyId = aws.String(s.SSEKMSKeyID)
	}
	_, err := s.client.PutObject(ctx, in)
	if err != nil {
		return fmt.Errorf("put %s%s: %w", s, key, s.describe(err))
	}
	return nil
}

// Delete implements Storage with DeleteObject (which succeeds for a missing key).
func (s *S3) Delete(ctx context.Context, key string) error {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: aws.String(s.prefix + key), ExpectedBucketOwner: s.owner()})
	if err != nil {
		return fmt.Errorf("delete %s%s: %w", s, key, s.describe(err))
	}
	return nil
}

// describe is describe for this storage's requests: with an expected bucket owner, S3's
// 403 AccessDenied (a bare 403 "Forbidden" to a HEAD, which has no body) is also its answer
// when another account owns the bucket, and the message says so first.
func (s *S3) describe(err error) error {
	var api smithy.APIError
	if s.ExpectedBucketOwner != "" && errors.As(err, &api) && (api.ErrorCode() == "AccessDenied" || api.ErrorCode() == "Forbidden") {
		return fmt.Errorf("access denied (%s): bucket %s is not owned by the expected account %s, or this identity may not access it: %w",
			api.ErrorCode(), s.bucket, s.ExpectedBucketOwner, err)
	}
	return describe(err)
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
		case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken":
			return fmt.Errorf("access denied (%s): %w", api.ErrorCode(), err)
		}
	}
	return err
}
