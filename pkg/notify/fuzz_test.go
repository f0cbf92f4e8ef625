package notify

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"unicode/utf8"
)

// FuzzParse checks that Parse never panics, that what it returns is well formed, and that
// the objects it returns survive being announced again in each shape.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		`{"s3Bucket":"b","s3ObjectKey":["k1","k2"]}`,
		`{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"a+b%2Bc%C3%A9","size":3,"eTag":"\"e\""}}}]}`,
		`{"Type":"Notification","Message":"{\"Type\":\"Notification\",\"Message\":\"{}\"}"}`,
		`{"source":"aws.s3","detail-type":"Object Created","detail":{"bucket":{"name":"b"},"object":{"key":"k"}}}`,
		`{"Service":"Amazon S3","Event":"s3:TestEvent"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := Parse(body)
		if err != nil {
			if !reflect.DeepEqual(n, Notice{}) {
				t.Fatalf("Parse returned %+v with error %v", n, err)
			}
			return
		}
		checkNotice(t, n)

		// Announced again as CloudTrail notifications, one per object (a CloudTrail
		// notification names a single bucket), the objects come back without size or ETag.
		for i, o := range n.Objects {
			b, err := json.Marshal(map[string]any{"s3Bucket": o.Bucket, "s3ObjectKey": []string{o.Key}})
			if err != nil {
				t.Fatal(err)
			}
			want := Notice{Kind: KindCloudTrail, Objects: []Object{{Bucket: o.Bucket, Key: o.Key, Size: -1}}}
			if got, err := Parse(b); err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("object %d as a CloudTrail notification %s: got %+v, %v; want %+v", i, b, got, err, want)
			}
		}

		// Announced again as one S3 event notification, with URL-encoded keys and quoted
		// ETags, the objects come back the same.
		if len(n.Objects) > 0 {
			type object struct {
				Key  string `json:"key"`
				Size *int64 `json:"size,omitempty"`
				ETag string `json:"eTag,omitempty"`
			}
			type record struct {
				EventSource string `json:"eventSource"`
				EventName   string `json:"eventName"`
				S3          struct {
					Bucket struct {
						Name string `json:"name"`
					} `json:"bucket"`
					Object object `json:"object"`
				} `json:"s3"`
			}
			var event struct {
				Records []record
			}
			for _, o := range n.Objects {
				var r record
				r.EventSource, r.EventName = "aws:s3", "ObjectCreated:Put"
				r.S3.Bucket.Name = o.Bucket
				r.S3.Object.Key = url.QueryEscape(o.Key)
				if o.Size >= 0 {
					r.S3.Object.Size = &o.Size
				}
				if o.ETag != "" {
					r.S3.Object.ETag = `"` + o.ETag + `"`
				}
				event.Records = append(event.Records, r)
			}
			b, err := json.Marshal(event)
			if err != nil {
				t.Fatal(err)
			}
			want := Notice{Kind: KindS3, Objects: n.Objects}
			if got, err := Parse(b); err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("objects as an S3 event notification %s: got %+v, %v; want %+v", b, got, err, want)
			}
		}

		// Inside an SNS envelope, the message says the same.
		if !n.ViaSNS {
			b, err := json.Marshal(map[string]string{"Type": "Notification", "MessageId": "m", "Message": string(body)})
			if err != nil {
				t.Fatal(err)
			}
			if len(b) <= MaxBodySize {
				want := n
				want.ViaSNS = true
				if got, err := Parse(b); err != nil || !reflect.DeepEqual(got, want) {
					t.Fatalf("body in an SNS envelope: got %+v, %v; want %+v", got, err, want)
				}
			}
		}
	})
}

// checkNotice fails t unless n is a Notice that Parse may return without error.
func checkNotice(t *testing.T, n Notice) {
	t.Helper()
	switch n.Kind {
	case KindCloudTrail, KindS3, KindEventBridge:
	default:
		t.Fatalf("Kind %q", n.Kind)
	}
	if n.Skipped < 0 {
		t.Fatalf("Skipped = %d", n.Skipped)
	}
	if n.Test {
		if n.Kind != KindS3 || len(n.Objects) != 0 || n.Skipped != 0 {
			t.Fatalf("test event %+v announces something", n)
		}
		return
	}
	if len(n.Objects)+n.Skipped == 0 {
		t.Fatalf("%+v says nothing", n)
	}
	if n.Kind == KindEventBridge && len(n.Objects)+n.Skipped != 1 {
		t.Fatalf("EventBridge event %+v says more than one thing", n)
	}
	for i, o := range n.Objects {
		if o.Bucket == "" || o.Key == "" {
			t.Fatalf("object %d %+v has no bucket or no key", i, o)
		}
		if !utf8.ValidString(o.Key) || len(o.Key) > MaxKeySize {
			t.Fatalf("object %d has key %q, not an S3 key", i, o.Key)
		}
		if o.Size < -1 {
			t.Fatalf("object %d has size %d", i, o.Size)
		}
		if n.Kind == KindCloudTrail && (o.Size != -1 || o.ETag != "" || o.Bucket != n.Objects[0].Bucket) {
			t.Fatalf("CloudTrail object %d is %+v", i, o)
		}
	}
}
