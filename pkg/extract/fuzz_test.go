package extract

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// FuzzScanner checks that the Scanner never panics or hangs, that how the input is read (all at
// once, or one byte at a time through a buffer that starts at one byte) changes nothing, and
// that on input encoding/json can read it yields exactly the records encoding/json finds.
func FuzzScanner(f *testing.F) {
	for _, tc := range validCases {
		if len(tc.in) < 1000 {
			f.Add([]byte(tc.in))
		}
	}
	for _, tc := range errorCases {
		if len(tc.in) < 1000 {
			f.Add([]byte(tc.in))
		}
	}
	text, _ := genTrail(1, 3000, 0.3, 0.3)
	f.Add(text)
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, trunc, err := scanAllTruncated(NewScanner(nil), bytes.NewReader(data))
		from := 0
		for i, rec := range recs {
			if tr, ok := trunc[i]; ok {
				// Only nesting deeper than MaxDepth truncates a record this small.
				if tr.cause != ErrTooDeep || len(rec) != int(min(tr.size, TruncatedSize)) || rec[0] != '{' {
					t.Fatalf("record %d truncated (%v, %d bytes) to %d bytes", i, tr.cause, tr.size, len(rec))
				}
			} else if len(rec) < 2 || rec[0] != '{' || rec[len(rec)-1] != '}' {
				t.Fatalf("record %d is not framed by braces: %q", i, rec)
			}
			k := bytes.Index(data[from:], rec)
			if k < 0 {
				t.Fatalf("record %d is not a part of the input after the previous record: %q", i, rec)
			}
			from += k + len(rec)
		}
		if err != nil {
			var se *ScanError
			if !errors.As(err, &se) {
				t.Fatalf("error %v (%T) is not a *ScanError", err, err)
			}
			known := false
			for _, e := range []error{ErrNotJSON, ErrBadRecords, ErrBadRecord, ErrRecordTooLarge, ErrSyntax, ErrTrailingData, io.ErrUnexpectedEOF} {
				known = known || errors.Is(err, e)
			}
			if !known || se.Offset < 0 || se.Offset > int64(len(data)) {
				t.Fatalf("unexpected error %v (offset %d)", err, se.Offset)
			}
		}

		recs2, trunc2, err2 := scanAllTruncated(newTestScanner(1), iotest.OneByteReader(bytes.NewReader(data)))
		if d := sameRecords(recs2, recs); d != "" {
			t.Fatalf("one byte at a time: %s", d)
		}
		if len(trunc) != len(trunc2) {
			t.Fatalf("one byte at a time: truncated %v, all at once: %v", trunc2, trunc)
		}
		for i, tr := range trunc {
			if trunc2[i] != tr {
				t.Fatalf("one byte at a time: truncated %v, all at once: %v", trunc2, trunc)
			}
		}
		if (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) {
			t.Fatalf("one byte at a time: error %v, all at once: %v", err2, err)
		}

		want, werr := jsonRecords(data)
		switch {
		case werr == nil:
			if err != nil {
				t.Fatalf("encoding/json reads %d records, the Scanner fails: %v", len(want), err)
			}
			if d := sameRecords(recs, want); d != "" {
				t.Fatalf("differs from encoding/json: %s", d)
			}
		case werr == ErrNotJSON || werr == ErrBadRecords || werr == ErrBadRecord || werr == ErrTrailingData:
			// Valid JSON that is not a record container.
			if err == nil {
				t.Fatalf("the Scanner accepts input that is valid JSON but not a record container (%v)", werr)
			}
		}
	})
}

// FuzzTopLevelString checks TopLevelString against encoding/json on valid objects, and that it
// never panics otherwise.
func FuzzTopLevelString(f *testing.F) {
	f.Add([]byte(`{"eventID":"abc"}`), "eventID")
	f.Add([]byte(`{"a":{"eventID":"x"},"eventID":"y\u00e9\"","eventID":"z"}`), "eventID")
	f.Add([]byte(`{"event\u0053ource":"s"}`), "eventSource")
	f.Add([]byte(`{"s":"\ud83d\ude00\ud800x\\"}`), "s")
	f.Add([]byte(`{"k":[1,{"k":"v"},"]"],"k2":null}`), "k")
	f.Add([]byte("{\"\xff\":\"\xfe\"}"), "\ufffd")
	f.Fuzz(func(t *testing.T, data []byte, key string) {
		got, ok := TopLevelString(data, key)
		if !json.Valid(data) {
			return
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(data, &m) != nil {
			return // not an object
		}
		raw, present := m[key]
		var want string
		wantOK := present && len(raw) > 0 && raw[0] == '"' && json.Unmarshal(raw, &want) == nil
		if ok != wantOK || got != want {
			t.Fatalf("TopLevelString(%q, %q) = %q, %v; encoding/json: %q, %v", data, key, got, ok, want, wantOK)
		}
	})
}

// FuzzFilter checks the default and an explicit Filter against encoding/json on valid
// objects, allowing only for the documented limitation of the pre-filter (the needle must be
// in the raw bytes).
func FuzzFilter(f *testing.F) {
	for _, s := range []string{
		`{"eventSource":"metering-marketplace.amazonaws.com"}`,
		`{"userIdentity":{"invokedBy":"metering-marketplace.amazonaws.com"},"eventSource":"sts.amazonaws.com"}`,
		`{"requestParameters":{"eventSource":"aws-marketplace.amazonaws.com"},"eventSource":"s3.amazonaws.com"}`,
		`{"insightDetails":{"eventSource":"marketplacecatalog.amazonaws.com"},"eventType":"AwsCloudTrailInsight"}`,
		`{"eventSource":"metering-marketplace.amazonaws\u002ecom"}`,
		`{"eventSource":"marketplace.example.com"}`,
		`{"eventSource":"s3.amazonaws.com","x":"marketplace"}`,
	} {
		f.Add([]byte(s))
	}
	sources := []string{"s3.amazonaws.com", "metering-marketplace.amazonaws.com"}
	def, explicit := NewFilter(nil), NewFilter(sources)
	f.Fuzz(func(t *testing.T, data []byte) {
		src, ok := def.Match(data)
		src2, ok2 := explicit.Match(data)
		if ok {
			if es, _ := TopLevelString(data, "eventSource"); es != src {
				t.Fatalf("Match returned %q, TopLevelString %q", src, es)
			}
		}
		if !json.Valid(data) {
			return
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(data, &m) != nil {
			return
		}
		raw := m["eventSource"]
		var es string
		isString := len(raw) > 0 && raw[0] == '"' && json.Unmarshal(raw, &es) == nil

		want := isString && strings.Contains(es, "marketplace") && strings.HasSuffix(es, ".amazonaws.com") &&
			bytes.Contains(data, []byte("marketplace"))
		if ok != want || (ok && src != es) {
			t.Fatalf("default Match(%q) = %q, %v; encoding/json finds eventSource %q (want %v)", data, src, ok, es, want)
		}
		want2 := isString && (es == sources[0] || es == sources[1]) &&
			(bytes.Contains(data, []byte(sources[0])) || bytes.Contains(data, []byte(sources[1])))
		if ok2 != want2 || (ok2 && src2 != es) {
			t.Fatalf("explicit Match(%q) = %q, %v; encoding/json finds eventSource %q (want %v)", data, src2, ok2, es, want2)
		}
	})
}
