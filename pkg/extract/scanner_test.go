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

// validCases are well-formed inputs. The records the Scanner yields must be exactly those
// encoding/json finds (jsonRecords), and, where given, exactly want.
var validCases = []struct {
	name string
	in   string
	want []string
}{
	{"records", `{"Records":[{"a":1},{"b":2}]}`, []string{`{"a":1}`, `{"b":2}`}},
	{"records-pretty", "{\n  \"Records\" : [\n    {\n      \"a\": 1\n    } ,\n\t{ }\r\n  ]\n}\n", []string{"{\n      \"a\": 1\n    }", `{ }`}},
	{"records-empty", `{"Records":[]}`, []string{}},
	{"records-empty-space", "  {  \"Records\"  :  [  ]  }  \n", []string{}},
	{"records-other-keys-after", `{"Records":[{"a":1}],"x":{"Records":[{"b":2}]},"y":[1,"]"],"z":"}","n":-1.5e3,"t":true,"f":null}`, []string{`{"a":1}`}},
	{"records-escaped-key", `{"Rec\u006frds":[{"a":1}]}`, []string{`{"a":1}`}},
	{"array", `[{"a":1},{"b":[2,{"c":3}]}]`, []string{`{"a":1}`, `{"b":[2,{"c":3}]}`}},
	{"array-empty", ` [ ] `, []string{}},
	{"stream-lines", "{\"a\":1}\n{\"b\":2}\n", []string{`{"a":1}`, `{"b":2}`}},
	{"stream-concatenated", `{"a":1}{"b":2} {}`, []string{`{"a":1}`, `{"b":2}`, `{}`}},
	{"stream-first-key-not-records", `{"eventVersion":"1.08","Records":[{"x":1}]}`, []string{`{"eventVersion":"1.08","Records":[{"x":1}]}`}},
	{"stream-empty-object", `{}`, []string{`{}`}},
	{"stream-crlf", "{\"a\":1}\r\n{\"a\":2}\r\n", []string{`{"a":1}`, `{"a":2}`}},
	{"bom", "\ufeff{\"Records\":[{\"a\":1}]}", []string{`{"a":1}`}},
	{"bom-array", "\ufeff[{\"a\":1}]", []string{`{"a":1}`}},
	{"tricky-strings", `{"Records":[{"q":"a\"b","bs":"c:\\","br":"}]{[","u":"\u007d\u005d\"\\","x":"\\\"}"},{"k\"}":"v"}]}`,
		[]string{`{"q":"a\"b","bs":"c:\\","br":"}]{[","u":"\u007d\u005d\"\\","x":"\\\"}"}`, `{"k\"}":"v"}`}},
	{"many-backslashes", `[{"a":"\\\\\\\\","b":"\\\\\\\"}"}]`, []string{`{"a":"\\\\\\\\","b":"\\\\\\\"}"}`}},
	{"nested", `{"Records":[{"a":{"b":[[],[{}],{"c":[1,2,{"d":"}"}]}]}}]}`, []string{`{"a":{"b":[[],[{}],{"c":[1,2,{"d":"}"}]}]}}`}},
	{"non-ascii", `{"Records":[{"m":"It’s ✓ 日本"}]}`, []string{`{"m":"It’s ✓ 日本"}`}},
	{"deep-records", `{"Records":[` + strings.Repeat(`{"a":[`, 4998) + `{}` + strings.Repeat(`]}`, 4998) + `]}`, nil},
	{"deep-max", strings.Repeat(`{"a":`, MaxDepth-1) + `{}` + strings.Repeat(`}`, MaxDepth-1), nil}, // exactly MaxDepth levels
	{"literals-and-numbers", `[{"a":true,"b":false,"c":null,"d":-0.5E+10,"e":[1e3,0]}]`, []string{`{"a":true,"b":false,"c":null,"d":-0.5E+10,"e":[1e3,0]}`}},
}

func TestScannerValid(t *testing.T) {
	for _, tc := range validCases {
		want, err := jsonRecords([]byte(tc.in))
		if err != nil {
			t.Fatalf("%s: encoding/json rejects the test input: %v", tc.name, err)
		}
		if tc.want != nil {
			w := make([][]byte, len(tc.want))
			for i, s := range tc.want {
				w[i] = []byte(s)
			}
			if d := sameRecords(want, w); d != "" {
				t.Fatalf("%s: the test's expectation disagrees with encoding/json: %s", tc.name, d)
			}
		}
		for _, rc := range readerCases {
			t.Run(tc.name+"/"+rc.name, func(t *testing.T) {
				got, err := scanAll(newTestScanner(rc.buf), rc.open(t, []byte(tc.in)))
				if err != nil {
					t.Fatalf("error: %v", err)
				}
				if d := sameRecords(got, want); d != "" {
					t.Fatal(d)
				}
			})
		}
	}
}

// errorCases are malformed inputs, with the error the Scanner must report, a part of its
// message, and how many records come before the error.
var errorCases = []struct {
	name    string
	in      string
	want    error
	msg     string
	records int
}{
	{"empty", ``, ErrNotJSON, "not a CloudTrail JSON file: empty file", 0},
	{"only-space", " \n\t ", ErrNotJSON, "only white space", 0},
	{"html", `<html><body>Access Denied</body></html>`, ErrNotJSON, "not a CloudTrail JSON file: starts with 0x3c '<'", 0},
	{"binary", "\x8b\x00\x01\x02", ErrNotJSON, "starts with 0x8b", 0},
	{"gzip-not-inflated", "\x1f\x8b\x08\x00", ErrNotJSON, "starts with 0x1f", 0},
	{"json-string", `"Records"`, ErrNotJSON, `starts with 0x22 '"'`, 0},
	{"records-string", `{"Records":"x"}`, ErrBadRecords, "Records is a string, not an array", 0},
	{"records-object", `{"Records":{"a":1}}`, ErrBadRecords, "Records is an object, not an array", 0},
	{"records-null", `{"Records":null}`, ErrBadRecords, "Records is null, not an array", 0},
	{"records-twice", `{"Records":[{}],"Records":[{}]}`, ErrBadRecords, "Records appears twice", 1},
	{"record-string", `{"Records":[{"a":1},"x"]}`, ErrBadRecord, "record 1 is a string, not a JSON object", 1},
	{"record-number", `[{},{},12]`, ErrBadRecord, "record 2 is a number, not a JSON object", 2},
	{"record-array", `[[{}]]`, ErrBadRecord, "record 0 is an array, not a JSON object", 0},
	{"stream-non-object", "{\"a\":1}\n[2]\n", ErrBadRecord, "record 1 is an array", 1},
	{"stream-garbage", "{\"a\":1}\nhello\n", ErrBadRecord, "record 1 is invalid JSON starting with 0x68 'h'", 1},
	{"truncated-in-record", `{"Records":[{"a":1},{"b":"x`, io.ErrUnexpectedEOF, "truncated JSON in record 1", 1},
	{"truncated-in-string-escape", `[{"a":"x\`, io.ErrUnexpectedEOF, "truncated JSON in record 0", 0},
	{"truncated-between", `{"Records":[{"a":1},`, io.ErrUnexpectedEOF, "truncated JSON after record 0", 1},
	{"truncated-before-first", `{"Records":[`, io.ErrUnexpectedEOF, "truncated JSON before the first record", 0},
	{"truncated-key", `{"Reco`, io.ErrUnexpectedEOF, "truncated JSON before the first record", 0},
	{"truncated-after-array", `{"Records":[{}]`, io.ErrUnexpectedEOF, "truncated JSON after the Records array", 1},
	{"truncated-stream-record", "{\"a\":1}\n{\"b\":", io.ErrUnexpectedEOF, "truncated JSON in record 1", 1},
	{"truncated-array", `[{}`, io.ErrUnexpectedEOF, "truncated JSON after record 0", 1},
	{"unbalanced", `{"Records":[{"a":[1}]}`, ErrSyntax, "invalid JSON in record 0 at offset 19: unexpected '}' (expected ']')", 0},
	{"bad-byte", `{"Records":[{},{"a":<x>}]}`, ErrSyntax, "invalid JSON in record 1 at offset 20: unexpected byte 0x3c '<' outside a string", 1},
	{"bad-literal", `[{"a":True}]`, ErrSyntax, "unexpected byte 0x54 'T'", 0},
	{"control-byte", "[{\"a\":1,\x00}]", ErrSyntax, "unexpected byte 0x00", 0},
	{"missing-comma", `{"Records":[{} {}]}`, ErrSyntax, "expected ',' or ']', found 0x7b '{'", 1},
	{"trailing-comma", `[{},]`, ErrSyntax, "expected a record after ','", 1},
	{"records-no-colon", `{"Records" [{}]}`, ErrSyntax, `expected ':' after "Records"`, 0},
	{"garbage-after-records", `{"Records":[{}]} x`, ErrTrailingData, "unexpected data after the end of the JSON text at offset 17: 0x78 'x'", 1},
	{"second-file-after-records", `{"Records":[{}]}{"Records":[]}`, ErrTrailingData, "unexpected data", 1},
	{"garbage-after-array", `[{}]]`, ErrTrailingData, "unexpected data", 1},
	{"bad-tail", `{"Records":[{}] "x":1}`, ErrSyntax, "after the Records array", 1},
	{"bad-tail-value", `{"Records":[{}],"x":}`, ErrSyntax, "expected a value", 1},
	{"bad-tail-nested", `{"Records":[{}],"x":[}`, ErrSyntax, "unexpected '}' (expected ']')", 1},
	{"too-deep", `[` + strings.Repeat(`[`, MaxDepth) + `]`, ErrBadRecord, "record 0 is an array", 0},
	{"too-deep-unbalanced", `[{}, ` + strings.Repeat(`{"a":`, MaxDepth+1) + `1` + strings.Repeat(`}`, MaxDepth) + `]`, ErrSyntax, "unexpected ']' (expected '}')", 1},
	{"too-deep-bad-byte", `[` + strings.Repeat(`[`, 1) + strings.Repeat(`{"a":`, MaxDepth+1) + `x`, ErrBadRecord, "record 0 is an array", 0},
	{"too-deep-record-bad-byte", `[` + strings.Repeat(`{"a":`, MaxDepth+1) + `x` + strings.Repeat(`}`, MaxDepth+1) + `]`, ErrSyntax, "unexpected byte 0x78 'x' outside a string", 0},
	{"too-deep-truncated", `[` + strings.Repeat(`{"a":`, MaxDepth+5), io.ErrUnexpectedEOF, "truncated JSON in record 0", 0},
}

func TestScannerErrors(t *testing.T) {
	for _, tc := range errorCases {
		if _, err := jsonRecords([]byte(tc.in)); err == nil {
			t.Fatalf("%s: encoding/json accepts the test input", tc.name)
		}
		var firstMsg string
		for _, rc := range readerCases {
			t.Run(tc.name+"/"+rc.name, func(t *testing.T) {
				if tc.name == "gzip-not-inflated" && strings.HasPrefix(rc.name, "reader") {
					t.Skip("a Reader inflates gzip")
				}
				got, err := scanAll(newTestScanner(rc.buf), rc.open(t, []byte(tc.in)))
				if !errIs(err, tc.want) {
					t.Fatalf("error = %v, want a *ScanError wrapping %v", err, tc.want)
				}
				if !strings.Contains(err.Error(), tc.msg) {
					t.Errorf("error %q does not contain %q", err, tc.msg)
				}
				if firstMsg == "" {
					firstMsg = err.Error()
				} else if err.Error() != firstMsg && !strings.HasPrefix(rc.name, "reader") {
					t.Errorf("message depends on how the input is read:\n%s\n%s", err, firstMsg)
				}
				if len(got) != tc.records {
					t.Errorf("got %d records before the error, want %d", len(got), tc.records)
				}
			})
		}
	}
}

func TestScannerErrorFields(t *testing.T) {
	s := NewScanner(strings.NewReader(`{"Records":[{"a":1},{"b":2},{"c":[1}]}`))
	for s.Next() {
	}
	var se *ScanError
	if !errors.As(s.Err(), &se) {
		t.Fatalf("Err() = %v, want a *ScanError", s.Err())
	}
	if se.Record != 2 || se.Offset != 35 || !errors.Is(se, ErrSyntax) {
		t.Errorf("got Record=%d Offset=%d Err=%v, want record 2 at offset 35, ErrSyntax", se.Record, se.Offset, se.Err)
	}
	if s.Next() || s.Record() != nil {
		t.Error("Next after an error must keep returning false")
	}
}

// A record larger than the maximum record size is skipped without being buffered: it is
// yielded truncated to its head, with its full size, and the scan goes on.
func TestScannerMaxRecordSize(t *testing.T) {
	small := `{"a":"` + strings.Repeat("x", 92) + `"}` // exactly 100 bytes
	big := `{"a":"` + strings.Repeat("y", 93) + `"}`   // 101 bytes
	in := `{"Records":[` + small + `,` + small + `,` + big + `,` + small + `]}`
	for _, rc := range readerCases {
		t.Run(rc.name, func(t *testing.T) {
			s := newTestScanner(rc.buf)
			s.SetMaxRecordSize(100)
			got, trunc, err := scanAllTruncated(s, rc.open(t, []byte(in)))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 4 || string(got[1]) != small || string(got[3]) != small {
				t.Fatalf("got %d records, want 4 with the small ones whole", len(got))
			}
			if tr := trunc[2]; len(trunc) != 1 || tr.cause != ErrRecordTooLarge || tr.size != int64(len(big)) || !strings.HasPrefix(big, string(got[2])) || len(got[2]) == 0 {
				t.Errorf("truncated %v, record 2 %q; want record 2 truncated (too large, %d bytes) to a head of it", trunc, got[2], len(big))
			}
		})
	}
}

// A record nested 100,000 levels deep (within the size limit) is skipped as too deep; the
// scan goes on.
func TestScannerTooDeep(t *testing.T) {
	deep := `{"eventSource":"y","a":` + strings.Repeat(`[`, 100_000) + strings.Repeat(`]`, 100_000) + `}`
	small := `{"n":` + strings.Repeat(`[`, MaxDepth+1) + strings.Repeat(`]`, MaxDepth+1) + `}`
	in := []byte(`[` + deep + `,` + small + `,{"ok":1}]`)
	for _, rc := range readerCases {
		t.Run(rc.name, func(t *testing.T) {
			got, trunc, err := scanAllTruncated(newTestScanner(rc.buf), rc.open(t, in))
			if err != nil {
				t.Fatal(err)
			}
			want := map[int]truncatedRecord{0: {ErrTooDeep, int64(len(deep))}, 1: {ErrTooDeep, int64(len(small))}}
			if len(got) != 3 || string(got[2]) != `{"ok":1}` || len(trunc) != 2 || trunc[0] != want[0] || trunc[1] != want[1] {
				t.Fatalf("%d records, truncated %v; want 3, %v", len(got), trunc, want)
			}
			if string(got[0]) != deep[:TruncatedSize] || string(got[1]) != small {
				t.Errorf("heads are not the records' first %d bytes", TruncatedSize)
			}
		})
	}
}

// TestScannerSkipsHostileRecords: records too large to buffer (with escapes and brackets
// inside strings across every buffer boundary) and records nested far deeper than MaxDepth
// are skipped to their end with bounded memory, and the records after them are read whole.
func TestScannerSkipsHostileRecords(t *testing.T) {
	const limit = 1000
	tricky := `{"eventSource":"x","s":"` + strings.Repeat(`ab\\\"c{}[]\\`, 300) + `","n":[` + strings.Repeat(`{"x":"]"},`, 200) + `{}]}`
	deep := `{"eventSource":"y","a":` + strings.Repeat(`[{"b":`, 50_000) + `"}]"` + strings.Repeat(`}]`, 50_000) + `}`
	after := `{"eventSource":"z"}`
	in := []byte(`{"Records":[` + tricky + `,` + deep + `,` + after + `],"tail":[1]}`)
	if !json.Valid([]byte(tricky)) {
		t.Fatal("the test's large record is not valid JSON")
	}
	for _, rc := range readerCases {
		t.Run(rc.name, func(t *testing.T) {
			if rc.name == "onebyte" || rc.name == "tinybuf" {
				// one byte at a time through 200 KB is slow under -race; "half" and
				// "dataerr" already split every boundary
				if testing.Short() {
					t.Skip()
				}
			}
			s := newTestScanner(rc.buf)
			s.SetMaxRecordSize(limit)
			got, trunc, err := scanAllTruncated(s, rc.open(t, in))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 3 || string(got[2]) != after {
				t.Fatalf("got %d records (last %q), want 3 ending with %s", len(got), got[len(got)-1], after)
			}
			// The deep record is also over the limit: too large wins, however it is read.
			want := map[int]truncatedRecord{0: {ErrRecordTooLarge, int64(len(tricky))}, 1: {ErrRecordTooLarge, int64(len(deep))}}
			if len(trunc) != 2 || trunc[0] != want[0] || trunc[1] != want[1] {
				t.Errorf("truncated %v, want %v", trunc, want)
			}
			for i, r := range []string{tricky, deep} {
				if string(got[i]) != r[:min(len(r), TruncatedSize)] {
					t.Errorf("record %d: head of %d bytes is not the record's first %d bytes", i, len(got[i]), TruncatedSize)
				}
			}
			if len(s.buf) > 2*max(limit, initialBufferSize) {
				t.Errorf("the buffer grew to %d bytes", len(s.buf))
			}
		})
	}
}

// TestScannerLargeRecords makes records larger than the initial buffer, so it must grow, and
// checks that a huge record does not leave its buffer behind after Reset.
func TestScannerLargeRecords(t *testing.T) {
	huge := `{"blob":"` + strings.Repeat(`ab\"c{}[]`, 600_000) + `","n":[` + strings.Repeat(`{"x":1},`, 20_000) + `{}]}`
	in := []byte(`{"Records":[{"small":1},` + huge + `,{"small":2}]}`)
	want, err := jsonRecords(in)
	if err != nil {
		t.Fatal(err)
	}
	s := NewScanner(nil)
	for _, r := range []io.Reader{bytes.NewReader(in), iotest.HalfReader(bytes.NewReader(in))} {
		got, err := scanAll(s, r)
		if err != nil {
			t.Fatal(err)
		}
		if d := sameRecords(got, want); d != "" {
			t.Fatal(d)
		}
	}
	s.SetMaxRecordSize(len(huge) - 1)
	if got, trunc, err := scanAllTruncated(s, bytes.NewReader(in)); err != nil || len(got) != 3 || trunc[1].cause != ErrRecordTooLarge || trunc[1].size != int64(len(huge)) {
		t.Errorf("with a limit one byte short: %d records, truncated %v, error %v; want record 1 truncated", len(got), trunc, err)
	}
	s.Reset(nil)
	if len(s.buf) > keepBufferSize {
		t.Errorf("Reset kept a %d-byte buffer", len(s.buf))
	}
}

// TestScannerManyBuffers scans a synthetic file many times the buffer size, so the buffer is
// refilled and shifted many times, and compares with encoding/json.
func TestScannerManyBuffers(t *testing.T) {
	text, _ := genTrail(7, 3<<20, 0.01, 0.01)
	want, err := jsonRecords(text)
	if err != nil {
		t.Fatal(err)
	}
	for _, rc := range []readerCase{readerCases[0], readerCases[2], readerCases[5], readerCases[6]} {
		t.Run(rc.name, func(t *testing.T) {
			got, err := scanAll(newTestScanner(rc.buf), rc.open(t, text))
			if err != nil {
				t.Fatal(err)
			}
			if d := sameRecords(got, want); d != "" {
				t.Fatal(d)
			}
		})
	}
}

// TestScannerReset reuses one Reader and one Scanner across good and bad objects.
func TestScannerReset(t *testing.T) {
	good := []byte(`{"Records":[{"eventID":"1"},{"eventID":"2","x":"}"}]}`)
	goodGz := gzipBytes(good)
	half := goodGz[:len(goodGz)/2]
	objects := []struct {
		body []byte
		err  error
	}{
		{goodGz, nil},
		{half, io.ErrUnexpectedEOF},
		{good, nil},
		{[]byte(`{"Records":[{"a":[}]}`), ErrSyntax},
		{goodGz, nil},
		{[]byte(`<html>`), ErrNotJSON},
		{good[:30], io.ErrUnexpectedEOF},
		{good, nil},
		{[]byte(`[{"eventID":"3"}]`), nil},
	}
	want, _ := jsonRecords(good)
	var r Reader
	s := NewScanner(nil)
	for i, o := range objects {
		if err := r.Reset(bytes.NewReader(o.body)); err != nil {
			t.Fatalf("object %d: Reset: %v", i, err)
		}
		got, err := scanAll(s, &r)
		if o.err != nil {
			if !errors.Is(err, o.err) {
				t.Errorf("object %d: error = %v, want %v", i, err, o.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("object %d: %v", i, err)
		}
		if i == len(objects)-1 {
			want = [][]byte{[]byte(`{"eventID":"3"}`)}
		}
		if d := sameRecords(got, want); d != "" {
			t.Errorf("object %d: %s", i, d)
		}
	}
}

func TestScannerResetNoAlloc(t *testing.T) {
	text := []byte(`{"Records":[{"a":1},{"b":2}]}`)
	gz := gzipBytes(text)
	var r Reader
	s := NewScanner(nil)
	br := bytes.NewReader(gz)
	run := func() {
		br.Reset(gz)
		if err := r.Reset(br); err != nil {
			t.Fatal(err)
		}
		s.Reset(&r)
		n := 0
		for s.Next() {
			n++
		}
		if s.Err() != nil || n != 2 {
			t.Fatalf("n=%d err=%v", n, s.Err())
		}
	}
	run()
	if a := testing.AllocsPerRun(20, run); a != 0 {
		t.Errorf("scanning a small object with reused Reader and Scanner: %v allocations, want 0", a)
	}
}

func TestScannerRecordIsSubslice(t *testing.T) {
	// A caller appending to a record must not overwrite the bytes after it.
	s := NewScanner(strings.NewReader(`[{"a":1},{"b":2}]`))
	s.Next()
	rec := s.Record()
	if cap(rec) != len(rec) {
		t.Errorf("cap(Record()) = %d, want %d", cap(rec), len(rec))
	}
	_ = append(rec, 'x')
	s.Next()
	if string(s.Record()) != `{"b":2}` {
		t.Errorf("second record = %q", s.Record())
	}
}

func TestScannerNoReader(t *testing.T) {
	s := NewScanner(nil)
	if s.Next() {
		t.Fatal("Next with no reader returned true")
	}
	if s.Err() == nil {
		t.Fatal("Next with no reader: no error")
	}
}

// errAfter returns its data and then a non-EOF error.
type errAfter struct {
	data []byte
	err  error
}

func (e *errAfter) Read(p []byte) (int, error) {
	if len(e.data) == 0 {
		return 0, e.err
	}
	n := copy(p, e.data)
	e.data = e.data[n:]
	return n, nil
}

func TestScannerReadError(t *testing.T) {
	boom := errors.New("connection reset")
	s := NewScanner(&errAfter{data: []byte(`{"Records":[{"a":1},{"b":`), err: boom})
	n := 0
	for s.Next() {
		n++
	}
	err := s.Err()
	if !errors.Is(err, boom) || n != 1 {
		t.Fatalf("n=%d err=%v, want 1 record then %v", n, err, boom)
	}
	if !strings.Contains(err.Error(), "connection reset, in record 1") {
		t.Errorf("message %q does not name the record", err)
	}
}
