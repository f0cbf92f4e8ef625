package marketplace

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestDecodeHostile: what Decode makes of hostile records. Those it cannot read fail with
// ErrBadEvent (the pipeline quarantines them); the rest become rows, read leniently and
// with valid UTF-8.
func TestDecodeHostile(t *testing.T) {
	const ev = `"eventTime":"2024-03-01T01:00:00Z","eventSource":"metering-marketplace.amazonaws.com"`
	bad := map[string]string{
		"nesting 100,000 deep":    `{` + ev + `,"requestParameters":` + strings.Repeat(`[`, 100_000) + strings.Repeat(`]`, 100_000) + `}`,
		"raw NUL in a string":     "{" + ev + ",\"userAgent\":\"a\x00b\"}",
		"eventTime a number":      `{"eventTime":12345}`,
		"eventTime a path":        `{"eventTime":"../../x"}`,
		"eventTime date and dots": `{"eventTime":"2024-01-01/../../.."}`,
		"eventTime an object":     `{"eventTime":{"t":"2024-01-01T00:00:00Z"}}`,
	}
	for name, rec := range bad {
		if _, err := Decode([]byte(rec), "k", 3); !errors.Is(err, ErrBadEvent) || !strings.Contains(err.Error(), "record 3") {
			t.Errorf("%s: error %v, want ErrBadEvent naming record 3", name, err)
		}
	}

	e, err := Decode([]byte("{"+ev+",\"userAgent\":\"bad \xff\xfe\",\"eventName\":\"\\u0000x\",\"requestParameters\":{\"\xc3\":\"\xed\xa0\x80\"}}"), "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !e.Notes.InvalidUTF8 || !utf8.ValidString(*e.UserAgent) || !utf8.ValidString(*e.RequestParameters) || e.EventName != "\x00x" {
		t.Errorf("invalid UTF-8: notes %+v, user agent %q, request %q, name %q", e.Notes, *e.UserAgent, *e.RequestParameters, e.EventName)
	}

	e, err = Decode([]byte(`{`+ev+`,"eventName":"A","eventName":"B","readOnly":"True","managementEvent":"FALSE","requestParameters":"a string","responseElements":42,"errorCode":404,"eventTime":"2024-03-02T00:00:00Z"}`), "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case e.EventName != "B":
		t.Errorf("duplicate eventName: %q, want the last", e.EventName)
	case e.EventTime.Day() != 2:
		t.Errorf("duplicate eventTime: %v, want the last", e.EventTime)
	case e.ReadOnly == nil || !*e.ReadOnly || e.ManagementEvent == nil || *e.ManagementEvent:
		t.Errorf("readOnly %v, managementEvent %v", e.ReadOnly, e.ManagementEvent)
	case *e.RequestParameters != `"a string"` || *e.ResponseElements != `42` || *e.ErrorCode != "404":
		t.Errorf("request %s, response %s, error code %s", *e.RequestParameters, *e.ResponseElements, *e.ErrorCode)
	}
}
