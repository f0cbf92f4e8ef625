// Package notify reads the notifications that announce new CloudTrail log files: it parses
// the body of one Amazon SQS message (untrusted bytes) into the S3 objects the message
// announces, so that a follower can fetch exactly those objects instead of listing the
// trail's bucket.
//
// A queue that follows a trail can be fed in several ways, and Parse accepts the body of
// each, as AWS documents it:
//
//   - CloudTrail's own notification, {"s3Bucket": …, "s3ObjectKey": [ … ]}, which names one
//     bucket and one or more log files ("Configuring Amazon SNS notifications for
//     CloudTrail", AWS CloudTrail User Guide). Its keys are plain, not URL-encoded.
//   - Amazon S3 event notifications, {"Records": [ … ]}, one record per event ("Event
//     message structure", Amazon S3 User Guide). That page says the object key "is URL
//     encoded", as application/x-www-form-urlencoded ("red flower.jpg" becomes
//     "red+flower.jpg"), so keys are decoded as by url.QueryUnescape. Records whose
//     eventName is not ObjectCreated:* (ObjectRemoved:Delete, ObjectRestore:Completed, …)
//     are counted in Notice.Skipped, not returned. The s3:TestEvent message, which S3 sends
//     once when notifications are configured on a bucket, sets Notice.Test and announces
//     nothing.
//   - Amazon EventBridge events from S3 ("EventBridge event message structure", Amazon S3
//     User Guide): "source": "aws.s3", detail-type "Object Created" and detail.bucket.name,
//     detail.object.key, size and etag. That page, unlike the one for event notifications,
//     does not say that keys are URL-encoded, and its examples show none encoded, so
//     EventBridge keys are taken verbatim. Other detail types (Object Deleted, …) are
//     counted in Notice.Skipped.
//   - Any of the three above inside the envelope in which Amazon SNS delivers a message to a
//     subscribed queue without raw message delivery: {"Type": "Notification", "Message":
//     "<the inner message as a JSON string>", …} ("Fanout to Amazon SQS queues" and
//     "Parsing Amazon SNS message formats", Amazon SNS Developer Guide). With raw message
//     delivery the queue receives the inner message itself, which Parse also accepts.
//     Only one envelope is unwrapped: SNS never nests them, so an envelope inside an
//     envelope is an error. An SNS SubscriptionConfirmation or UnsubscribeConfirmation is
//     not a notification and is an error too: a queue subscribed to a topic is confirmed by
//     SNS itself (for a topic in the queue's account) or by whoever set it up, never by the
//     follower, which should therefore report such a message rather than act on it.
//
// Anything else is an error that names what was wrong; Parse never panics. The work is
// bounded: a body longer than MaxBodySize, the largest message body SQS accepts ("1 MiB or
// 1,048,576 bytes", SendMessage, Amazon SQS API Reference), is rejected before it is read.
// Decoded keys must be valid UTF-8 of at most 1,024 bytes, the limit of an S3 object key
// ("Naming Amazon S3 objects", Amazon S3 User Guide).
package notify
