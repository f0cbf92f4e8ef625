package storage

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
)

// PreflightRetryDelay is how long Preflight waits before its one retry of a refused
// connection or a failed DNS lookup: a pod's network and DNS are often not ready in its
// first second.
const PreflightRetryDelay = time.Second

// CheckCredentials makes sure the client has AWS credentials before any work starts. Its
// error is one line that names the fix; profile is the profile in use ("" for none), which
// it names. The SDK's own message ("failed to refresh cached credentials, no EC2 IMDS role
// found, …") is in the error's chain, not in its text.
func CheckCredentials(ctx context.Context, c *s3.Client, profile string) error {
	creds := c.Options().Credentials
	if creds == nil {
		return errors.New("no AWS credentials found; set AWS_PROFILE, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run with a role (EC2 instance profile, ECS task role, EKS service account)")
	}
	if _, err := creds.Retrieve(ctx); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("get AWS credentials: %w", ctx.Err())
		}
		if profile == "" {
			profile = os.Getenv("AWS_PROFILE")
		}
		if profile != "" {
			return &oneLine{fmt.Sprintf("cannot get the AWS credentials of profile %s (expired SSO session? run 'aws sso login --profile %s'; else check the profile in ~/.aws/config)", profile, profile), err}
		}
		return &oneLine{"no AWS credentials found; set AWS_PROFILE, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run with a role (EC2 instance profile, ECS task role, EKS service account)", err}
	}
	return nil
}

// oneLine is an error whose text is a short message for a person, and that wraps the
// detailed error behind it.
type oneLine struct {
	msg string
	err error
}

func (e *oneLine) Error() string { return e.msg }
func (e *oneLine) Unwrap() error { return e.err }

// Preflight checks, with one ListObjectsV2 of at most one key, that s's bucket can be
// reached and listed, before any work starts. A refused connection or a failed DNS lookup
// is tried once more after PreflightRetryDelay, and nothing else is retried: a missing or
// misconfigured endpoint fails in a second or two instead of after the client's ten
// attempts with backoff (later requests keep those). what names the location for the
// person ("--source", "--dest"). Its error is one line that says what is wrong and how to
// fix it: an endpoint that cannot be reached or resolved, no such bucket, access denied,
// credentials refused, a bucket in another region.
func (s *S3) Preflight(ctx context.Context, what string) error {
	std := retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = 2
		o.RateLimiter = ratelimit.None
		o.Retryables = []retry.IsErrorRetryable{retry.IsErrorRetryableFunc(func(err error) aws.Ternary {
			return aws.BoolTernary(isDialError(err))
		})}
		o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return PreflightRetryDelay, nil })
	})
	_, err := s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{
		Bucket: &s.bucket, Prefix: aws.String(s.prefix), MaxKeys: aws.Int32(1), ExpectedBucketOwner: s.owner(),
	}, func(o *s3.Options) {
		o.Retryer = std
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			st.Finalize.Remove(retryLogID) // its retries are not the client's
			return nil
		})
	})
	if err == nil {
		return nil
	}
	return s.preflightError(ctx, what, err)
}

// isDialError reports whether err is a refused connection or a failed DNS lookup.
func isDialError(err error) bool {
	var dns *net.DNSError
	return errors.Is(err, syscall.ECONNREFUSED) || errors.As(err, &dns)
}

// preflightError turns Preflight's error into one line that names the fix.
func (s *S3) preflightError(ctx context.Context, what string, err error) error {
	loc := fmt.Sprintf("%s (%s)", s, what)
	if ctx.Err() != nil {
		return fmt.Errorf("check %s: %w", loc, ctx.Err())
	}
	base := s.client.Options().BaseEndpoint
	endpoint := "(AWS)"
	if base != nil {
		endpoint = *base
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			endpoint = u.Scheme + "://" + u.Host
		}
	}
	fix := "check --endpoint-url / AWS_ENDPOINT_URL_S3"
	if base == nil {
		fix = "check --region / AWS_REGION and the network's access to AWS"
	}
	var dns *net.DNSError
	var api smithy.APIError
	var netErr net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return &oneLine{fmt.Sprintf("cannot reach S3 endpoint %s: connection refused — %s", endpoint, fix), err}
	case errors.As(err, &dns):
		return &oneLine{fmt.Sprintf("cannot reach S3 endpoint %s: DNS cannot resolve %s (%s) — %s, and DNS", endpoint, dns.Name, dnsReason(dns), fix), err}
	case errors.As(err, &api):
		switch api.ErrorCode() {
		case "NoSuchBucket":
			return &oneLine{fmt.Sprintf("no such bucket: %s: check the bucket name in %s", s.bucket, what), err}
		case "AccessDenied", "Forbidden", "AllAccessDisabled":
			if s.ExpectedBucketOwner != "" {
				return s.describe(err)
			}
			return &oneLine{fmt.Sprintf("access denied to %s: this identity may not list it (s3:ListBucket) — check the IAM policy of the role or user, and the bucket policy", loc), err}
		case "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "InvalidClientTokenId",
			"XAdminUserNotFound": // versitygw's InvalidAccessKeyId
			return &oneLine{fmt.Sprintf("S3 refused the AWS credentials (%s) for %s: check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the profile's keys", api.ErrorCode(), loc), err}
		case "ExpiredToken", "TokenRefreshRequired":
			return &oneLine{fmt.Sprintf("the AWS credentials have expired (%s): refresh them (aws sso login, a new role session)", api.ErrorCode()), err}
		case "PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException":
			return &oneLine{fmt.Sprintf("bucket %s is in another region than the client's (%s): set --region / AWS_REGION to the bucket's region", s.bucket, api.ErrorCode()), err}
		}
		return fmt.Errorf("check %s: %w", loc, describe(err))
	case errors.As(err, &netErr) && netErr.Timeout():
		return &oneLine{fmt.Sprintf("S3 endpoint %s did not answer %s in time (%v) — %s", endpoint, loc, err, fix), err}
	case errors.As(err, &ue):
		return &oneLine{fmt.Sprintf("cannot reach S3 endpoint %s: %v — %s", endpoint, ue.Err, fix), err}
	}
	return fmt.Errorf("check %s: %w", loc, describe(err))
}

func dnsReason(e *net.DNSError) string {
	if e.IsNotFound {
		return "no such host"
	}
	if e.Err != "" {
		return e.Err
	}
	return "lookup failed"
}
