package notify

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// readTestdata returns the body of testdata/name.
func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Keys of the examples, written out by hand.
const (
	ctKey1 = "AWSLogs/123456789012/CloudTrail/us-east-2/2013/12/13/123456789012_CloudTrail_us-east-2_20131213T1920Z_LnPgDQnpkSKEsppV.json.gz"
	ctKey2 = "AWSLogs/123456789012/CloudTrail/us-east-2/2013/12/13/123456789012_CloudTrail_us-east-2_20131213T1925Z_Wy3ZcmLBFWaApXAR.json.gz"
	s3Key1 = "AWSLogs/123456789012/CloudTrail/us-east-2/2024/05/02/123456789012_CloudTrail_us-east-2_20240502T1015Z_AbCdEfGhIjKlMnOp.json.gz"
	s3Key2 = "AWSLogs/123456789012/CloudTrail/us-east-2/2024/05/02/123456789012_CloudTrail_us-east-2_20240502T1020Z_QrStUvWxYz012345.json.gz"
	s3Key3 = "AWSLogs/123456789012/CloudTrail/us-east-2/2024/05/02/123456789012_CloudTrail_us-east-2_20240502T1025Z_6789AbCdEfGhIjKl.json.gz"
	// The key of s3_encoded_key.json, which is encoded as
	// ".../report+2024%2B01+%C3%A9t%C3%A9+%E6%97%A5%E6%9C%AC%3Dx.json.gz".
	s3KeyDecoded = "AWSLogs/123456789012/CloudTrail/eu-west-1/2024/05/02/report 2024+01 été 日本=x.json.gz"
	// EventBridge keys are not URL-encoded: the "+" stays a "+".
	ebKey = "AWSLogs/111122223333/CloudTrail/ca-central-1/2024/05/02/111122223333_CloudTrail_ca-central-1_20240502T1015Z_x+y z.json.gz"
)

const emptyMD5 = "d41d8cd98f00b204e9800998ecf8427e"

func TestParseTestdata(t *testing.T) {
	ct := []Object{
		{Bucket: "amzn-s3-demo-bucket", Key: ctKey1, Size: -1},
		{Bucket: "amzn-s3-demo-bucket", Key: ctKey2, Size: -1},
	}
	put := []Object{{Bucket: "amzn-s3-demo-bucket", Key: s3Key1, Size: 2310, ETag: emptyMD5}}
	eb := []Object{{Bucket: "amzn-s3-demo-bucket1", Key: ebKey, Size: 5321, ETag: "b1946ac92492d2347c6235b4d2611184"}}
	tests := []struct {
		file string
		want Notice
	}{
		{"cloudtrail_raw.json", Notice{Kind: "cloudtrail", Objects: ct}},
		{"cloudtrail_sns.json", Notice{Kind: "cloudtrail", ViaSNS: true, Objects: ct}},
		{"s3_put.json", Notice{Kind: "s3", Objects: put}},
		{"s3_encoded_key.json", Notice{Kind: "s3", Objects: []Object{
			{Bucket: "amzn-s3-demo-bucket", Key: s3KeyDecoded, Size: 15728640, ETag: "9b2cf535f27731c974343645a3985328-3"},
		}}},
		{"s3_test_event.json", Notice{Kind: "s3", Test: true}},
		{"s3_sns.json", Notice{Kind: "s3", ViaSNS: true, Objects: put}},
		{"s3_removed.json", Notice{Kind: "s3", Skipped: 1}},
		{"s3_mixed.json", Notice{Kind: "s3", Skipped: 2, Objects: []Object{
			{Bucket: "amzn-s3-demo-bucket", Key: s3Key1, Size: 2310, ETag: emptyMD5},
			{Bucket: "amzn-s3-demo-bucket2", Key: s3Key2, Size: 0, ETag: emptyMD5},
			{Bucket: "amzn-s3-demo-bucket", Key: s3Key3, Size: -1},
		}}},
		{"eventbridge.json", Notice{Kind: "eventbridge", Objects: eb}},
		{"eventbridge_sns.json", Notice{Kind: "eventbridge", ViaSNS: true, Objects: eb}},
		{"eventbridge_deleted.json", Notice{Kind: "eventbridge", Skipped: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := Parse(readTestdata(t, tt.file))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestParseInline covers the shorter cases, with the body written in the test.
func TestParseInline(t *testing.T) {
	tests := []struct {
		name string
		body string
		want Notice
	}{
		{"cloudtrail one key", `{"s3Bucket":"b","s3ObjectKey":["k"]}`,
			Notice{Kind: "cloudtrail", Objects: []Object{{Bucket: "b", Key: "k", Size: -1}}}},
		{"cloudtrail keys are not decoded", `{"s3Bucket":"b","s3ObjectKey":["a+b%2Bc"]}`,
			Notice{Kind: "cloudtrail", Objects: []Object{{Bucket: "b", Key: "a+b%2Bc", Size: -1}}}},
		{"unknown members ignored", `{"s3Bucket":"b","s3ObjectKey":["k"],"future":{"x":[1,2]}}`,
			Notice{Kind: "cloudtrail", Objects: []Object{{Bucket: "b", Key: "k", Size: -1}}}},
		{"s3 key %20 and +", `{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"a%20b+c","size":7,"eTag":"e"}}}]}`,
			Notice{Kind: "s3", Objects: []Object{{Bucket: "b", Key: "a b c", Size: 7, ETag: "e"}}}},
		{"s3 eventName with s3: prefix", `{"Records":[{"eventSource":"aws:s3","eventName":"s3:ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"k"}}}]}`,
			Notice{Kind: "s3", Objects: []Object{{Bucket: "b", Key: "k", Size: -1}}}},
		{"s3 null size", `{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"k","size":null}}}]}`,
			Notice{Kind: "s3", Objects: []Object{{Bucket: "b", Key: "k", Size: -1}}}},
		{"s3 test event via SNS", `{"Type":"Notification","Message":"{\"Service\":\"Amazon S3\",\"Event\":\"s3:TestEvent\",\"Bucket\":\"b\"}"}`,
			Notice{Kind: "s3", ViaSNS: true, Test: true}},
		{"eventbridge quoted etag, no size", `{"source":"aws.s3","detail-type":"Object Created","detail":{"bucket":{"name":"b"},"object":{"key":"k","etag":"\"abc\""}}}`,
			Notice{Kind: "eventbridge", Objects: []Object{{Bucket: "b", Key: "k", Size: -1, ETag: "abc"}}}},
		{"eventbridge restore skipped", `{"source":"aws.s3","detail-type":"Object Restore Completed","detail":{"bucket":{"name":"b"},"object":{"key":"k","size":5}}}`,
			Notice{Kind: "eventbridge", Skipped: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.body))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	// rec is an S3 event record with the given eventName and object member.
	rec := func(name, object string) string {
		return `{"eventSource":"aws:s3","eventName":"` + name + `","s3":{"bucket":{"name":"b"},"object":` + object + `}}`
	}
	good := rec("ObjectCreated:Put", `{"key":"k"}`)
	tests := []struct {
		name string
		body string
		want string // a substring of the error
	}{
		{"empty", ``, "not a JSON object"},
		{"not JSON", `hello`, "not a JSON object"},
		{"truncated", `{"s3Bucket":"b","s3ObjectKey":["k"]`, "not a JSON object"},
		{"array", `[{"s3Bucket":"b"}]`, "not a JSON object"},
		{"string", `"x"`, "not a JSON object"},
		{"null", `null`, "no known shape"},
		{"empty object", `{}`, "no known shape"},
		{"unknown shape", `{"foo":"bar"}`, "no known shape"},
		{"two shapes", `{"s3Bucket":"b","s3ObjectKey":["k"],"Records":[]}`, "more than one shape"},

		{"cloudtrail no bucket", `{"s3ObjectKey":["k"]}`, "has no s3Bucket"},
		{"cloudtrail empty bucket", `{"s3Bucket":"","s3ObjectKey":["k"]}`, "has no s3Bucket"},
		{"cloudtrail bucket not string", `{"s3Bucket":7,"s3ObjectKey":["k"]}`, "s3Bucket is not a string"},
		{"cloudtrail no keys", `{"s3Bucket":"b"}`, "has no s3ObjectKey"},
		{"cloudtrail empty key list", `{"s3Bucket":"b","s3ObjectKey":[]}`, "has no s3ObjectKey"},
		{"cloudtrail keys not list", `{"s3Bucket":"b","s3ObjectKey":"k"}`, "not a list of strings"},
		{"cloudtrail empty key", `{"s3Bucket":"b","s3ObjectKey":["k",""]}`, "s3ObjectKey[1] is empty"},
		{"cloudtrail null key", `{"s3Bucket":"b","s3ObjectKey":[null]}`, "s3ObjectKey[0] is empty"},
		{"cloudtrail long key", `{"s3Bucket":"b","s3ObjectKey":["` + strings.Repeat("k", 1025) + `"]}`, "more than the 1024"},

		{"s3 records not list", `{"Records":{}}`, "Records is not a list"},
		{"s3 no records", `{"Records":[]}`, "has no Records"},
		{"s3 null records", `{"Records":null}`, "has no Records"},
		{"s3 record not object", `{"Records":[` + good + `,7]}`, "Records[1] is not an S3 event record"},
		{"s3 record null", `{"Records":[null]}`, "Records[0] is not an S3 event record"},
		{"s3 other source", `{"Records":[{"eventSource":"aws:sqs","eventName":"ObjectCreated:Put"}]}`, `eventSource "aws:sqs", not aws:s3`},
		{"s3 no eventName", `{"Records":[` + rec("", `{"key":"k"}`) + `]}`, "Records[0] has no eventName"},
		{"s3 no s3", `{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put"}]}`, "Records[0] has no s3 member"},
		{"s3 no bucket", `{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"object":{"key":"k"}}}]}`, "Records[0] has no bucket name"},
		{"s3 no key", `{"Records":[` + good + `,` + good + `,` + rec("ObjectCreated:Put", `{"size":1}`) + `]}`, "S3 event Records[2] has no object key"},
		{"s3 empty key", `{"Records":[` + rec("ObjectCreated:Put", `{"key":""}`) + `]}`, "Records[0] has no object key"},
		{"s3 removed without key", `{"Records":[` + rec("ObjectRemoved:Delete", `{}`) + `]}`, "Records[0] has no object key"},
		{"s3 bad escape", `{"Records":[` + rec("ObjectCreated:Put", `{"key":"a%zzb"}`) + `]}`, "does not URL-decode"},
		{"s3 truncated escape", `{"Records":[` + rec("ObjectCreated:Put", `{"key":"a%2"}`) + `]}`, "does not URL-decode"},
		{"s3 key decodes to invalid UTF-8", `{"Records":[` + rec("ObjectCreated:Put", `{"key":"a%FFb"}`) + `]}`, "not valid UTF-8"},
		{"s3 string size", `{"Records":[` + rec("ObjectCreated:Put", `{"key":"k","size":"12"}`) + `]}`, "not a non-negative integer"},
		{"s3 negative size", `{"Records":[` + rec("ObjectCreated:Put", `{"key":"k","size":-1}`) + `]}`, "not a non-negative integer"},
		{"s3 fractional size", `{"Records":[` + rec("ObjectCreated:Put", `{"key":"k","size":1.5}`) + `]}`, "not a non-negative integer"},
		{"s3 other event", `{"Service":"Amazon S3","Event":"s3:SomethingElse"}`, `Event "s3:SomethingElse", not s3:TestEvent`},

		{"sns subscription confirmation", `{"Type":"SubscriptionConfirmation","Message":"You have chosen to subscribe","SubscribeURL":"https://sns.example/"}`, `Type "SubscriptionConfirmation" is not a notification`},
		{"sns unsubscribe confirmation", `{"Type":"UnsubscribeConfirmation","Message":"x"}`, `Type "UnsubscribeConfirmation" is not a notification`},
		{"sns type not string", `{"Type":1,"Message":"x"}`, "Type is not a string"},
		{"sns no message", `{"Type":"Notification"}`, "has no Message"},
		{"sns message not string", `{"Type":"Notification","Message":{"s3Bucket":"b","s3ObjectKey":["k"]}}`, "Message is not a string"},
		{"sns message not JSON", `{"Type":"Notification","Message":"Hello world!"}`, "Message: message is not a JSON object"},
		{"sns nested", `{"Type":"Notification","Message":"{\"Type\":\"Notification\",\"Message\":\"{}\"}"}`, "SNS envelope inside an SNS envelope"},
		{"sns inner error", `{"Type":"Notification","Message":"{\"s3Bucket\":\"b\",\"s3ObjectKey\":[]}"}`, "Message: CloudTrail notification has no s3ObjectKey"},

		{"eventbridge other source", `{"source":"aws.ec2","detail-type":"Object Created","detail":{}}`, `source "aws.ec2", not aws.s3`},
		{"eventbridge no detail-type", `{"source":"aws.s3","detail":{"bucket":{"name":"b"},"object":{"key":"k"}}}`, "no detail-type"},
		{"eventbridge no detail", `{"source":"aws.s3","detail-type":"Object Created"}`, "has no detail"},
		{"eventbridge detail not object", `{"source":"aws.s3","detail-type":"Object Created","detail":"x"}`, "wrong type"},
		{"eventbridge no bucket", `{"source":"aws.s3","detail-type":"Object Created","detail":{"object":{"key":"k"}}}`, "no detail.bucket.name"},
		{"eventbridge no key", `{"source":"aws.s3","detail-type":"Object Created","detail":{"bucket":{"name":"b"},"object":{}}}`, "no detail.object.key"},
		{"eventbridge bad size", `{"source":"aws.s3","detail-type":"Object Created","detail":{"bucket":{"name":"b"},"object":{"key":"k","size":true}}}`, "detail.object.size that is not a non-negative integer"},

		{"too big", `{"s3Bucket":"b","s3ObjectKey":["k"],"pad":"` + strings.Repeat(" ", MaxBodySize) + `"}`, "longer than the 1048576"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.body))
			if err == nil {
				t.Fatalf("Parse = %+v, want an error containing %q", got, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse error %q does not contain %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "notify: ") {
				t.Errorf("Parse error %q does not start with \"notify: \"", err)
			}
			if !reflect.DeepEqual(got, Notice{}) {
				t.Errorf("Parse returned %+v with its error, want the zero Notice", got)
			}
		})
	}
}

// TestParseMaxBodySize checks that a body of exactly MaxBodySize bytes is read.
func TestParseMaxBodySize(t *testing.T) {
	head := `{"s3Bucket":"b","s3ObjectKey":["k"],"pad":"`
	tail := `"}`
	body := head + strings.Repeat("x", MaxBodySize-len(head)-len(tail)) + tail
	if len(body) != MaxBodySize {
		t.Fatalf("body is %d bytes, want %d", len(body), MaxBodySize)
	}
	if _, err := Parse([]byte(body)); err != nil {
		t.Errorf("Parse of a %d-byte body: %v", len(body), err)
	}
}
