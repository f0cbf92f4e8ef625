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

// The members of a CloudTrail record Decode reads, by index into recordFields. Scalars are
// read leniently (real logs put numbers, booleans and "True" where strings or booleans
// belong); payloads are kept as raw JSON.
const (
	rfEventVersion = iota
	rfEventTime
	rfEventSource
	rfEventName
	rfEventType
	rfEventCategory
	rfAWSRegion
	rfSourceIPAddress
	rfUserAgent
	rfErrorCode
	rfErrorMessage
	rfRequestID
	rfEventID
	rfReadOnly
	rfManagementEvent
	rfRecipientAccountID
	rfSharedEventID
	rfAPIVersion
	rfVPCEndpointID
	rfRequestParameters
	rfResponseElements
	rfAdditionalEventData
	rfServiceEventDetails
	rfUserIdentity
	rfResources
	rfTLSDetails
	rfCount
)

var recordFields = [rfCount]field{
	rfEventVersion:        {name: "eventVersion"},
	rfEventTime:           {name: "eventTime"},
	rfEventSource:         {name: "eventSource"},
	rfEventName:           {name: "eventName"},
	rfEventType:           {name: "eventType"},
	rfEventCategory:       {name: "eventCategory"},
	rfAWSRegion:           {name: "awsRegion"},
	rfSourceIPAddress:     {name: "sourceIPAddress"},
	rfUserAgent:           {name: "userAgent"},
	rfErrorCode:           {name: "errorCode"},
	rfErrorMessage:        {name: "errorMessage"},
	rfRequestID:           {name: "requestID"},
	rfEventID:             {name: "eventID"},
	rfReadOnly:            {name: "readOnly"},
	rfManagementEvent:     {name: "managementEvent"},
	rfRecipientAccountID:  {name: "recipientAccountId"},
	rfSharedEventID:       {name: "sharedEventID"},
	rfAPIVersion:          {name: "apiVersion"},
	rfVPCEndpointID:       {name: "vpcEndpointId"},
	rfRequestParameters:   {name: "requestParameters"},
	rfResponseElements:    {name: "responseElements"},
	rfAdditionalEventData: {name: "additionalEventData"},
	rfServiceEventDetails: {name: "serviceEventDetails"},
	rfUserIdentity:        {name: "userIdentity"},
	rfResources:           {name: "resources"},
	rfTLSDetails:          {name: "tlsDetails"},
}

// Decode turns one raw CloudTrail record into an Event. sourceKey and index say where the
// record came from. It fails, wrapping ErrBadEvent, when the record is not a JSON object or
// its eventTime is missing or not an RFC 3339 time; the caller decides what becomes of it.
func Decode(rec []byte, sourceKey string, index int) (Event, error) {
	if !checkJSON(rec) {
		// Not JSON: let encoding/json say what is wrong, in its words.
		var v struct{}
		err := json.Unmarshal(rec, &v)
		if err == nil {
			err = errors.New("invalid JSON")
		}
		return Event{}, fmt.Errorf("%w: record %d: %v", ErrBadEvent, index, err)
	}
	var r [rfCount][]byte
	if isObject, _ := fields(rec, recordFields[:], r[:]); !isObject && !isNull(trimmed(rec)) {
		return Event{}, fmt.Errorf("%w: record %d: not a JSON object", ErrBadEvent, index)
	}
	eventTime := textOf(r[rfEventTime])
	if !eventTime.ok {
		return Event{}, fmt.Errorf("%w: record %d: no eventTime", ErrBadEvent, index)
	}
	t, err := time.Parse(time.RFC3339Nano, eventTime.s)
	if err != nil {
		return Event{}, fmt.Errorf("%w: record %d: eventTime %q is not an RFC 3339 time", ErrBadEvent, index, eventTime.s)
	}
	req, resp := r[rfRequestParameters], r[rfResponseElements]
	e := Event{
		EventID:             textOf(r[rfEventID]).ptr(),
		EventTime:           t.UTC().Truncate(time.Millisecond),
		EventVersion:        textOf(r[rfEventVersion]).ptr(),
		EventSource:         textOf(r[rfEventSource]).s,
		EventName:           textOf(r[rfEventName]).s,
		EventType:           textOf(r[rfEventType]).ptr(),
		EventCategory:       textOf(r[rfEventCategory]).ptr(),
		AWSRegion:           textOf(r[rfAWSRegion]).ptr(),
		SourceIPAddress:     textOf(r[rfSourceIPAddress]).ptr(),
		UserAgent:           textOf(r[rfUserAgent]).ptr(),
		ErrorCode:           textOf(r[rfErrorCode]).ptr(),
		ErrorMessage:        textOf(r[rfErrorMessage]).ptr(),
		RequestID:           textOf(r[rfRequestID]).ptr(),
		ReadOnly:            flagOf(r[rfReadOnly]).ptr(),
		ManagementEvent:     flagOf(r[rfManagementEvent]).ptr(),
		RecipientAccountID:  textOf(r[rfRecipientAccountID]).ptr(),
		SharedEventID:       textOf(r[rfSharedEventID]).ptr(),
		APIVersion:          textOf(r[rfAPIVersion]).ptr(),
		VPCEndpointID:       textOf(r[rfVPCEndpointID]).ptr(),
		RequestParameters:   jsonText(req),
		ResponseElements:    jsonText(resp),
		AdditionalEventData: jsonText(r[rfAdditionalEventData]),
		ServiceEventDetails: jsonText(r[rfServiceEventDetails]),
		SourceKey:           sourceKey,
		RecordIndex:         index,
		UserIdentity:        userIdentity(r[rfUserIdentity]),
		Resources:           resources(r[rfResources]),
		TLSDetails:          tlsDetails(r[rfTLSDetails]),
	}
	e.Notes.InvalidUTF8 = !utf8.Valid(rec)
	lift(&e, resp, req)
	if e.EntityID == nil {
		e.EntityID = changeSetEntity(req)
	}
	e.Metering, e.Notes.UnparsedUsage = meteringRecords(&e, req, resp)
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

// hasSpace reports whether the valid JSON b has whitespace outside its strings.
func hasSpace(b []byte) bool {
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			i = stringEnd(b, i) - 1
		case ' ', '\n', '\r', '\t':
			return true
		}
	}
	return false
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
func jsonText(raw []byte) *string {
	if len(raw) == 0 || isNull(raw) {
		return nil
	}
	s := compact(raw)
	return &s
}

// compact returns the valid JSON b without insignificant whitespace, as json.Compact would,
// and with invalid UTF-8 replaced.
func compact(b []byte) string {
	if !hasSpace(b) && utf8.Valid(b) {
		return string(b) // CloudTrail writes compact JSON: the common case
	}
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
