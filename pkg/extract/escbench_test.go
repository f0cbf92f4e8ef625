package extract

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	kgzip "github.com/klauspost/compress/gzip"
)

// escapedPolicy returns a small IAM policy document as JSON text, varied by rng.
func escapedPolicy(rng *rand.Rand) string {
	actions := []string{"s3:GetObject", "s3:PutObject", "kms:Decrypt", "sts:AssumeRole", "logs:PutLogEvents", "ec2:DescribeInstances"}
	var b strings.Builder
	b.WriteString(`{"Version":"2012-10-17","Statement":[`)
	for i, n := 0, 1+rng.IntN(3); i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"Sid":"Stmt%d","Effect":"Allow","Action":["%s","%s"],"Resource":"arn:aws:s3:::bucket-%d/*","Condition":{"StringEquals":{"aws:PrincipalTag/team":"t%d"}}}`,
			rng.IntN(1000), actions[rng.IntN(len(actions))], actions[rng.IntN(len(actions))], rng.IntN(1000), rng.IntN(10))
	}
	b.WriteString(`]}`)
	return b.String()
}

// escapedTemplate returns a CloudFormation template as JSON text that itself holds a policy
// document and a Lambda's inline code as JSON strings, so that escaping it once more (as
// CloudTrail does) gives twice-escaped quotes (\\\") and runs of backslashes.
func escapedTemplate(rng *rand.Rand) string {
	inner := quoteJSON(escapedPolicy(rng))
	code := quoteJSON(fmt.Sprintf("import json\ndef handler(event, context):\n    print(json.dumps({\"path\": \"C:\\\\temp\\\\%d\", \"ok\": True}))\n    return {\"statusCode\": 200, \"body\": \"\\\"done\\\"\"}\n", rng.IntN(1000)))
	return fmt.Sprintf(`{"AWSTemplateFormatVersion":"2010-09-09","Description":"stack %d","Resources":{"Role":{"Type":"AWS::IAM::Role","Properties":{"PolicyDocument":%s}},"Fn":{"Type":"AWS::Lambda::Function","Properties":{"Code":{"ZipFile":%s},"Runtime":"python3.12"}}}}`,
		rng.IntN(1000), inner, code)
}

// quoteJSON returns s as a JSON string literal, escaped as encoding/json does (without HTML
// escaping).
func quoteJSON(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		panic(err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// genEscapedEvent appends one synthetic event whose requestParameters and responseElements
// hold JSON documents as strings: policy documents (escaped once), CloudFormation templates
// holding policies and code (escaped twice: \\\"), and Windows paths (long runs of
// backslashes). A random-length padding field moves the escapes relative to 64-byte blocks.
func genEscapedEvent(b []byte, rng *rand.Rand, kind int) []byte {
	src := []string{"iam.amazonaws.com", "cloudformation.amazonaws.com", "ssm.amazonaws.com", "lambda.amazonaws.com"}[rng.IntN(4)]
	if kind == 1 {
		ev := marketplaceEvents[rng.IntN(len(marketplaceEvents))]
		src = ev[0]
	}
	acct := fmt.Sprintf("%012d", rng.Int64N(1e12))
	id := fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", rng.Uint32(), rng.IntN(1<<16), rng.IntN(1<<16), rng.IntN(1<<16), rng.Int64N(1<<48))
	b = fmt.Appendf(b, `{"eventVersion":"1.09","userIdentity":{"type":"AssumedRole","principalId":"AROA%s:session-%d","arn":"arn:aws:sts::%s:assumed-role/Role-%d/session-%d","accountId":"%s"},"eventTime":"2024-07-1%dT0%d:%02d:%02dZ","eventSource":"%s","eventName":"Update","awsRegion":"us-east-1","sourceIPAddress":"%d.%d.%d.%d","userAgent":"%s","pad":"%s",`,
		acct, rng.IntN(1000), acct, rng.IntN(50), rng.IntN(1000), acct, rng.IntN(10), rng.IntN(10), rng.IntN(60), rng.IntN(60), src,
		rng.IntN(256), rng.IntN(256), rng.IntN(256), rng.IntN(256), userAgents[rng.IntN(len(userAgents))], strings.Repeat("x", rng.IntN(64)))
	switch rng.IntN(4) {
	case 0:
		b = fmt.Appendf(b, `"requestParameters":{"policyName":"p-%d","policyDocument":%s},"responseElements":{"policy":{"defaultVersionId":"v1","document":%s}},`,
			rng.IntN(1000), quoteJSON(escapedPolicy(rng)), quoteJSON(escapedPolicy(rng)))
	case 1:
		b = fmt.Appendf(b, `"requestParameters":{"stackName":"s-%d","templateBody":%s},"responseElements":{"stackId":"arn:aws:cloudformation:us-east-1:%s:stack/s/%s"},`,
			rng.IntN(1000), quoteJSON(escapedTemplate(rng)), acct, id)
	case 2:
		path := strings.Repeat(`\`, 2+rng.IntN(4)) + "fileserver" + strings.Repeat(`\`, 1+rng.IntN(3)) + "share\\" + fmt.Sprint(rng.IntN(100)) + strings.Repeat(`\`, rng.IntN(70))
		b = fmt.Appendf(b, `"requestParameters":{"name":"/app/config-%d","value":%s,"path":%s},"responseElements":{"version":%d},`,
			rng.IntN(1000), quoteJSON(quoteJSON(escapedPolicy(rng))), quoteJSON(path), rng.IntN(20))
	default:
		b = fmt.Appendf(b, `"requestParameters":{"roleName":"r-%d","assumeRolePolicyDocument":%s},"responseElements":null,`,
			rng.IntN(1000), quoteJSON(escapedPolicy(rng)))
	}
	return fmt.Appendf(b, `"requestID":"%s","eventID":"%s","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"%s","eventCategory":"Management"}`,
		id, id, acct)
}

// genEscapedTrail is genTrail with genEscapedEvent's records: about 10% of its bytes are
// backslashes.
func genEscapedTrail(seed uint64, size int, market float64) (text []byte, matches int) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, 0, size+8192)
	b = append(b, `{"Records":[`...)
	for n := 0; len(b) < size; n++ {
		if n > 0 {
			b = append(b, ',')
		}
		kind := 0
		if rng.Float64() < market {
			kind = 1
			matches++
		}
		b = genEscapedEvent(b, rng, kind)
	}
	return append(b, "]}"...), matches
}

// escapedBenchInput is the escaped-text counterpart of benchInput: about 20 MB, 1% Marketplace
// events.
var escapedBenchInput = sync.OnceValue(func() []byte {
	text, _ := genEscapedTrail(43, 20<<20, 0.01)
	return text
})

// escapedBenchGzip is escapedBenchInput compressed as benchInput is.
var escapedBenchGzip = sync.OnceValue(func() []byte {
	var b bytes.Buffer
	w := kgzip.NewWriter(&b)
	w.Write(escapedBenchInput())
	w.Close()
	return b.Bytes()
})

// TestEscapedTrail checks the escaped benchmark input: valid, framed as encoding/json frames
// it, and about 10% backslashes.
func TestEscapedTrail(t *testing.T) {
	text, matches := genEscapedTrail(7, 1<<20, 0.05)
	want, err := jsonRecords(text)
	if err != nil {
		t.Fatal(err)
	}
	got, err := scanAll(NewScanner(nil), bytes.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if d := sameRecords(got, want); d != "" {
		t.Fatal(d)
	}
	f := NewFilter(nil)
	n := 0
	for _, rec := range got {
		if _, ok := f.Match(rec); ok {
			n++
		}
	}
	if n != matches {
		t.Errorf("filter matched %d records, want %d", n, matches)
	}
	share := float64(bytes.Count(text, []byte(`\`))) / float64(len(text))
	if share < 0.07 || share > 0.14 {
		t.Errorf("%.1f%% of the bytes are backslashes, want about 10%%", 100*share)
	}
	t.Logf("%d records, %.1f%% backslashes", len(got), 100*share)
}

// benchScanText scans the given plain JSON text straight from memory (no Reader), with or
// without the Filter.
func benchScanText(b *testing.B, text []byte, filter bool) {
	src := bytes.NewReader(text)
	scanEach(b, text, filter, func() io.Reader {
		src.Reset(text)
		return src
	})
}

func BenchmarkScanEscaped(b *testing.B)       { benchScanText(b, escapedBenchInput(), false) }
func BenchmarkScanEscapedFilter(b *testing.B) { benchScanText(b, escapedBenchInput(), true) }

// BenchmarkInflateScanEscapedFilter is the hot path of a log file of escaped text: inflate,
// scan and filter through a Reader, as BenchmarkInflateScanFilter does for plain text.
func BenchmarkInflateScanEscapedFilter(b *testing.B) {
	text, gz := escapedBenchInput(), escapedBenchGzip()
	var r Reader
	src := bytes.NewReader(gz)
	scanEach(b, text, true, func() io.Reader {
		src.Reset(gz)
		if err := r.Reset(src); err != nil {
			b.Fatal(err)
		}
		return &r
	})
}

// BenchmarkInflateScanEscapedFilterParallel is BenchmarkInflateScanFilterParallel on escaped
// text: how its hot loop alone scales with cores (-cpu 1,2).
func BenchmarkInflateScanEscapedFilterParallel(b *testing.B) {
	benchParallel(b, escapedBenchInput(), escapedBenchGzip())
}
