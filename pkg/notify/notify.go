package notify

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxBodySize is the size in bytes of the longest body Parse reads: 1 MiB, the largest
// message body Amazon SQS accepts.
const MaxBodySize = 1 << 20

// MaxKeySize is the length in bytes of the longest object key Parse returns: 1,024, the
// longest key Amazon S3 allows.
const MaxKeySize = 1024

// The kinds of message Parse recognizes, as in Notice.Kind.
const (
	KindCloudTrail  = "cloudtrail"  // CloudTrail's notification of delivered log files
	KindS3          = "s3"          // an S3 event notification, or S3's test event
	KindEventBridge = "eventbridge" // an EventBridge event whose source is aws.s3
)

// Object is one S3 object that a message announces.
type Object struct {
	Bucket string
	Key    string // decoded: the key as S3's API takes it
	Size   int64  // in bytes; -1 if the message does not say
	ETag   string // without surrounding quotes; "" if the message does not say
}

// Notice is what one message says.
type Notice struct {
	Kind    string   // KindCloudTrail, KindS3 or KindEventBridge: the shape of the (inner) message
	ViaSNS  bool     // the body was an SNS envelope around the message
	Test    bool     // the message is S3's s3:TestEvent, which announces nothing
	Objects []Object // the objects created, in message order
	Skipped int      // the message's events that are not object creations (removals, restores, …)
}

// probe holds the top-level members that tell the shapes apart; each is left undecoded
// (nil if absent) so that a member of the wrong type is reported by the shape's own parser.
type probe struct {
	// SNS envelope
	Type    json.RawMessage `json:"Type"`
	Message json.RawMessage `json:"Message"`
	// CloudTrail
	S3Bucket    json.RawMessage `json:"s3Bucket"`
	S3ObjectKey json.RawMessage `json:"s3ObjectKey"`
	// S3 event notification
	Records json.RawMessage `json:"Records"`
	// S3 test event
	Service json.RawMessage `json:"Service"`
	Event   json.RawMessage `json:"Event"`
	// EventBridge
	Source     json.RawMessage `json:"source"`
	DetailType json.RawMessage `json:"detail-type"`
	Detail     json.RawMessage `json:"detail"`
}

// Parse parses the body of one SQS message into the S3 objects it announces.
//
// It returns an error if the body is longer than MaxBodySize, is not a JSON object, is
// none of the shapes described in the package comment (or looks like more than one), or
// is one of them with a member missing or malformed: a bucket or key missing or empty, an
// empty list of records or keys, a key that does not URL-decode, a size that is not a
// non-negative integer. A message that fails in part fails as a whole: Parse returns
// either every object of the message or none.
func Parse(body []byte) (Notice, error) {
	if len(body) > MaxBodySize {
		return Notice{}, fmt.Errorf("notify: body of %d bytes is longer than the %d an SQS message may have", len(body), MaxBodySize)
	}
	n, err := parse(body, false)
	if err != nil {
		return Notice{}, fmt.Errorf("notify: %w", err)
	}
	return n, nil
}

// parse parses body, which is inside an SNS envelope if inSNS.
func parse(body []byte, inSNS bool) (Notice, error) {
	var p probe
	if err := json.Unmarshal(body, &p); err != nil {
		return Notice{}, fmt.Errorf("message is not a JSON object: %v", err)
	}
	var shapes []string
	if p.Type != nil {
		shapes = append(shapes, "SNS envelope (Type)")
	}
	if p.S3Bucket != nil || p.S3ObjectKey != nil {
		shapes = append(shapes, "CloudTrail notification (s3Bucket, s3ObjectKey)")
	}
	if p.Records != nil {
		shapes = append(shapes, "S3 event notification (Records)")
	}
	if p.Service != nil || p.Event != nil {
		shapes = append(shapes, "S3 test event (Service, Event)")
	}
	if p.Source != nil || p.DetailType != nil || p.Detail != nil {
		shapes = append(shapes, "EventBridge event (source, detail-type, detail)")
	}
	switch {
	case len(shapes) == 0:
		return Notice{}, errors.New("message is of no known shape: it has none of the members Type, s3Bucket, s3ObjectKey, Records, Event, source, detail-type or detail")
	case len(shapes) > 1:
		return Notice{}, fmt.Errorf("message is of more than one shape: %s", strings.Join(shapes, " and "))
	}
	switch {
	case p.Type != nil:
		if inSNS {
			return Notice{}, errors.New("SNS envelope inside an SNS envelope")
		}
		return parseSNS(&p)
	case p.S3Bucket != nil || p.S3ObjectKey != nil:
		return parseCloudTrail(&p)
	case p.Records != nil:
		return parseS3Records(p.Records)
	case p.Service != nil || p.Event != nil:
		return parseS3Test(&p)
	default:
		return parseEventBridge(body)
	}
}

// parseSNS unwraps the SNS envelope p and parses its message.
func parseSNS(p *probe) (Notice, error) {
	var typ string
	if err := json.Unmarshal(p.Type, &typ); err != nil {
		return Notice{}, fmt.Errorf("SNS envelope's Type is not a string")
	}
	if typ != "Notification" {
		return Notice{}, fmt.Errorf("SNS message of Type %q is not a notification", typ)
	}
	var msg *string
	if p.Message != nil {
		if err := json.Unmarshal(p.Message, &msg); err != nil {
			return Notice{}, errors.New("SNS notification's Message is not a string")
		}
	}
	if msg == nil {
		return Notice{}, errors.New("SNS notification has no Message")
	}
	n, err := parse([]byte(*msg), true)
	if err != nil {
		return Notice{}, fmt.Errorf("SNS notification's Message: %w", err)
	}
	n.ViaSNS = true
	return n, nil
}

// parseCloudTrail parses CloudTrail's notification of delivered log files.
func parseCloudTrail(p *probe) (Notice, error) {
	var bucket string
	if p.S3Bucket != nil {
		if err := json.Unmarshal(p.S3Bucket, &bucket); err != nil {
			return Notice{}, errors.New("CloudTrail notification's s3Bucket is not a string")
		}
	}
	if bucket == "" {
		return Notice{}, errors.New("CloudTrail notification has no s3Bucket")
	}
	var keys []*string
	if p.S3ObjectKey != nil {
		if err := json.Unmarshal(p.S3ObjectKey, &keys); err != nil {
			return Notice{}, errors.New("CloudTrail notification's s3ObjectKey is not a list of strings")
		}
	}
	if len(keys) == 0 {
		return Notice{}, errors.New("CloudTrail notification has no s3ObjectKey")
	}
	n := Notice{Kind: KindCloudTrail, Objects: make([]Object, len(keys))}
	for i, k := range keys {
		// CloudTrail's keys are the plain keys of the log files: nothing to decode.
		if k == nil || *k == "" {
			return Notice{}, fmt.Errorf("CloudTrail notification's s3ObjectKey[%d] is empty", i)
		}
		if err := checkKey(*k); err != nil {
			return Notice{}, fmt.Errorf("CloudTrail notification's s3ObjectKey[%d] %v", i, err)
		}
		n.Objects[i] = Object{Bucket: bucket, Key: *k, Size: -1}
	}
	return n, nil
}

// s3Record is one of the Records of an S3 event notification.
type s3Record struct {
	EventSource string `json:"eventSource"`
	EventName   string `json:"eventName"`
	S3          *struct {
		Bucket struct {
			Name string `json:"name"`
		} `json:"bucket"`
		Object struct {
			Key  *string         `json:"key"`
			Size json.RawMessage `json:"size"`
			ETag string          `json:"eTag"`
		} `json:"object"`
	} `json:"s3"`
}

// parseS3Records parses the Records of an S3 event notification.
func parseS3Records(raw json.RawMessage) (Notice, error) {
	var records []json.RawMessage
	if err := json.Unmarshal(raw, &records); err != nil {
		return Notice{}, errors.New("S3 event notification's Records is not a list")
	}
	if len(records) == 0 {
		return Notice{}, errors.New("S3 event notification has no Records")
	}
	n := Notice{Kind: KindS3}
	for i, rr := range records {
		var r *s3Record
		if err := json.Unmarshal(rr, &r); err != nil || r == nil {
			return Notice{}, fmt.Errorf("S3 event Records[%d] is not an S3 event record", i)
		}
		if r.EventSource != "aws:s3" {
			return Notice{}, fmt.Errorf("S3 event Records[%d] has eventSource %q, not aws:s3", i, r.EventSource)
		}
		// The docs name events without the "s3:" of the configuration's event types;
		// tolerate it anyway.
		name := strings.TrimPrefix(r.EventName, "s3:")
		if name == "" {
			return Notice{}, fmt.Errorf("S3 event Records[%d] has no eventName", i)
		}
		if r.S3 == nil {
			return Notice{}, fmt.Errorf("S3 event Records[%d] has no s3 member", i)
		}
		if r.S3.Bucket.Name == "" {
			return Notice{}, fmt.Errorf("S3 event Records[%d] has no bucket name", i)
		}
		if r.S3.Object.Key == nil || *r.S3.Object.Key == "" {
			return Notice{}, fmt.Errorf("S3 event Records[%d] has no object key", i)
		}
		// "The object key name value is URL encoded. For example, "red flower.jpg"
		// becomes "red+flower.jpg"" (Event message structure, Amazon S3 User Guide).
		key, err := url.QueryUnescape(*r.S3.Object.Key)
		if err != nil {
			return Notice{}, fmt.Errorf("S3 event Records[%d] has an object key that does not URL-decode: %v", i, err)
		}
		if key == "" {
			return Notice{}, fmt.Errorf("S3 event Records[%d] has an object key that decodes to nothing", i)
		}
		if err := checkKey(key); err != nil {
			return Notice{}, fmt.Errorf("S3 event Records[%d] has an object key that %v", i, err)
		}
		size, err := parseSize(r.S3.Object.Size)
		if err != nil {
			return Notice{}, fmt.Errorf("S3 event Records[%d] has an object size that %v", i, err)
		}
		if !strings.HasPrefix(name, "ObjectCreated:") {
			n.Skipped++
			continue
		}
		n.Objects = append(n.Objects, Object{
			Bucket: r.S3.Bucket.Name,
			Key:    key,
			Size:   size,
			ETag:   unquote(r.S3.Object.ETag),
		})
	}
	return n, nil
}

// parseS3Test parses S3's test event.
func parseS3Test(p *probe) (Notice, error) {
	var event string
	if p.Event != nil {
		if err := json.Unmarshal(p.Event, &event); err != nil {
			return Notice{}, errors.New("S3 test event's Event is not a string")
		}
	}
	if event != "s3:TestEvent" {
		return Notice{}, fmt.Errorf("message from S3 has Event %q, not s3:TestEvent", event)
	}
	return Notice{Kind: KindS3, Test: true}, nil
}

// ebEvent is an EventBridge event whose source is S3.
type ebEvent struct {
	Source     string `json:"source"`
	DetailType string `json:"detail-type"`
	Detail     *struct {
		Bucket struct {
			Name string `json:"name"`
		} `json:"bucket"`
		Object struct {
			Key  *string         `json:"key"`
			Size json.RawMessage `json:"size"`
			ETag string          `json:"etag"`
		} `json:"object"`
	} `json:"detail"`
}

// parseEventBridge parses an EventBridge event from S3.
func parseEventBridge(body []byte) (Notice, error) {
	var e ebEvent
	if err := json.Unmarshal(body, &e); err != nil {
		return Notice{}, errors.New("EventBridge event has a member of the wrong type (source and detail-type are strings, detail an object)")
	}
	if e.Source != "aws.s3" {
		return Notice{}, fmt.Errorf("EventBridge event has source %q, not aws.s3", e.Source)
	}
	if e.DetailType == "" {
		return Notice{}, errors.New("EventBridge event has no detail-type")
	}
	d := e.Detail
	if d == nil {
		return Notice{}, errors.New("EventBridge event has no detail")
	}
	if d.Bucket.Name == "" {
		return Notice{}, errors.New("EventBridge event has no detail.bucket.name")
	}
	if d.Object.Key == nil || *d.Object.Key == "" {
		return Notice{}, errors.New("EventBridge event has no detail.object.key")
	}
	// Unlike "Event message structure", "EventBridge event message structure" (Amazon S3
	// User Guide) does not say that keys are URL-encoded, and its examples show none that
	// is: the key is taken as it is.
	key := *d.Object.Key
	if err := checkKey(key); err != nil {
		return Notice{}, fmt.Errorf("EventBridge event has a detail.object.key that %v", err)
	}
	size, err := parseSize(d.Object.Size)
	if err != nil {
		return Notice{}, fmt.Errorf("EventBridge event has a detail.object.size that %v", err)
	}
	n := Notice{Kind: KindEventBridge}
	if e.DetailType != "Object Created" {
		n.Skipped = 1
		return n, nil
	}
	n.Objects = []Object{{Bucket: d.Bucket.Name, Key: key, Size: size, ETag: unquote(d.Object.ETag)}}
	return n, nil
}

// checkKey reports whether key, once decoded, can be an S3 object key; its error completes
// a sentence about the key.
func checkKey(key string) error {
	if !utf8.ValidString(key) {
		return errors.New("is not valid UTF-8")
	}
	if len(key) > MaxKeySize {
		return fmt.Errorf("is %d bytes long, more than the %d of an S3 key", len(key), MaxKeySize)
	}
	return nil
}

// parseSize parses an object's size, a JSON integer; absent or null is -1. Its error
// completes a sentence about the size.
func parseSize(raw json.RawMessage) (int64, error) {
	if raw == nil || bytes.Equal(raw, []byte("null")) {
		return -1, nil
	}
	size, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || size < 0 {
		return 0, fmt.Errorf("is not a non-negative integer: %.40s", raw)
	}
	return size, nil
}

// unquote strips the double quotes around an ETag, as S3's API returns it; notifications
// carry it without them, but a message may not.
func unquote(etag string) string {
	if len(etag) >= 2 && etag[0] == '"' && etag[len(etag)-1] == '"' {
		return etag[1 : len(etag)-1]
	}
	return etag
}
