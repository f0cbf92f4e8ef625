// Package s3test connects tests to the real S3-compatible server that scripts/test.sh starts
// (versitygw on 127.0.0.1). Tests reach it through the same aws-sdk-go-v2 code path users
// run: no fakes. Without the server, S3 tests skip; under CI=true they fail instead, so a
// CI run can never pass by skipping them.
package s3test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/marketrail/marketrail/pkg/storage"
)

// The variables scripts/test.sh sets for the server it started.
const (
	EnvEndpoint  = "MARKETRAIL_TEST_S3_ENDPOINT"
	EnvAccessKey = "MARKETRAIL_TEST_S3_ACCESS_KEY"
	EnvSecretKey = "MARKETRAIL_TEST_S3_SECRET_KEY"
)

// Server describes the running test server.
type Server struct {
	Endpoint, AccessKey, SecretKey string
}

// Env returns the environment a marketrail process needs to reach the server, as a user
// would set it: standard AWS variables only.
func (s Server) Env() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + s.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + s.SecretKey,
		"AWS_REGION=us-east-1",
		"AWS_ENDPOINT_URL_S3=" + s.Endpoint,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
	}
}

// Need returns the server, or skips the test when none is configured (failing it under CI).
func Need(t testing.TB) Server {
	t.Helper()
	s := Server{os.Getenv(EnvEndpoint), os.Getenv(EnvAccessKey), os.Getenv(EnvSecretKey)}
	if s.Endpoint == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set under CI=true: run the tests with scripts/test.sh", EnvEndpoint)
		}
		t.Skipf("no S3 test server (%s unset): run scripts/test.sh", EnvEndpoint)
	}
	return s
}

// Client returns an S3 client for the server, built by storage.NewS3Client from the
// standard AWS environment variables, as marketrail builds its own.
func Client(t testing.TB) (*s3.Client, Server) {
	t.Helper()
	s := Need(t)
	for _, kv := range s.Env() {
		for i := 0; i < len(kv); i++ {
			if kv[i] == '=' {
				t.Setenv(kv[:i], kv[i+1:])
				break
			}
		}
	}
	c, err := storage.NewS3Client(context.Background(), storage.S3Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c, s
}

// Bucket creates a new empty bucket with a random name and returns its name.
func Bucket(t testing.TB, c *s3.Client) string {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	name := "mt-test-" + hex.EncodeToString(b[:])
	if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	return name
}
