// Package queue reads an SQS queue, such as the one a trail's notifications feed (which
// `marketrail follow --queue` works from): a small wrapper over the AWS SDK's SQS client.
//
//	cfg, err := storage.LoadAWSConfig(ctx, opts) // profiles, AWS_REGION, roles
//	q := queue.New(cfg, queueURL)
//	if err := q.Check(ctx); err != nil { ... }  // one line: what is wrong, how to fix it
//	msgs, err := q.Receive(ctx, queue.MaxBatch, 20*time.Second, 5*time.Minute)
//	err = q.Extend(ctx, 5*time.Minute, msgs...) // still working on them
//	err = q.Delete(ctx, msgs...)                // done with them
//
// The SQS endpoint is the SDK's standard one: the region's, unless AWS_ENDPOINT_URL_SQS,
// AWS_ENDPOINT_URL, endpoint_url in the profile or aws.Config.BaseEndpoint says otherwise (the
// SDK reads these itself; the tests check AWS_ENDPOINT_URL_SQS and AWS_ENDPOINT_URL). The
// queue URL names the queue; the requests go to the endpoint.
//
// Delete and Extend report the messages they did not apply to in a *BatchError, by message
// id, with the server's reason for each.
//
// # goaws
//
// The integration tests run against goaws v0.5.4 (github.com/Admiral-Piett/goaws), which
// scripts/test.sh starts on 127.0.0.1. Tested against it (queue_test.go; TestGoawsGaps
// checks the list below with the SDK itself, so that it stays true), goaws v0.5.4 does
// support, through the SDK's JSON protocol: CreateQueue, SendMessage, ReceiveMessage with
// MaxNumberOfMessages, VisibilityTimeout and long polling (WaitTimeSeconds, which ends as
// soon as a message arrives), the return of a message whose visibility timeout expired with
// the same id and a new receipt handle, DeleteMessageBatch (with per-entry failures),
// ChangeMessageVisibility (including 0, which makes a message visible at once), and
// GetQueueAttributes (ApproximateNumberOfMessages, ApproximateNumberOfMessagesNotVisible).
//
// What goaws v0.5.4 lacks or does otherwise than SQS:
//
//   - ApproximateReceiveCount is 1 on every delivery: goaws never counts receives. SQS says
//     2 on the first redelivery. Message.ReceiveCount is what the server says, so against
//     goaws it cannot tell a redelivery from a first delivery.
//   - SentTimestamp is the time of the receive, not of the send (goaws reports time.Now()
//     when it hands the message out). Message.SentAt is what the server says.
//   - ChangeMessageVisibilityBatch does not exist: goaws answers it with HTTP 400 and a
//     plain-text "Bad Request", which is no AWS error. Extend then (and for the rest of that
//     Queue's life) makes one ChangeMessageVisibility call per message, which gives the
//     same result and the same per-message failures: the batch call is no more than their
//     sum. With SQS, Extend uses the batch call.
//   - GetQueueAttributes of a queue that does not exist answers
//     AWS.SimpleQueueService.InvalidParameterValue, not QueueDoesNotExist
//     (AWS.SimpleQueueService.NonExistentQueue, which goaws's ReceiveMessage and
//     GetQueueUrl do give). Check then asks GetQueueUrl for the queue named by the URL, and
//     says "no such queue" only when that answers that it does not exist.
//   - A failed DeleteMessageBatch entry has code "1" and reason "Message not found", where
//     SQS says ReceiptHandleIsInvalid; a receipt handle is void once its message is visible
//     again (SQS may still accept an older handle).
//   - ReceiveMessage does not check MaxNumberOfMessages (it gives 12 messages when asked
//     for 12; SQS refuses more than 10); Receive checks max itself.
//   - No authentication and no access control: any credentials are accepted, so access
//     denied and refused credentials cannot be produced with goaws (TestCheckAccessDenied
//     uses a stand-in server that answers as SQS does).
//   - A message becomes visible again on goaws's once-a-second tick after its visibility
//     timeout, so up to a second late.
//   - Queue URLs are http://Host:Port/AccountId/NAME from goaws's configuration; goaws
//     finds the queue by the URL's last path segment alone.
//   - Now and then the connection a ReceiveMessage is answered on turns out closed on the
//     client's side as its answer is read (seen after a DeleteMessageBatch on the same
//     connection: the SDK logs "failed to discard remaining HTTP response body ... use of
//     closed network connection"). The SDK retries the receive; the messages goaws handed
//     out in the lost answer stay in flight until their visibility timeout ends, as a lost
//     answer from SQS would. marketrail follow's tests use a short --visibility for this.
//   - goaws's own command (app/cmd) always listens on 0.0.0.0; scripts/test.sh therefore
//     builds goaws's server from its packages with a main that listens on 127.0.0.1.
package queue
