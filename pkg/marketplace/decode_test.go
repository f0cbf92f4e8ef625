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

func TestDecodeNested(t *testing.T) {
	str := func(p *string) string {
		if p == nil {
			return "<nil>"
		}
		return *p
	}
	// The documented RegisterUsage call from an EKS pod (web identity federation).
	rec := `{"eventVersion":"1.05","userIdentity":{"type":"AssumedRole","principalId":"P:s","arn":"arn:aws:sts::123456789012:assumed-role/Alice/s","accountId":"123456789012","accessKeyId":"AK","sessionContext":{"sessionIssuer":{"type":"Role","principalId":"P","arn":"arn:aws:iam::123456789012:role/Alice","accountId":"123456789012","userName":"Alice"},"webIdFederationData":{"federatedProvider":"arn:aws:iam::123456789012:oidc-provider/x","attributes":{}},"attributes":{"mfaAuthenticated":"false","creationDate":"2020-07-23T02:19:34Z"}}},"eventTime":"2020-07-23T02:19:46Z","eventSource":"metering-marketplace.amazonaws.com","eventName":"RegisterUsage","requestParameters":{"productCode":"PC","publicKeyVersion":1},"responseElements":{"signature":"eyJ"},"resources":[{"ARN":"arn:aws:s3:::b","accountId":"1","type":"AWS::S3::Bucket"},"junk"],"tlsDetails":{"tlsVersion":"TLSv1.2","cipherSuite":"C","clientProvidedHostHeader":"h"}}`
	e, err := Decode([]byte(rec), "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	u := e.UserIdentity
	if u == nil || str(u.Type) != "AssumedRole" || str(u.AccountID) != "123456789012" || u.UserName != nil {
		t.Fatalf("user_identity %+v", u)
	}
	sc := u.SessionContext
	if sc == nil || sc.SessionIssuer == nil || str(sc.SessionIssuer.UserName) != "Alice" ||
		sc.Attributes == nil || sc.Attributes.MFAAuthenticated == nil || *sc.Attributes.MFAAuthenticated ||
		sc.Attributes.CreationDate == nil || sc.Attributes.CreationDate.Format(time.RFC3339) != "2020-07-23T02:19:34Z" ||
		sc.WebIDFederationData == nil || str(sc.WebIDFederationData.Attributes) != "{}" {
		t.Fatalf("session_context %+v", sc)
	}
	if len(e.Resources) != 1 || str(e.Resources[0].ARN) != "arn:aws:s3:::b" || str(e.Resources[0].Type) != "AWS::S3::Bucket" {
		t.Errorf("resources %+v (the non-object element is dropped)", e.Resources)
	}
	if e.TLSDetails == nil || str(e.TLSDetails.TLSVersion) != "TLSv1.2" {
		t.Errorf("tls_details %+v", e.TLSDetails)
	}
	if str(e.ProductCode) != "PC" || e.AgreementID != nil {
		t.Errorf("lifted: product_code %s agreement_id %s", str(e.ProductCode), str(e.AgreementID))
	}

	// Wrong types in nested elements null that element, not the event.
	rec = `{"eventTime":"2024-01-01T00:00:00Z","eventSource":"x","eventName":"y","userIdentity":{"type":"IAMUser","sessionContext":"oops","onBehalfOf":[1]},"resources":{"a":1},"tlsDetails":"no"}`
	e, err = Decode([]byte(rec), "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	if e.UserIdentity == nil || str(e.UserIdentity.Type) != "IAMUser" || e.UserIdentity.SessionContext != nil || e.UserIdentity.OnBehalfOf != nil || e.Resources != nil || e.TLSDetails != nil {
		t.Errorf("lenient nested decode: %+v", e)
	}
	if e, _ := Decode([]byte(`{"eventTime":"2024-01-01T00:00:00Z","userIdentity":"root"}`), "k", 0); e.UserIdentity != nil {
		t.Errorf("a string userIdentity must be null")
	}
}

func TestLift(t *testing.T) {
	str := func(p *string) string {
		if p == nil {
			return "<nil>"
		}
		return *p
	}
	tests := []struct {
		req, resp string
		col       func(e *Event) *string
		want      string
	}{
		// AcceptAgreementRequest: the agreement id is in the response, the request id in the request.
		{`{"agreementRequestId":"ar-1"}`, `{"agreementId":"agmt-1"}`, func(e *Event) *string { return e.AgreementID }, "agmt-1"},
		{`{"agreementRequestId":"ar-1"}`, `{"agreementId":"agmt-1"}`, func(e *Event) *string { return e.AgreementRequestID }, "ar-1"},
		// The response wins over the request.
		{`{"agreementId":"agmt-req"}`, `{"agreementId":"agmt-resp"}`, func(e *Event) *string { return e.AgreementID }, "agmt-resp"},
		// CancelAgreement: response null, id in the request.
		{`{"agreementId":"agmt-2"}`, `null`, func(e *Event) *string { return e.AgreementID }, "agmt-2"},
		// Both spellings of the account id key.
		{`{}`, `{"customerAWSAccountID":"111122223333"}`, func(e *Event) *string { return e.CustomerAWSAccountID }, "111122223333"},
		{`{}`, `{"customerAWSAccountId":"444455556666"}`, func(e *Event) *string { return e.CustomerAWSAccountID }, "444455556666"},
		{`{"catalog":"AWSMarketplace","changeSet":[{"entity":{"identifier":"e-1"}}]}`, `{"changeSetId":"cs-1"}`, func(e *Event) *string { return e.ChangeSetID }, "cs-1"},
		// StartChangeSet: the first change's entity, keys in any case; a top-level entityId wins.
		{`{"catalog":"AWSMarketplace","changeSet":[{"changeType":"UpdateInformation","entity":{"type":"SaaSProduct@1.0","identifier":"prod-1"}},{"entity":{"identifier":"offer-2"}}]}`, `{"changeSetId":"cs-1"}`, func(e *Event) *string { return e.EntityID }, "prod-1"},
		{`{"ChangeSet":[{"Entity":{"Identifier":"prod-3"}}]}`, `null`, func(e *Event) *string { return e.EntityID }, "prod-3"},
		{`{"entityId":"e-top","changeSet":[{"entity":{"identifier":"prod-1"}}]}`, `null`, func(e *Event) *string { return e.EntityID }, "e-top"},
		{`{"changeSet":[{"entity":{"identifier":{"x":1}}}]}`, `null`, func(e *Event) *string { return e.EntityID }, "<nil>"},
		{`{"changeSet":[]}`, `null`, func(e *Event) *string { return e.EntityID }, "<nil>"},
		// Otherwise only top-level keys: a nested entityId is not lifted; an object value is not an id.
		{`{"changeSet":[{"entityId":"e-1"}],"productId":{"a":1}}`, `null`, func(e *Event) *string { return e.EntityID }, "<nil>"},
		{`{"productId":{"a":1}}`, `null`, func(e *Event) *string { return e.ProductID }, "<nil>"},
		{`{"listingId":"l-1","productCode":"pc"}`, `null`, func(e *Event) *string { return e.ListingID }, "l-1"},
		// A payload logged as a string lifts nothing.
		{`"{\"agreementId\":\"x\"}"`, `null`, func(e *Event) *string { return e.AgreementID }, "<nil>"},
	}
	for _, tt := range tests {
		rec := `{"eventTime":"2024-01-01T00:00:00Z","eventSource":"agreement-marketplace.amazonaws.com","eventName":"x","requestParameters":` + tt.req + `,"responseElements":` + tt.resp + `}`
		e, err := Decode([]byte(rec), "k", 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := str(tt.col(&e)); got != tt.want {
			t.Errorf("req %s resp %s: got %s, want %s", tt.req, tt.resp, got, tt.want)
		}
	}
}
