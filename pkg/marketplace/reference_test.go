package marketplace

// The decoder Decode replaced: encoding/json into structs and maps, kept as the reference
// the fuzz test compares Decode with (FuzzDecodeMatchesReference). It is the code as it
// was, renamed with a ref prefix.

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

type refRecord struct {
	EventVersion        text            `json:"eventVersion"`
	EventTime           text            `json:"eventTime"`
	EventSource         text            `json:"eventSource"`
	EventName           text            `json:"eventName"`
	EventType           text            `json:"eventType"`
	EventCategory       text            `json:"eventCategory"`
	AWSRegion           text            `json:"awsRegion"`
	SourceIPAddress     text            `json:"sourceIPAddress"`
	UserAgent           text            `json:"userAgent"`
	ErrorCode           text            `json:"errorCode"`
	ErrorMessage        text            `json:"errorMessage"`
	RequestID           text            `json:"requestID"`
	EventID             text            `json:"eventID"`
	ReadOnly            flag            `json:"readOnly"`
	ManagementEvent     flag            `json:"managementEvent"`
	RecipientAccountID  text            `json:"recipientAccountId"`
	SharedEventID       text            `json:"sharedEventID"`
	APIVersion          text            `json:"apiVersion"`
	VPCEndpointID       text            `json:"vpcEndpointId"`
	RequestParameters   json.RawMessage `json:"requestParameters"`
	ResponseElements    json.RawMessage `json:"responseElements"`
	AdditionalEventData json.RawMessage `json:"additionalEventData"`
	ServiceEventDetails json.RawMessage `json:"serviceEventDetails"`
	UserIdentity        json.RawMessage `json:"userIdentity"`
	Resources           json.RawMessage `json:"resources"`
	TLSDetails          json.RawMessage `json:"tlsDetails"`
}

func refDecode(rec []byte, sourceKey string, index int) (Event, error) {
	var r refRecord
	if err := json.Unmarshal(rec, &r); err != nil {
		return Event{}, fmt.Errorf("%w: record %d: %v", ErrBadEvent, index, err)
	}
	if !r.EventTime.ok {
		return Event{}, fmt.Errorf("%w: record %d: no eventTime", ErrBadEvent, index)
	}
	t, err := time.Parse(time.RFC3339Nano, r.EventTime.s)
	if err != nil {
		return Event{}, fmt.Errorf("%w: record %d: eventTime %q is not an RFC 3339 time", ErrBadEvent, index, r.EventTime.s)
	}
	e := Event{
		EventID:             r.EventID.ptr(),
		EventTime:           t.UTC().Truncate(time.Millisecond),
		EventVersion:        r.EventVersion.ptr(),
		EventSource:         r.EventSource.s,
		EventName:           r.EventName.s,
		EventType:           r.EventType.ptr(),
		EventCategory:       r.EventCategory.ptr(),
		AWSRegion:           r.AWSRegion.ptr(),
		SourceIPAddress:     r.SourceIPAddress.ptr(),
		UserAgent:           r.UserAgent.ptr(),
		ErrorCode:           r.ErrorCode.ptr(),
		ErrorMessage:        r.ErrorMessage.ptr(),
		RequestID:           r.RequestID.ptr(),
		ReadOnly:            r.ReadOnly.ptr(),
		ManagementEvent:     r.ManagementEvent.ptr(),
		RecipientAccountID:  r.RecipientAccountID.ptr(),
		SharedEventID:       r.SharedEventID.ptr(),
		APIVersion:          r.APIVersion.ptr(),
		VPCEndpointID:       r.VPCEndpointID.ptr(),
		RequestParameters:   refJsonText(r.RequestParameters),
		ResponseElements:    refJsonText(r.ResponseElements),
		AdditionalEventData: refJsonText(r.AdditionalEventData),
		ServiceEventDetails: refJsonText(r.ServiceEventDetails),
		SourceKey:           sourceKey,
		RecordIndex:         index,
		UserIdentity:        refUserIdentity(r.UserIdentity),
		Resources:           refResources(r.Resources),
		TLSDetails:          refTlsDetails(r.TLSDetails),
	}
	e.Notes.InvalidUTF8 = !utf8.Valid(rec)
	refLift(&e, r.ResponseElements, r.RequestParameters)
	if e.EntityID == nil {
		e.EntityID = refChangeSetEntity(r.RequestParameters)
	}
	e.Metering, e.Notes.UnparsedUsage = refMeteringRecords(&e, r.RequestParameters, r.ResponseElements)
	return e, nil
}

func refJsonText(raw json.RawMessage) *string {
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	s := refCompact(raw)
	return &s
}

func refCompact(b []byte) string {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		// Unmarshal already validated b; keep it as it is.
		buf.Reset()
		buf.Write(b)
	}
	if !utf8.Valid(buf.Bytes()) {
		return strings.ToValidUTF8(buf.String(), "\uFFFD")
	}
	return buf.String()
}

func refArray(raw json.RawMessage) ([]json.RawMessage, bool) {
	var list []json.RawMessage
	if raw = bytes.TrimSpace(raw); len(raw) == 0 || raw[0] != '[' || json.Unmarshal(raw, &list) != nil {
		return nil, false
	}
	return list, true
}

func refObject(raw json.RawMessage, dst any) bool {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return false
	}
	return json.Unmarshal(raw, dst) == nil
}

func refUserIdentity(raw json.RawMessage) *UserIdentity {
	var u struct {
		Type, PrincipalID, ARN, AccountID, AccessKeyID, UserName, InvokedBy, IdentityProvider text
		SessionContext                                                                        json.RawMessage
		OnBehalfOf                                                                            json.RawMessage
	}
	if !refObject(raw, &u) {
		return nil
	}
	return &UserIdentity{
		Type: u.Type.ptr(), PrincipalID: u.PrincipalID.ptr(), ARN: u.ARN.ptr(), AccountID: u.AccountID.ptr(),
		AccessKeyID: u.AccessKeyID.ptr(), UserName: u.UserName.ptr(), InvokedBy: u.InvokedBy.ptr(),
		IdentityProvider: u.IdentityProvider.ptr(),
		SessionContext:   refSessionContext(u.SessionContext),
		OnBehalfOf:       refOnBehalfOf(u.OnBehalfOf),
	}
}

func refSessionContext(raw json.RawMessage) *SessionContext {
	var c struct {
		Attributes, SessionIssuer, WebIDFederationData json.RawMessage
		SourceIdentity, EC2RoleDelivery                text
	}
	if !refObject(raw, &c) {
		return nil
	}
	sc := &SessionContext{SourceIdentity: c.SourceIdentity.ptr(), EC2RoleDelivery: c.EC2RoleDelivery.ptr()}
	var a struct {
		CreationDate     text
		MFAAuthenticated flag
	}
	if refObject(c.Attributes, &a) {
		sc.Attributes = &SessionAttributes{MFAAuthenticated: a.MFAAuthenticated.ptr()}
		if t, err := time.Parse(time.RFC3339Nano, a.CreationDate.s); err == nil {
			t = t.UTC().Truncate(time.Millisecond)
			sc.Attributes.CreationDate = &t
		}
	}
	var i struct{ Type, PrincipalID, ARN, AccountID, UserName text }
	if refObject(c.SessionIssuer, &i) {
		sc.SessionIssuer = &SessionIssuer{Type: i.Type.ptr(), PrincipalID: i.PrincipalID.ptr(), ARN: i.ARN.ptr(),
			AccountID: i.AccountID.ptr(), UserName: i.UserName.ptr()}
	}
	var w struct {
		FederatedProvider text
		Attributes        json.RawMessage
	}
	if refObject(c.WebIDFederationData, &w) {
		sc.WebIDFederationData = &WebIDFederationData{FederatedProvider: w.FederatedProvider.ptr(), Attributes: refJsonText(w.Attributes)}
	}
	return sc
}

func refOnBehalfOf(raw json.RawMessage) *OnBehalfOf {
	var o struct{ UserID, IdentityStoreArn text }
	if !refObject(raw, &o) {
		return nil
	}
	return &OnBehalfOf{UserID: o.UserID.ptr(), IdentityStoreARN: o.IdentityStoreArn.ptr()}
}

func refResources(raw json.RawMessage) []Resource {
	list, ok := refArray(raw)
	if !ok {
		return nil
	}
	out := []Resource{} // an array, even [], is an empty list, not null
	for _, item := range list {
		var r struct{ ARN, AccountID, Type text }
		if refObject(item, &r) {
			out = append(out, Resource{ARN: r.ARN.ptr(), AccountID: r.AccountID.ptr(), Type: r.Type.ptr()})
		}
	}
	return out
}

func refTlsDetails(raw json.RawMessage) *TLSDetails {
	var t struct{ TLSVersion, CipherSuite, ClientProvidedHostHeader text }
	if !refObject(raw, &t) {
		return nil
	}
	return &TLSDetails{TLSVersion: t.TLSVersion.ptr(), CipherSuite: t.CipherSuite.ptr(), ClientProvidedHostHeader: t.ClientProvidedHostHeader.ptr()}
}

func refLiftedColumns(e *Event) []struct {
	key string
	dst **string
} {
	return []struct {
		key string
		dst **string
	}{
		{"productCode", &e.ProductCode},
		{"customerIdentifier", &e.CustomerIdentifier},
		{"customerAWSAccountId", &e.CustomerAWSAccountID},
		{"licenseArn", &e.LicenseARN},
		{"agreementId", &e.AgreementID},
		{"agreementRequestId", &e.AgreementRequestID},
		{"changeSetId", &e.ChangeSetID},
		{"entityId", &e.EntityID},
		{"catalog", &e.Catalog},
		{"listingId", &e.ListingID},
		{"productId", &e.ProductID},
	}
}

func refLift(e *Event, payloads ...json.RawMessage) {
	cols := refLiftedColumns(e)
	for _, p := range payloads {
		var m map[string]json.RawMessage
		if !refObject(p, &m) {
			continue
		}
		keys := slices.Sorted(maps.Keys(m))
		for _, col := range cols {
			if *col.dst != nil {
				continue
			}
			for _, k := range keys {
				if !strings.EqualFold(k, col.key) {
					continue
				}
				v := bytes.TrimSpace(m[k])
				if len(v) == 0 || v[0] == '{' || v[0] == '[' {
					continue
				}
				var t text
				if json.Unmarshal(v, &t) == nil && t.ok {
					*col.dst = t.ptr()
					break
				}
			}
		}
	}
}

func refChangeSetEntity(req json.RawMessage) *string {
	if !containsFold(req, "changeset") {
		return nil // the common case, found without decoding anything
	}
	var changes []json.RawMessage
	if !refArrayField(req, "changeSet", &changes) || len(changes) == 0 {
		return nil
	}
	var entity json.RawMessage
	if !refObjectField(changes[0], "entity", &entity) {
		return nil
	}
	var id json.RawMessage
	if !refObjectField(entity, "identifier", &id) {
		return nil
	}
	var t text
	if v := bytes.TrimSpace(id); len(v) == 0 || v[0] == '{' || v[0] == '[' || json.Unmarshal(v, &t) != nil {
		return nil
	}
	return t.ptr()
}

func refObjectField(raw json.RawMessage, key string, dst *json.RawMessage) bool {
	var m map[string]json.RawMessage
	if !refObject(raw, &m) {
		return false
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if strings.EqualFold(k, key) {
			*dst = m[k]
			return true
		}
	}
	return false
}

func refArrayField(raw json.RawMessage, key string, dst *[]json.RawMessage) bool {
	var v json.RawMessage
	if !refObjectField(raw, key, &v) {
		return false
	}
	list, ok := refArray(v)
	*dst = list
	return ok
}

type refUsageRecord struct {
	Timestamp            json.RawMessage `json:"timestamp"`
	CustomerIdentifier   text            `json:"customerIdentifier"`
	CustomerAWSAccountID text            `json:"customerAWSAccountId"`
	Dimension            text            `json:"dimension"`
	Quantity             json.RawMessage `json:"quantity"`
	UsageAllocations     json.RawMessage `json:"usageAllocations"`
	LicenseARN           text            `json:"licenseArn"`
}

func refMeteringRecords(e *Event, req, resp []byte) ([]MeteringRecord, int) {
	if !strings.HasSuffix(e.EventSource, "marketplace.amazonaws.com") {
		return nil, 0
	}
	var m refMetering
	switch e.EventName {
	case "BatchMeterUsage":
		m.batch(e, req, resp)
	case "MeterUsage":
		m.single(e, req, resp)
	}
	return m.rows, m.unparsed
}

type refMetering struct {
	rows     []MeteringRecord
	unparsed int
}

func (m *refMetering) batch(e *Event, req, resp []byte) {
	var rq struct {
		ProductCode  text              `json:"productCode"`
		UsageRecords []json.RawMessage `json:"usageRecords"`
	}
	refObject(req, &rq)
	var rs struct {
		Results            []json.RawMessage `json:"results"`
		UnprocessedRecords []json.RawMessage `json:"unprocessedRecords"`
	}
	responded := refObject(resp, &rs)
	switch {
	case e.ErrorCode != nil || !responded:
		status := StatusFailed
		if e.ErrorCode == nil {
			status = StatusUnknown
		}
		for _, raw := range rq.UsageRecords {
			m.add(e, rq.ProductCode, raw, status, nil)
		}
	default:
		for _, raw := range rs.Results {
			var r struct {
				UsageRecord      json.RawMessage `json:"usageRecord"`
				MeteringRecordID text            `json:"meteringRecordId"`
				Status           text            `json:"status"`
			}
			refObject(raw, &r)
			status := r.Status.s
			if !r.Status.ok || status == "" {
				status = StatusUnknown
			}
			m.add(e, rq.ProductCode, r.UsageRecord, status, r.MeteringRecordID.ptr())
		}
		for _, raw := range rs.UnprocessedRecords {
			m.add(e, rq.ProductCode, raw, StatusUnprocessed, nil)
		}
	}
}

func (m *refMetering) single(e *Event, req, resp []byte) {
	var rq struct {
		ProductCode      text            `json:"productCode"`
		Timestamp        json.RawMessage `json:"timestamp"`
		UsageDimension   text            `json:"usageDimension"`
		UsageQuantity    json.RawMessage `json:"usageQuantity"`
		UsageAllocations json.RawMessage `json:"usageAllocations"`
		DryRun           flag            `json:"dryRun"`
	}
	if !refObject(req, &rq) {
		return
	}
	var rs struct {
		MeteringRecordID text `json:"meteringRecordId"`
	}
	refObject(resp, &rs)
	status := StatusUnknown
	switch {
	case rq.DryRun.ok && rq.DryRun.v:
		status = StatusDryRun
	case e.ErrorCode != nil:
		status = StatusFailed
	case rs.MeteringRecordID.ok:
		status = StatusSuccess
	}
	r := m.row(e, rq.ProductCode, status, rs.MeteringRecordID.ptr())
	r.Dimension = rq.UsageDimension.ptr()
	r.Quantity = m.quantity(rq.UsageQuantity)
	r.UsageTime = m.usageTime(rq.Timestamp)
	r.UsageAllocations = refAllocations(rq.UsageAllocations)
	r.DryRun = rq.DryRun.ptr()
	m.rows = append(m.rows, r)
}

func (m *refMetering) add(e *Event, product text, raw json.RawMessage, status string, id *string) {
	var u refUsageRecord
	refObject(raw, &u)
	r := m.row(e, product, status, id)
	r.CustomerIdentifier = u.CustomerIdentifier.ptr()
	r.CustomerAWSAccountID = u.CustomerAWSAccountID.ptr()
	r.LicenseARN = u.LicenseARN.ptr()
	r.Dimension = u.Dimension.ptr()
	r.Quantity = m.quantity(u.Quantity)
	r.UsageTime = m.usageTime(u.Timestamp)
	r.UsageAllocations = refAllocations(u.UsageAllocations)
	m.rows = append(m.rows, r)
}

func (m *refMetering) row(e *Event, product text, status string, id *string) MeteringRecord {
	r := MeteringRecord{
		EventID: e.EventID, EventTime: e.EventTime, EventName: e.EventName, AWSRegion: e.AWSRegion,
		SellerAccountID: e.RecipientAccountID, ProductCode: product.ptr(), Status: status,
		MeteringRecordID: id, ErrorCode: e.ErrorCode, SourceKey: e.SourceKey,
		Position: len(m.rows), RecordIndex: e.RecordIndex,
	}
	if e.UserIdentity != nil {
		r.CallerARN = e.UserIdentity.ARN
	}
	return r
}

func (m *refMetering) quantity(raw json.RawMessage) *int64 {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if q, ok := parseQuantity(raw); ok {
		return &q
	}
	m.unparsed++
	return nil
}

func (m *refMetering) usageTime(raw json.RawMessage) *time.Time {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if t, ok := parseUsageTime(raw); ok {
		t = t.UTC().Truncate(time.Millisecond)
		return &t
	}
	m.unparsed++
	return nil
}

func refAllocations(raw json.RawMessage) []UsageAllocation {
	list, ok := refArray(raw)
	if !ok {
		return nil
	}
	out := []UsageAllocation{} // an array, even [], is an empty list, not null
	for _, item := range list {
		var a struct {
			AllocatedUsageQuantity json.RawMessage `json:"allocatedUsageQuantity"`
			Tags                   []json.RawMessage
		}
		if !refObject(item, &a) {
			continue
		}
		ua := UsageAllocation{}
		if q := bytes.TrimSpace(a.AllocatedUsageQuantity); len(q) > 0 && string(q) != "null" {
			if v, ok := parseQuantity(q); ok {
				ua.AllocatedUsageQuantity = &v
			}
		}
		if a.Tags != nil { // encoding/json: [] is an empty slice, null or absent nil
			ua.Tags = []Tag{}
		}
		for _, tr := range a.Tags {
			var tg struct{ Key, Value text }
			if refObject(tr, &tg) {
				ua.Tags = append(ua.Tags, Tag{Key: tg.Key.ptr(), Value: tg.Value.ptr()})
			}
		}
		out = append(out, ua)
	}
	return out
}

// sameDecode checks that Decode and refDecode agree on rec: both fail, or both make the
// same event. Their error texts differ only where refDecode's names its Go type.
func sameDecode(t *testing.T, rec []byte) {
	t.Helper()
	got, gerr := Decode(rec, "k", 7)
	want, werr := refDecode(rec, "k", 7)
	if (gerr == nil) != (werr == nil) {
		t.Fatalf("%.300q:\nDecode error %v\nreference error %v", rec, gerr, werr)
	}
	if gerr != nil {
		if !strings.Contains(werr.Error(), "cannot unmarshal") && gerr.Error() != werr.Error() {
			t.Fatalf("%.300q:\nDecode error %v\nreference error %v", rec, gerr, werr)
		}
		return
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		t.Fatalf("%.300q:\nDecode    %s\nreference %s", rec, g, w)
	}
}

// FuzzDecodeMatchesReference: for any input, Decode and the encoding/json decoder it
// replaced agree (see sameDecode).
func FuzzDecodeMatchesReference(f *testing.F) {
	for _, rec := range sampleRecords(f) {
		f.Add(rec)
	}
	for _, rec := range referenceCases {
		f.Add([]byte(rec))
	}
	f.Fuzz(func(t *testing.T, rec []byte) { sameDecode(t, rec) })
}

// referenceCases are the corners where a hand-written reader could part from encoding/json.
var referenceCases = []string{
	`{"eventTime":"2024-01-01T00:00:00Z","EVENTNAME":"Upper","eventname":"lower"}`,
	`{"eventTime":"2024-01-01T00:00:00Z","ev\u0065ntName":"escaped key","\u0065ventSource":"x"}`,
	"{\"eventTime\":\"2024-01-01T00:00:00Z\",\"eventſource\":\"long s\",\"\u212aey\":1}",
	`{"eventTime":"2024-01-01T00:00:00Z","requestParameters":{ "a" : [ 1 , 2 ] , "b":"x y" },"responseElements":  null }`,
	`{"eventTime":"2024-01-01T00:00:00Z","eventSource":"metering-marketplace.amazonaws.com","eventName":"BatchMeterUsage","requestParameters":{"productCode":"p","usageRecords":[{"quantity":1}],"usageRecords":"no"},"responseElements":{"results":{}}}`,
	`{"eventTime":"2024-01-01T00:00:00Z","eventSource":"metering-marketplace.amazonaws.com","eventName":"BatchMeterUsage","requestParameters":{"usageRecords":[{"Quantity":"7","TIMESTAMP":"Apr 19, 2018 4:32:50 PM","usageAllocations":[{"tags":{}},{"tags":[{"key":"k"}],"allocatedUsageQuantity":2},3]}]},"responseElements":{"results":[{"usageRecord":{"quantity":1},"status":null}],"unprocessedRecords":null}}`,
	`{"eventTime":"2024-01-01T00:00:00Z","eventSource":"metering-marketplace.amazonaws.com","eventName":"MeterUsage","requestParameters":{"dryRun":"TRUE","usageQuantity":1.0,"timestamp":1700000000.5},"responseElements":{"meteringRecordId":"m"},"errorCode":"E"}`,
	`{"eventTime":"2024-01-01T00:00:00Z","eventSource":"metering-marketplace.amazonaws.com","eventName":"BatchMeterUsage","requestParameters":{"usageRecords":[{"licenseArn":"a","LicenseArn":"A","customerAWSAccountId":"1"},{"licenseArn":{"x":1}},{"LICENSEARN":7}]},"responseElements":{"results":[{"usageRecord":{"licenseArn":null}}],"unprocessedRecords":[{"licenseArn":"u"}]}}`,
	`{"eventTime":"2024-01-01T00:00:00Z","eventSource":"metering-marketplace.amazonaws.com","eventName":"ResolveCustomer","requestParameters":{"licenseArn":"r","LicenseArn":"R"},"responseElements":{"licenseArn":["x"],"licensearn":"l"}}`,
	`{"eventTime":"2024-01-01T00:00:00Z","requestParameters":{"ProductCode":"P","productcode":"p","agreementId":null,"AgreementId":"a","entityId":{"x":1},"EntityId":"e"},"responseElements":{"productCode":[1]}}`,
	`{"eventTime":"2024-01-01T00:00:00Z","requestParameters":{"changeSet":[{"Entity":{"identifier":"i1","Identifier":"i0"}}],"ChangeSet":[]}}`,
	`{"eventTime":"2024-01-01T00:00:00Z","userIdentity":{"type":"AssumedRole","sessionContext":{"attributes":{"creationDate":"2024-01-01T00:00:00.1234Z","mfaAuthenticated":"false"},"sessionIssuer":"x","webIdFederationData":{"attributes":{"a":1}}},"onBehalfOf":[]},"resources":[{"ARN":"a"},"s",null],"tlsDetails":7}`,
	`{"eventTime":"2024-01-01T00:00:00Z","eventVersion":1.5,"readOnly":true,"managementEvent":"no","errorMessage":"a \"quoted\" \ud800 text","userAgent":"x\u00e9"}`,
	"{\"eventTime\":\"2024-01-01T00:00:00Z\",\"userAgent\":\"bad \xff\",\"k\xff\":1}",
	`null`, `[]`, `"x"`, `1`, ` {"eventTime":"2024-01-01T00:00:00Z"} `, `{"eventTime":"2024-01-01T00:00:00Z"} x`,
	`{"eventTime":"2024-01-01T00:00:00Z",}`, `{"eventTime":"2024-01-01T00:00:00Z","a":01}`, `{"eventTime":"2024-01-01T00:00:00Z","a":-}`,
	`{"eventTime":"2024-01-01T00:00:00Z","a":1.}`, `{"eventTime":"2024-01-01T00:00:00Z","a":1e}`, `{"eventTime":"2024-01-01T00:00:00Z","a":"\x"}`,
	`{"eventTime":"2024-01-01T00:00:00Z","a":"\u12"}`, `{"eventTime":"2024-01-01T00:00:00Z","a":tru}`, `{"eventTime":"2024-01-01T00:00:00Z","a":[1,]}`,
	`{"eventTime":"2024-01-01T00:00:00Z" "a":1}`, `{"eventTime":"2024-01-01T00:00:00Z","a":{1:2}}`, `{"eventTime"`, ``, `   `,
}

// TestDecodeMatchesReference runs sameDecode over the sample trail's records, the corner
// cases, every fuzz seed, and every JSON object in ../shared/realdata when it is there.
func TestDecodeMatchesReference(t *testing.T) {
	recs := sampleRecords(t)
	for _, c := range referenceCases {
		recs = append(recs, []byte(c))
	}
	for _, c := range []string{strings.Repeat("[", 10000) + strings.Repeat("]", 10000), strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
		`{"eventTime":"2024-01-01T00:00:00Z","a":` + strings.Repeat(`{"b":`, 9999) + "1" + strings.Repeat("}", 9999) + "}"} {
		recs = append(recs, []byte(c))
	}
	seeds, _ := filepath.Glob("testdata/fuzz/*/*")
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		// go test fuzz v1 files: each line after the first is a Go literal.
		for _, line := range strings.Split(string(b), "\n")[1:] {
			if v, ok := strings.CutPrefix(line, "[]byte("); ok {
				if u, err := strconv.Unquote(strings.TrimSuffix(v, ")")); err == nil {
					recs = append(recs, []byte(u))
				}
			}
		}
	}
	real := 0
	filepath.WalkDir("../../../shared/realdata", func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.Contains(p, ".json") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.HasSuffix(p, ".gz") {
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				return nil
			}
			if b, err = io.ReadAll(zr); err != nil {
				return nil
			}
		}
		n := len(recs)
		recs = objectsIn(b, recs)
		real += len(recs) - n
		return nil
	})
	if real == 0 {
		t.Log("../shared/realdata is not there: compared the sample and the corner cases only")
	}
	for _, rec := range recs {
		sameDecode(t, rec)
	}
	t.Logf("%d records compared (%d from realdata)", len(recs), real)
}

// objectsIn appends every JSON object in the JSON document b (at any depth) to out.
func objectsIn(b []byte, out [][]byte) [][]byte {
	var walk func(raw json.RawMessage)
	walk = func(raw json.RawMessage) {
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 {
			return
		}
		switch raw[0] {
		case '{':
			out = append(out, raw)
			var m map[string]json.RawMessage
			if json.Unmarshal(raw, &m) == nil {
				for _, v := range m {
					walk(v)
				}
			}
		case '[':
			var l []json.RawMessage
			if json.Unmarshal(raw, &l) == nil {
				for _, v := range l {
					walk(v)
				}
			}
		}
	}
	walk(b)
	return out
}
