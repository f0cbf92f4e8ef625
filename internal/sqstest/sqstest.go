// Package sqstest connects tests to the real SQS-compatible server that scripts/test.sh
// starts (goaws on 127.0.0.1), through aws-sdk-go-v2's SQS client as marketrail uses it.
// Without the server, SQS tests skip; under CI=true they fail instead.
package sqstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// EnvEndpoint is the variable scripts/test.sh sets to the server's URL.
const EnvEndpoint = "MARKETRAIL_TEST_SQS_ENDPOINT"

// Need returns the server's endpoint, or skips the test when none is configured (failing it
// under CI).
func Need(t testing.TB) string {
	t.Helper()
	e := os.Getenv(EnvEndpoint)
	if e == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set under CI=true: run the tests with scripts/test.sh", EnvEndpoint)
		}
		t.Skipf("no SQS test server (%s unset): run scripts/test.sh", EnvEndpoint)
	}
	return e
}

// Client returns an SQS client for the server (goaws accepts any credentials).
func Client(t testing.TB) (*sqs.Client, string) {
	t.Helper()
	e := Need(t)
	c := sqs.New(sqs.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(e),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
	return c, e
}

// Queue creates a new queue with a random name and returns its URL.
func Queue(t testing.TB, c *sqs.Client) string {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	out, err := c.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String("mt-test-" + hex.EncodeToString(b[:]))})
	if err != nil {
		t.Fatalf("create queue: %v", err)
	}
	return aws.ToString(out.QueueUrl)
}

// Send sends each body to the queue, one message each.
func Send(t testing.TB, c *sqs.Client, url string, bodies ...string) {
	t.Helper()
	for _, b := range bodies {
		if _, err := c.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String(b)}); err != nil {
			t.Fatalf("send a message to %s: %v", url, err)
		}
	}
}

// Depth returns how many messages the queue holds: visible ones and those being worked on.
// goaws counts both in ApproximateNumberOfMessages (SQS counts the visible ones there, the
// others in ApproximateNumberOfMessagesNotVisible): the larger of the two is right for both.
func Depth(t testing.TB, c *sqs.Client, url string) int {
	t.Helper()
	out, err := c.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: &url,
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		t.Fatalf("queue attributes of %s: %v", url, err)
	}
	var n [2]int
	for i, k := range []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible} {
		v, err := strconv.Atoi(out.Attributes[string(k)])
		if err != nil {
			t.Fatalf("queue attribute %s of %s: %q", k, url, out.Attributes[string(k)])
		}
		n[i] = v
	}
	return max(n[0], n[1])
}
