package extract

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"
)

// scanAll runs a Scanner over r and returns copies of the records it yields and its error.
func scanAll(s *Scanner, r io.Reader) ([][]byte, error) {
	recs, _, err := scanAllTruncated(s, r)
	return recs, err
}

// truncatedRecord describes a record the Scanner yielded truncated.
type truncatedRecord struct {
	cause error
	size  int64
}

// scanAllTruncated is scanAll that also returns, by record index, the records yielded
// truncated (whose element of recs is only the record's head).
func scanAllTruncated(s *Scanner, r io.Reader) ([][]byte, map[int]truncatedRecord, error) {
	s.Reset(r)
	var recs [][]byte
	trunc := map[int]truncatedRecord{}
	for s.Next() {
		if s.Index() != len(recs) {
			return recs, trunc, fmt.Errorf("Index() = %d, want %d", s.Index(), len(recs))
		}
		if cause, size := s.Truncated(); cause != nil {
			trunc[len(recs)] = truncatedRecord{cause, size}
		}
		recs = append(recs, bytes.Clone(s.Record()))
	}
	return recs, trunc, s.Err()
}

// readerCase is one way of feeding text to a Scanner.
type readerCase struct {
	name string
	open func(t testing.TB, text []byte) io.Reader
	buf  int // initial Scanner buffer size; 0 for the default
}

// readerCases feeds text whole, in small pieces, through a tiny buffer that must grow and
// shift, and through a Reader both plain and gzipped, so that every refill boundary in the
// Scanner gets exercised.
var readerCases = []readerCase{
	{name: "whole", open: func(_ testing.TB, b []byte) io.Reader { return bytes.NewReader(b) }},
	{name: "onebyte", open: func(_ testing.TB, b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) }},
	{name: "half", open: func(_ testing.TB, b []byte) io.Reader { return iotest.HalfReader(bytes.NewReader(b)) }, buf: 7},
	{name: "tinybuf", open: func(_ testing.TB, b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) }, buf: 1},
	{name: "dataerr", open: func(_ testing.TB, b []byte) io.Reader { return iotest.DataErrReader(bytes.NewReader(b)) }, buf: 16},
	{name: "reader-plain", open: func(t testing.TB, b []byte) io.Reader { return openReader(t, bytes.NewReader(b)) }},
	{name: "reader-gzip", open: func(t testing.TB, b []byte) io.Reader { return openReader(t, bytes.NewReader(gzipBytes(b))) }, buf: 64},
}

// newTestScanner returns a Scanner with the given initial buffer size (0: default).
func newTestScanner(bufSize int) *Scanner {
	s := NewScanner(nil)
	if bufSize > 0 {
		s.bufSize = bufSize
	}
	return s
}

func openReader(t testing.TB, src io.Reader) *Reader {
	t.Helper()
	r := new(Reader)
	if err := r.Reset(src); err != nil {
		t.Fatalf("Reader.Reset: %v", err)
	}
	return r
}

// gzipBytes compresses b with the standard library's encoder, independent of the decoder
// under test.
func gzipBytes(b []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	w.Write(b)
	w.Close()
	return out.Bytes()
}

// jsonRecords is the ground truth for the Scanner: it finds the records of text with
// encoding/json, following the container rules the Scanner documents. The records it returns
// are exact sub-slices of text. It returns an error when the Scanner should fail.
func jsonRecords(text []byte) ([][]byte, error) {
	text = bytes.TrimPrefix(text, bom[:])
	dec := json.NewDecoder(bytes.NewReader(text))
	var vals []json.RawMessage
	for {
		var v json.RawMessage
		err := dec.Decode(&v)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		vals = append(vals, v)
	}
	if len(vals) == 0 {
		return nil, ErrNotJSON
	}
	var elems []json.RawMessage
	switch vals[0][0] {
	case '[':
		if len(vals) > 1 {
			return nil, ErrTrailingData
		}
		if err := json.Unmarshal(vals[0], &elems); err != nil {
			return nil, err
		}
	case '{':
		keys, values, err := objectKeys(vals[0])
		if err != nil {
			return nil, err
		}
		if len(keys) == 0 || keys[0] != "Records" {
			elems = vals // a stream of events
			break
		}
		if len(vals) > 1 {
			return nil, ErrTrailingData
		}
		for _, k := range keys[1:] {
			if k == "Records" {
				return nil, ErrBadRecords
			}
		}
		if values[0][0] != '[' {
			return nil, ErrBadRecords
		}
		if err := json.Unmarshal(values[0], &elems); err != nil {
			return nil, err
		}
	default:
		return nil, ErrNotJSON
	}
	recs := make([][]byte, 0, len(elems))
	for _, e := range elems {
		if e[0] != '{' {
			return nil, ErrBadRecord
		}
		recs = append(recs, e)
	}
	return recs, nil
}

// objectKeys returns the decoded keys of a JSON object in order, with their raw values.
func objectKeys(obj []byte) (keys []string, values []json.RawMessage, err error) {
	dec := json.NewDecoder(bytes.NewReader(obj))
	if _, err := dec.Token(); err != nil {
		return nil, nil, err
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, err
		}
		keys = append(keys, tok.(string))
		values = append(values, v)
	}
	return keys, values, nil
}

// sameRecords reports how got and want differ, or "".
func sameRecords(got, want [][]byte) string {
	if len(got) != len(want) {
		return fmt.Sprintf("got %d records, want %d", len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			return fmt.Sprintf("record %d:\n got %.200q\nwant %.200q", i, got[i], want[i])
		}
	}
	return ""
}

// Synthetic CloudTrail text for benchmarks and large-input tests.

var commonSources = []string{
	"ec2.amazonaws.com", "s3.amazonaws.com", "iam.amazonaws.com", "sts.amazonaws.com",
	"kms.amazonaws.com", "ssm.amazonaws.com", "lambda.amazonaws.com", "logs.amazonaws.com",
	"monitoring.amazonaws.com", "dynamodb.amazonaws.com", "cloudtrail.amazonaws.com",
}

var marketplaceEvents = [][2]string{
	{"metering-marketplace.amazonaws.com", "MeterUsage"},
	{"metering-marketplace.amazonaws.com", "BatchMeterUsage"},
	{"agreement-marketplace.amazonaws.com", "AcceptAgreementRequest"},
	{"marketplacecatalog.amazonaws.com", "StartChangeSet"},
	{"discovery-marketplace.amazonaws.com", "SearchListings"},
}

var userAgents = []string{
	"aws-sdk-go-v2/1.30.3 os/linux lang/go#1.22.5 md/GOOS#linux md/GOARCH#amd64 api/ec2#1.171.0",
	"Boto3/1.34.144 md/Botocore#1.34.144 ua/2.0 os/linux#5.10.219 md/arch#x86_64 lang/python#3.11.9 cfg/retry-mode#legacy Botocore/1.34.144",
	"AWS Internal",
	"console.amazonaws.com",
	"aws-cli/2.17.13 md/awscrt#0.20.11 ua/2.0 os/macos#23.5.0 md/arch#arm64 lang/python#3.11.9 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe sid/c4b2b0f3d8e2 command/s3.cp",
}

// genEvent appends one synthetic CloudTrail event (about 1.5 KB) to b. kind 1 makes it a
// Marketplace event, kind 2 a decoy that mentions Marketplace only in nested fields.
func genEvent(b []byte, rng *rand.Rand, kind int) []byte {
	src := commonSources[rng.IntN(len(commonSources))]
	name := []string{"DescribeInstances", "GetObject", "AssumeRole", "Decrypt", "GetParameter", "PutMetricData"}[rng.IntN(6)]
	if kind == 1 {
		ev := marketplaceEvents[rng.IntN(len(marketplaceEvents))]
		src, name = ev[0], ev[1]
	}
	acct := fmt.Sprintf("%012d", rng.Int64N(1e12))
	id := fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", rng.Uint32(), rng.IntN(1<<16), rng.IntN(1<<16), rng.IntN(1<<16), rng.Int64N(1<<48))
	invokedBy := ""
	if kind == 2 {
		invokedBy = `,"invokedBy":"metering-marketplace.amazonaws.com"`
	}
	b = fmt.Appendf(b, `{"eventVersion":"1.09","userIdentity":{"type":"AssumedRole","principalId":"AROA%s:session-%d","arn":"arn:aws:sts::%s:assumed-role/Role-%d/session-%d","accountId":"%s","accessKeyId":"ASIA%X","sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROA%s","arn":"arn:aws:iam::%s:role/Role-%d","accountId":"%s","userName":"Role-%d"},"attributes":{"creationDate":"2024-07-1%dT0%d:12:45Z","mfaAuthenticated":"false"}}%s},`,
		acct, rng.IntN(1000), acct, rng.IntN(50), rng.IntN(1000), acct, rng.Uint64(), acct, acct, rng.IntN(50), acct, rng.IntN(50), rng.IntN(10), rng.IntN(10), invokedBy)
	b = fmt.Appendf(b, `"eventTime":"2024-07-1%dT0%d:%02d:%02dZ","eventSource":"%s","eventName":"%s","awsRegion":"us-east-1","sourceIPAddress":"%d.%d.%d.%d","userAgent":"%s",`,
		rng.IntN(10), rng.IntN(10), rng.IntN(60), rng.IntN(60), src, name, rng.IntN(256), rng.IntN(256), rng.IntN(256), rng.IntN(256), userAgents[rng.IntN(len(userAgents))])
	switch {
	case kind == 1:
		b = fmt.Appendf(b, `"requestParameters":{"productCode":"%x","timestamp":"Jul 1%d, 2024 4:32:50 PM","usageDimension":"Hosts","usageQuantity":%d,"dryRun":false},"responseElements":{"meteringRecordId":"%x"},`,
			rng.Uint64(), rng.IntN(10), rng.IntN(100), rng.Uint64())
	case kind == 2:
		b = append(b, `"requestParameters":{"aWSServiceName":"license-management.marketplace.amazonaws.com"},"responseElements":null,`...)
	case rng.IntN(4) == 0:
		b = fmt.Appendf(b, `"requestParameters":{"policyDocument":"{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":[\"s3:GetObject\"],\"Resource\":\"arn:aws:s3:::bucket-%d/*\"}]}","path":"C:\\temp\\","tags":[{"key":"team","value":"x{%d}"}]},"responseElements":null,`,
			rng.IntN(1000), rng.IntN(10))
	default:
		b = fmt.Appendf(b, `"requestParameters":{"instancesSet":{"items":[{"instanceId":"i-%x"},{"instanceId":"i-%x"}]},"filterSet":{},"includeAllInstances":false,"maxResults":%d},"responseElements":null,`,
			rng.Uint64(), rng.Uint64(), rng.IntN(1000))
	}
	b = fmt.Appendf(b, `"requestID":"%s","eventID":"%s","readOnly":true,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"%s","eventCategory":"Management","tlsDetails":{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"%s"}}`,
		id, id, acct, strings.TrimSuffix(src, ".amazonaws.com")+".us-east-1.amazonaws.com")
	return b
}

// genTrail returns a synthetic {"Records":[...]} file of about size bytes, in which about
// market of the events are Marketplace events and about decoys mention Marketplace without
// being one. It also returns how many Marketplace events it wrote.
func genTrail(seed uint64, size int, market, decoys float64) (text []byte, matches int) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, 0, size+4096)
	b = append(b, `{"Records":[`...)
	for n := 0; len(b) < size; n++ {
		if n > 0 {
			b = append(b, ',')
		}
		kind := 0
		switch p := rng.Float64(); {
		case p < market:
			kind = 1
			matches++
		case p < market+decoys:
			kind = 2
		}
		b = genEvent(b, rng, kind)
	}
	return append(b, "]}"...), matches
}

// errIs reports whether err is a *ScanError wrapping want.
func errIs(err, want error) bool {
	var se *ScanError
	return errors.As(err, &se) && errors.Is(err, want)
}
