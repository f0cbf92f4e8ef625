package queue

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Limits of the SQS API itself.
const (
	// MaxBatch is the most messages one ReceiveMessage, DeleteMessageBatch or
	// ChangeMessageVisibilityBatch call takes.
	MaxBatch = 10
	// MaxWait is the longest long poll: ReceiveMessage's WaitTimeSeconds.
	MaxWait = 20 * time.Second
	// MaxVisibility is the longest visibility timeout (12 hours).
	MaxVisibility = 12 * time.Hour
)

// CheckRetryDelay is how long Check waits before its one retry of a refused connection or a
// failed DNS lookup.
const CheckRetryDelay = 500 * time.Millisecond

// Message is one message received from the queue.
type Message struct {
	// ID is the message's id (MessageId), the same on every delivery.
	ID string
	// ReceiptHandle identifies this delivery: Delete and Extend need it, and it changes
	// with every delivery.
	ReceiptHandle string
	Body          []byte
	// ReceiveCount is SQS's ApproximateReceiveCount: 1 on the first delivery, more on a
	// redelivery (see the package documentation for goaws). 0 when the server did not
	// report it.
	ReceiveCount int
	// SentAt is SQS's SentTimestamp, when the message was sent (see the package
	// documentation for goaws). Zero when the server did not report it.
	SentAt time.Time
}

// Queue is one SQS queue, named by its URL. Its methods are safe for concurrent use.
type Queue struct {
	client *sqs.Client
	url    string
	creds  aws.CredentialsProvider
	// noVisibilityBatch is set once the server has answered ChangeMessageVisibilityBatch as
	// an operation it does not know (goaws); Extend then makes one ChangeMessageVisibility
	// call per message.
	noVisibilityBatch atomic.Bool
}

// New returns the queue at url, reached with cfg (load it with storage.LoadAWSConfig, which
// honours profiles, AWS_REGION and roles). The SQS endpoint is the SDK's standard one: the
// region's, or AWS_ENDPOINT_URL_SQS / AWS_ENDPOINT_URL / endpoint_url in the profile /
// cfg.BaseEndpoint when set. The queue URL names the queue; requests go to the endpoint.
func New(cfg aws.Config, url string) *Queue {
	return &Queue{client: sqs.NewFromConfig(cfg), url: url, creds: cfg.Credentials}
}

// URL returns the queue's URL.
func (q *Queue) URL() string { return q.url }

// String returns the queue's URL, for messages.
func (q *Queue) String() string { return q.url }

// Check reads the queue's attributes (GetQueueAttributes) to find out, before any work
// starts, whether the queue can be used. A refused connection or a failed DNS lookup is tried
// once more after CheckRetryDelay, and nothing else is retried. Its error is one line that
// names the queue, says what is wrong and how to fix it: no credentials, an endpoint that
// cannot be reached, no such queue, access denied, credentials refused; it wraps the
// underlying error.
func (q *Queue) Check(ctx context.Context) error {
	if q.creds == nil {
		return &oneLine{fmt.Sprintf("queue %s: no AWS credentials are configured: set AWS_PROFILE (or --profile), AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run where a role is available", q.url), errNoCredentials}
	}
	if _, err := q.creds.Retrieve(ctx); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("check queue %s: %w", q.url, ctx.Err())
		}
		return &oneLine{fmt.Sprintf("queue %s: no AWS credentials found (%s): set AWS_PROFILE (or --profile), AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run where a role is available", q.url, firstLine(err)), err}
	}
	std := retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = 2
		o.RateLimiter = ratelimit.None
		o.Retryables = []retry.IsErrorRetryable{retry.IsErrorRetryableFunc(func(err error) aws.Ternary {
			return aws.BoolTernary(isDialError(err))
		})}
		o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return CheckRetryDelay, nil })
	})
	_, err := q.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       &q.url,
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
	}, func(o *sqs.Options) { o.Retryer = std })
	if err == nil {
		return nil
	}
	return q.checkError(ctx, err)
}

var errNoCredentials = errors.New("no credentials provider")

// checkError turns Check's error into one line that names the fix.
func (q *Queue) checkError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("check queue %s: %w", q.url, ctx.Err())
	}
	endpoint := "the region's SQS endpoint"
	if base := q.client.Options().BaseEndpoint; base != nil {
		endpoint = *base
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			endpoint = u.Scheme + "://" + u.Host
		}
	}
	const fixEndpoint = "check AWS_ENDPOINT_URL_SQS / AWS_ENDPOINT_URL (unset for AWS itself), AWS_REGION and the network"
	var dns *net.DNSError
	var send *smithyhttp.RequestSendError
	var missing *types.QueueDoesNotExist
	var api smithy.APIError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return &oneLine{fmt.Sprintf("queue %s: cannot reach SQS endpoint %s: connection refused: %s", q.url, endpoint, fixEndpoint), err}
	case errors.As(err, &dns):
		return &oneLine{fmt.Sprintf("queue %s: cannot reach SQS endpoint %s: DNS cannot resolve %s: %s", q.url, endpoint, dns.Name, fixEndpoint), err}
	case errors.As(err, &send):
		return &oneLine{fmt.Sprintf("queue %s: cannot reach SQS endpoint %s (%s): %s", q.url, endpoint, firstLine(send.Err), fixEndpoint), err}
	case errors.As(err, &missing), isCode(err, "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue"):
		return &oneLine{fmt.Sprintf("no such queue: %s (at %s): check the queue URL (aws sqs get-queue-url --queue-name NAME) and that AWS_REGION and the account are the queue's", q.url, endpoint), err}
	case errors.As(err, &api):
		code := api.ErrorCode()
		switch {
		case strings.Contains(code, "AccessDenied") || code == "KMS.AccessDeniedException":
			return &oneLine{fmt.Sprintf("access denied to queue %s (%s): this identity may not read it: allow sqs:GetQueueAttributes, sqs:ReceiveMessage, sqs:DeleteMessage and sqs:ChangeMessageVisibility on the queue (the IAM policy of the role or user, or the queue's access policy)", q.url, code), err}
		case code == "InvalidClientTokenId" || code == "SignatureDoesNotMatch" || code == "InvalidAccessKeyId" ||
			code == "UnrecognizedClientException" || code == "IncompleteSignature" || code == "MissingAuthenticationToken":
			return &oneLine{fmt.Sprintf("SQS refused the AWS credentials (%s) for queue %s: check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the profile's keys", code, q.url), err}
		case code == "ExpiredToken" || code == "ExpiredTokenException" || code == "RequestExpired":
			return &oneLine{fmt.Sprintf("the AWS credentials have expired (%s) for queue %s: refresh them (aws sso login, a new role session)", code, q.url), err}
		}
		if strings.Contains(code, "InvalidParameterValue") && q.confirmMissing(ctx) {
			// goaws answers GetQueueAttributes of a missing queue so; GetQueueUrl says which.
			return &oneLine{fmt.Sprintf("no such queue: %s (at %s): check the queue URL (aws sqs get-queue-url --queue-name NAME) and that AWS_REGION and the account are the queue's", q.url, endpoint), err}
		}
		return &oneLine{fmt.Sprintf("queue %s: SQS refused GetQueueAttributes: %s: %s: check the queue URL and the identity's access", q.url, code, api.ErrorMessage()), err}
	}
	return &oneLine{fmt.Sprintf("queue %s: %s: check the queue URL, the endpoint (%s) and the network", q.url, firstLine(err), endpoint), err}
}

// confirmMissing reports whether GetQueueUrl, asked for the queue named by the URL's last
// path segment (and its account, the segment before), answers that no such queue exists.
func (q *Queue) confirmMissing(ctx context.Context) bool {
	u, err := url.Parse(q.url)
	if err != nil {
		return false
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) != 2 || parts[1] == "" {
		return false
	}
	in := &sqs.GetQueueUrlInput{QueueName: aws.String(parts[1])}
	if parts[0] != "" {
		in.QueueOwnerAWSAccountId = aws.String(parts[0])
	}
	_, err = q.client.GetQueueUrl(ctx, in, func(o *sqs.Options) { o.RetryMaxAttempts = 1 })
	var missing *types.QueueDoesNotExist
	return errors.As(err, &missing) || isCode(err, "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue")
}

// Receive takes up to max messages (1 to MaxBatch) from the queue, waiting up to wait
// (at most MaxWait; 0 does not wait) for the first one to arrive: a long poll, which may
// still return fewer messages than are in the queue, or none. The messages stay invisible to
// other receivers for visibility (0: the queue's own VisibilityTimeout); Delete them once
// done, or Extend them to keep them. wait and visibility are rounded up to whole seconds.
func (q *Queue) Receive(ctx context.Context, max int, wait, visibility time.Duration) ([]Message, error) {
	if max < 1 || max > MaxBatch {
		return nil, fmt.Errorf("receive from queue %s: max %d is outside 1..%d", q.url, max, MaxBatch)
	}
	if wait < 0 || wait > MaxWait {
		return nil, fmt.Errorf("receive from queue %s: wait %s is outside 0..%s", q.url, wait, MaxWait)
	}
	if visibility < 0 || visibility > MaxVisibility {
		return nil, fmt.Errorf("receive from queue %s: visibility %s is outside 0..%s", q.url, visibility, MaxVisibility)
	}
	out, err := q.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:            &q.url,
		MaxNumberOfMessages: int32(max),
		WaitTimeSeconds:     seconds(wait),
		VisibilityTimeout:   seconds(visibility),
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{
			types.MessageSystemAttributeNameApproximateReceiveCount,
			types.MessageSystemAttributeNameSentTimestamp,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("receive from queue %s: %w", q.url, err)
	}
	msgs := make([]Message, 0, len(out.Messages))
	for _, m := range out.Messages {
		msg := Message{ID: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle), Body: []byte(aws.ToString(m.Body))}
		if v, ok := m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)]; ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, fmt.Errorf("receive from queue %s: message %s: ApproximateReceiveCount %q: %w", q.url, msg.ID, v, err)
			}
			msg.ReceiveCount = n
		}
		if v, ok := m.Attributes[string(types.MessageSystemAttributeNameSentTimestamp)]; ok {
			ms, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("receive from queue %s: message %s: SentTimestamp %q: %w", q.url, msg.ID, v, err)
			}
			msg.SentAt = time.UnixMilli(ms).UTC()
		}
		msgs = append(msgs, msg)
	}
	return msgs, nil
}

// Delete removes msgs from the queue (DeleteMessageBatch, MaxBatch at a time). When some are
// not deleted it returns a *BatchError listing each of them with the server's reason; a
// request that fails as a whole stops Delete, and its messages and all later ones are
// listed with that error, which the BatchError wraps.
func (q *Queue) Delete(ctx context.Context, msgs ...Message) error {
	be := &BatchError{Op: "delete", Queue: q.url, Total: len(msgs)}
	for start := 0; start < len(msgs); start += MaxBatch {
		batch := msgs[start:min(start+MaxBatch, len(msgs))]
		entries := make([]types.DeleteMessageBatchRequestEntry, len(batch))
		for i, m := range batch {
			entries[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(m.ReceiptHandle)}
		}
		out, err := q.client.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: &q.url, Entries: entries})
		if err != nil {
			be.abort(err, msgs[start:])
			break
		}
		for _, f := range out.Failed {
			be.entryFailed(batch, f.Id, f.Code, f.Message, f.SenderFault)
		}
		if n := len(out.Failed) + len(out.Successful); n != len(batch) {
			// A server that answers for fewer entries than it was sent leaves the others'
			// fate unknown: they are not known to be deleted.
			be.unanswered(batch, out.Failed, out.Successful)
		}
	}
	return be.orNil()
}

// Extend sets msgs' visibility timeout to visibility from now (ChangeMessageVisibilityBatch,
// MaxBatch at a time), so that they stay invisible to other receivers while they are worked
// on; 0 makes them visible again at once. visibility is rounded up to whole seconds. Errors
// are reported as Delete's are. A server that does not know ChangeMessageVisibilityBatch
// (goaws) is asked with one ChangeMessageVisibility per message instead, from then on.
func (q *Queue) Extend(ctx context.Context, visibility time.Duration, msgs ...Message) error {
	if visibility < 0 || visibility > MaxVisibility {
		return fmt.Errorf("extend messages of queue %s: visibility %s is outside 0..%s", q.url, visibility, MaxVisibility)
	}
	secs := seconds(visibility)
	be := &BatchError{Op: "extend", Queue: q.url, Total: len(msgs)}
	for start := 0; start < len(msgs); start += MaxBatch {
		batch := msgs[start:min(start+MaxBatch, len(msgs))]
		if q.noVisibilityBatch.Load() {
			if !q.extendOneByOne(ctx, be, secs, msgs[start:], batch) {
				break
			}
			continue
		}
		entries := make([]types.ChangeMessageVisibilityBatchRequestEntry, len(batch))
		for i, m := range batch {
			entries[i] = types.ChangeMessageVisibilityBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(m.ReceiptHandle), VisibilityTimeout: secs}
		}
		out, err := q.client.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: &q.url, Entries: entries})
		if err != nil && isUnknownOperation(err) {
			q.noVisibilityBatch.Store(true)
			if !q.extendOneByOne(ctx, be, secs, msgs[start:], batch) {
				break
			}
			continue
		}
		if err != nil {
			be.abort(err, msgs[start:])
			break
		}
		for _, f := range out.Failed {
			be.entryFailed(batch, f.Id, f.Code, f.Message, f.SenderFault)
		}
		if n := len(out.Failed) + len(out.Successful); n != len(batch) {
			succeeded := make([]string, 0, len(out.Successful))
			for _, s := range out.Successful {
				succeeded = append(succeeded, aws.ToString(s.Id))
			}
			be.unansweredIDs(batch, out.Failed, succeeded)
		}
	}
	return be.orNil()
}

// extendOneByOne changes the visibility of batch's messages with one call each. An API error
// fails that message; any other error (the endpoint, the context) stops the work: rest,
// which starts with batch, is then failed with it, and extendOneByOne returns false.
func (q *Queue) extendOneByOne(ctx context.Context, be *BatchError, secs int32, rest, batch []Message) bool {
	for i, m := range batch {
		_, err := q.client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
			QueueUrl: &q.url, ReceiptHandle: aws.String(m.ReceiptHandle), VisibilityTimeout: secs,
		})
		if err == nil {
			continue
		}
		var api smithy.APIError
		if errors.As(err, &api) {
			be.Failed = append(be.Failed, Failure{ID: m.ID, Code: api.ErrorCode(), Reason: api.ErrorMessage(), SenderFault: api.ErrorFault() == smithy.FaultClient})
			continue
		}
		be.abort(err, rest[i:])
		return false
	}
	return true
}

// isUnknownOperation reports whether err says that the server does not implement the
// operation: an UnknownOperation/InvalidAction error, or (goaws) an HTTP 400 answer whose
// body is not an AWS error at all (goaws answers an action it lacks with 400 "Bad Request").
func isUnknownOperation(err error) bool {
	if isCode(err, "UnknownOperationException", "UnknownOperation", "InvalidAction", "AWS.SimpleQueueService.UnsupportedOperation", "UnsupportedOperation") {
		return true
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		return false
	}
	var resp *smithyhttp.ResponseError
	if !errors.As(err, &resp) || resp.HTTPStatusCode() != 400 {
		return false
	}
	var de *smithy.DeserializationError
	return errors.As(err, &de)
}

// Failure is one message that a batch operation did not apply to.
type Failure struct {
	// ID is the message's id (Message.ID).
	ID string
	// Code and Reason are the server's error code and message for the entry; Code is empty
	// when the whole request failed (see BatchError.Err).
	Code, Reason string
	// SenderFault is the server's word that the request, not the server, was at fault.
	SenderFault bool
}

// BatchError reports the messages that Delete or Extend did not apply to.
type BatchError struct {
	Op    string // "delete" or "extend"
	Queue string // the queue URL
	Total int    // how many messages the call was given
	// Failed lists every message not known to have been deleted (or extended), in order.
	Failed []Failure
	// Err is the error of a request that failed as a whole, which stopped the work; nil
	// when every request was answered.
	Err error
}

func (e *BatchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %d of %d messages of queue %s failed", e.Op, len(e.Failed), e.Total, e.Queue)
	const show = 5
	for i, f := range e.Failed {
		if i == show {
			fmt.Fprintf(&b, "; and %d more", len(e.Failed)-show)
			break
		}
		sep := ", "
		if i == 0 {
			sep = ": "
		}
		if f.Code != "" {
			fmt.Fprintf(&b, "%smessage %s (%s: %s)", sep, f.ID, f.Code, f.Reason)
		} else {
			fmt.Fprintf(&b, "%smessage %s", sep, f.ID)
		}
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

func (e *BatchError) Unwrap() error { return e.Err }

func (e *BatchError) orNil() error {
	if len(e.Failed) == 0 && e.Err == nil {
		return nil
	}
	return e
}

// abort records err, a failed request, for rest: the messages it and later requests carried.
func (e *BatchError) abort(err error, rest []Message) {
	e.Err = err
	for _, m := range rest {
		e.Failed = append(e.Failed, Failure{ID: m.ID, Reason: firstLine(err)})
	}
}

// entryFailed records a batch entry's failure; id is the entry's index in batch.
func (e *BatchError) entryFailed(batch []Message, id, code, reason *string, senderFault bool) {
	f := Failure{ID: aws.ToString(id), Code: aws.ToString(code), Reason: aws.ToString(reason), SenderFault: senderFault}
	if i, err := strconv.Atoi(f.ID); err == nil && i >= 0 && i < len(batch) {
		f.ID = batch[i].ID
	} else {
		f.ID = "(unknown entry " + f.ID + ")"
	}
	e.Failed = append(e.Failed, f)
}

// unanswered records the messages of batch that the answer listed neither as failed nor as
// successful.
func (e *BatchError) unanswered(batch []Message, failed []types.BatchResultErrorEntry, ok []types.DeleteMessageBatchResultEntry) {
	ids := make([]string, 0, len(ok))
	for _, s := range ok {
		ids = append(ids, aws.ToString(s.Id))
	}
	e.unansweredIDs(batch, failed, ids)
}

func (e *BatchError) unansweredIDs(batch []Message, failed []types.BatchResultErrorEntry, ok []string) {
	seen := make(map[string]bool, len(batch))
	for _, f := range failed {
		seen[aws.ToString(f.Id)] = true
	}
	for _, id := range ok {
		seen[id] = true
	}
	for i, m := range batch {
		if !seen[strconv.Itoa(i)] {
			e.Failed = append(e.Failed, Failure{ID: m.ID, Reason: "the server's answer did not mention this message"})
		}
	}
}

// seconds rounds d up to whole seconds.
func seconds(d time.Duration) int32 {
	return int32(math.Ceil(d.Seconds()))
}

// isDialError reports whether err is a refused connection or a failed DNS lookup.
func isDialError(err error) bool {
	var dns *net.DNSError
	return errors.Is(err, syscall.ECONNREFUSED) || errors.As(err, &dns)
}

func isCode(err error, codes ...string) bool {
	var api smithy.APIError
	if !errors.As(err, &api) {
		return false
	}
	for _, c := range codes {
		if api.ErrorCode() == c {
			return true
		}
	}
	return false
}

func firstLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// oneLine is an error whose message is a complete sentence for the person running the
// command, wrapping the error it explains.
type oneLine struct {
	msg string
	err error
}

func (e *oneLine) Error() string { return e.msg }
func (e *oneLine) Unwrap() error { return e.err }
