package marketplace

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrBadEvent is wrapped by Decode's errors: the record is JSON but cannot become a row.
var ErrBadEvent = errors.New("unusable event")

// record is the shape Decode reads a CloudTrail record into. Scalars are read leniently
// (real logs put numbers, booleans and "True" where strings or booleans belong); payloads
// are kept as raw JSON.
type record struct {
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

// Decode turns one raw CloudTrail record into an Event. sourceKey and index say where the
// record came from. It fails, wrapping ErrBadEvent, when the record is not a JSON object or
// its eventTime is missing or not an RFC 3339 time; the caller decides what becomes of it.
func Decode(rec []byte, sourceKey string, index int) (Event, error) {
	var r record
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
		RequestParameters:   jsonText(r.RequestParameters),
		ResponseElements:    jsonText(r.ResponseElements),
		AdditionalEventData: jsonText(r.AdditionalEventData),
		ServiceEventDetails: jsonText(r.ServiceEventDetails),
		SourceKey:           sourceKey,
		RecordIndex:         index,
		UserIdentity:        userIdentity(r.UserIdentity),
		Resources:           resources(r.Resources),
		TLSDetails:          tlsDetails(r.TLSDetails),
	}
	e.Notes.InvalidUTF8 = !utf8.Valid(rec)
	lift(&e, r.ResponseElements, r.RequestParameters)
	if e.EntityID == nil {
		e.EntityID = changeSetEntity(r.RequestParameters)
	}
	e.Metering, e.Notes.UnparsedUsage = meteringRecords(&e, r.RequestParameters, r.ResponseElements)
	return e, nil
}

// text is a scalar read as text: a JSON string as its value, a number or boolean as its
// literal, an object or array as compact JSON; null or absent is not ok.
type text struct {
	s  string
	ok bool
}

func (t *text) UnmarshalJSON(b []byte) error {
	switch {
	case bytes.Equal(b, []byte("null")):
		*t = text{}
	case len(b) > 1 && b[0] == '"':
		// Most strings have no escapes: take their bytes as they are (the decoder calling
		// this has already checked b is a JSON string). Others go through encoding/json,
		// which also turns invalid UTF-8 into U+FFFD.
		if inner := b[1 : len(b)-1]; bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
			*t = text{string(inner), true}
			return nil
		}
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = text{s, true}
	default:
		*t = text{compact(b), true}
	}
	return nil
}

func (t text) ptr() *string {
	if !t.ok {
		return nil
	}
	return &t.s
}

// flag is a boolean that also accepts the string forms real logs contain ("true", "True").
type flag struct {
	v, ok bool
}

func (f *flag) UnmarshalJSON(b []byte) error {
	switch strings.ToLower(strings.Trim(string(b), `"`)) {
	case "true":
		*f = flag{true, true}
	case "false":
		*f = flag{false, true}
	default: // null, "", or anything else: unknown
		*f = flag{}
	}
	return nil
}

func (f flag) ptr() *bool {
	if !f.ok {
		return nil
	}
	return &f.v
}

// jsonText returns a payload as compact JSON text in logged key order, or nil when it is
// absent or JSON null. A payload logged as a JSON string stays that string's JSON text,
// quotes included. Invalid UTF-8 becomes U+FFFD, since Parquet readers reject it.
func jsonText(raw json.RawMessage) *string {
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	s := compact(raw)
	return &s
}

func compact(b []byte) string {
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
