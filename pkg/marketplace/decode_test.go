package marketplace

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
	"unicode/utf8"
)

func TestDecode(t *testing.T) {
	str := func(p *string) string {
		if p == nil {
			return "<nil>"
		}
		return *p
	}
	boolean := func(p *bool) string {
		if p == nil {
			return "<nil>"
		}
		if *p {
			return "true"
		}
		return "false"
	}
	tests := []struct {
		name  string
		rec   string
		check func(t *testing.T, e Event)
	}{
		{"agreement call, payload key order kept",
			`{"eventVersion":"1.10","eventTime":"2023-08-11T17:13:50Z","eventSource":"agreement-marketplace.amazonaws.com","eventName":"AcceptAgreementRequest","awsRegion":"us-west-2","requestParameters":{"z":1, "agreementRequestId":"ar-1"},"responseElements":{"agreementId":"agmt-1"},"eventID":"7e","readOnly":false,"managementEvent":true,"recipientAccountId":"123456789010"}`,
			func(t *testing.T, e Event) {
				if str(e.EventVersion) != "1.10" {
					t.Errorf("event_version %q, want 1.10 (text)", str(e.EventVersion))
				}
				if str(e.RequestParameters) != `{"z":1,"agreementRequestId":"ar-1"}` {
					t.Errorf("request_parameters %s", str(e.RequestParameters))
				}
				if !e.EventTime.Equal(time.Date(2023, 8, 11, 17, 13, 50, 0, time.UTC)) || e.EventDate().String() != "2023-08-11" {
					t.Errorf("event_time %v", e.EventTime)
				}
				if boolean(e.ReadOnly) != "false" || boolean(e.ManagementEvent) != "true" {
					t.Errorf("read_only %s management_event %s", boolean(e.ReadOnly), boolean(e.ManagementEvent))
				}
				if str(e.EventID) != "7e" || str(e.RecipientAccountID) != "123456789010" || e.SourceKey != "k" || e.RecordIndex != 3 {
					t.Errorf("ids: %+v", e)
				}
			}},
		{"null payloads and errors are null; string booleans accepted",
			`{"eventTime":"2023-11-27T03:41:41Z","eventSource":"discovery-marketplace.amazonaws.com","eventName":"SearchListings","responseElements":null,"errorCode":null,"readOnly":"True"}`,
			func(t *testing.T, e Event) {
				if e.ResponseElements != nil || e.ErrorCode != nil || e.RequestParameters != nil || e.EventID != nil {
					t.Errorf("want nulls: %+v", e)
				}
				if boolean(e.ReadOnly) != "true" {
					t.Errorf("read_only %s, want true from \"True\"", boolean(e.ReadOnly))
				}
			}},
		{"payload logged as a JSON string keeps its quotes",
			`{"eventTime":"2024-01-01T00:00:00Z","eventSource":"x","eventName":"y","requestParameters":"{\"a\": 1}"}`,
			func(t *testing.T, e Event) {
				if str(e.RequestParameters) != `"{\"a\": 1}"` {
					t.Errorf("request_parameters %s", str(e.RequestParameters))
				}
			}},
		{"numbers where strings belong are kept as text; fractional seconds truncated to ms",
			`{"eventTime":"2024-01-01T23:59:59.123456Z","eventSource":"x","eventName":"y","eventVersion":1.05,"awsRegion":42}`,
			func(t *testing.T, e Event) {
				if str(e.EventVersion) != "1.05" || str(e.AWSRegion) != "42" {
					t.Errorf("event_version %s aws_region %s", str(e.EventVersion), str(e.AWSRegion))
				}
				if e.EventTime.Nanosecond() != 123_000_000 {
					t.Errorf("event_time %v", e.EventTime)
				}
			}},
		{"invalid UTF-8 in a payload becomes U+FFFD",
			"{\"eventTime\":\"2024-01-01T00:00:00Z\",\"eventSource\":\"x\",\"eventName\":\"y\",\"requestParameters\":{\"a\":\"\xff\"},\"userAgent\":\"b\xfe\"}",
			func(t *testing.T, e Event) {
				if !utf8.ValidString(str(e.RequestParameters)) || !utf8.ValidString(str(e.UserAgent)) {
					t.Errorf("invalid UTF-8 kept: %q %q", str(e.RequestParameters), str(e.UserAgent))
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Decode([]byte(tt.rec), "k", 3)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, e)
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, rec := range []string{
		`{"eventSource":"x"}`,        // no eventTime
		`{"eventTime":null}`,         // null eventTime
		`{"eventTime":"yesterday"}`,  // not RFC 3339
		`{"eventTime":"2024-01-01"}`, // a date only
		`[1,2]`,                      // not an object
		`{"eventTime":"2024-01-01T00:00:00Z","requestParameters":}`, // not JSON
	} {
		_, err := Decode([]byte(rec), "k", 9)
		if !errors.Is(err, ErrBadEvent) {
			t.Errorf("Decode(%s) error = %v, want ErrBadEvent", rec, err)
		}
	}
}

// FuzzDecode: Decode never panics, and what it accepts has a valid time, valid UTF-8 text
// and JSON payloads that are valid JSON.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"eventTime":"2023-08-11T17:13:50Z","eventSource":"agreement-marketplace.amazonaws.com","eventName":"A","requestParameters":{"a":[1,{"b":null}]},"readOnly":"True"}`))
	f.Add([]byte(`{"eventTime":"2023-08-11T17:13:50+02:00","responseElements":"x","eventVersion":1}`))
	f.Fuzz(func(t *testing.T, rec []byte) {
		e, err := Decode(rec, "k", 0)
		if err != nil {
			return
		}
		if e.EventTime.Location() != time.UTC {
			t.Fatalf("event_time not UTC: %v", e.EventTime)
		}
		for _, p := range []*string{e.RequestParameters, e.ResponseElements, e.AdditionalEventData, e.ServiceEventDetails} {
			if p != nil && (!json.Valid([]byte(*p)) || !utf8.ValidString(*p)) {
				t.Fatalf("payload %q is not valid UTF-8 JSON", *p)
			}
		}
		for _, p := range []*string{e.EventID, e.EventVersion, e.AWSRegion, e.UserAgent} {
			if p != nil && !utf8.ValidString(*p) {
				t.Fatalf("text %q is not valid UTF-8", *p)
			}
		}
	})
}
