package extract

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestFilterMarketplaceSources(t *testing.T) {
	f := NewFilter(nil)
	for _, src := range []string{
		"metering-marketplace.amazonaws.com", "marketplacecatalog.amazonaws.com",
		"agreement-marketplace.amazonaws.com", "discovery-marketplace.amazonaws.com",
		"deployment-marketplace.amazonaws.com", "reporting-marketplace.amazonaws.com",
		"marketplacecommerceanalytics.amazonaws.com", "entitlement.marketplace.amazonaws.com",
		"aws-marketplace.amazonaws.com", "some-new-marketplace-service.amazonaws.com",
	} {
		rec := fmt.Sprintf(`{"eventVersion":"1.08","userIdentity":{"type":"AWSService","invokedBy":"x"},"eventSource":%q,"eventName":"X","requestParameters":{"a":[1,{"b":"}"}]}}`, src)
		b := []byte(rec)
		got, ok := f.Match(b)
		if !ok || got != src {
			t.Errorf("%s: Match = %q, %v; want a match", src, got, ok)
		}
		if a := testing.AllocsPerRun(10, func() { f.Match(b) }); a != 0 && src != "some-new-marketplace-service.amazonaws.com" {
			t.Errorf("%s: Match allocates %v times", src, a)
		}
	}
}

func TestFilterRejects(t *testing.T) {
	f := NewFilter(nil)
	for _, tc := range []struct{ name, rec string }{
		{"other-source", `{"eventSource":"ec2.amazonaws.com","eventName":"RunInstances"}`},
		{"invokedBy", `{"userIdentity":{"type":"AWSService","invokedBy":"metering-marketplace.amazonaws.com"},"eventSource":"sts.amazonaws.com","eventName":"AssumeRole"}`},
		{"aWSServiceName", `{"eventSource":"iam.amazonaws.com","eventName":"CreateServiceLinkedRole","requestParameters":{"aWSServiceName":"license-management.marketplace.amazonaws.com"}}`},
		{"sourceIPAddress", `{"eventSource":"kms.amazonaws.com","sourceIPAddress":"metering-marketplace.amazonaws.com","eventName":"Decrypt"}`},
		{"nested-eventSource-first", `{"requestParameters":{"eventSource":"metering-marketplace.amazonaws.com","x":["eventSource"]},"eventSource":"lambda.amazonaws.com"}`},
		{"nested-eventSource-only", `{"requestParameters":{"eventSource":"metering-marketplace.amazonaws.com"}}`},
		{"insight", `{"eventVersion":"1.07","eventTime":"2020-09-09T23:00:00Z","awsRegion":"us-east-1","eventID":"x","eventType":"AwsCloudTrailInsight","recipientAccountId":"1","sharedEventID":"y","insightDetails":{"state":"Start","eventSource":"metering-marketplace.amazonaws.com","eventName":"MeterUsage","insightType":"ApiCallRateInsight"},"eventCategory":"Insight"}`},
		{"value-in-a-string", `{"eventSource":"ec2.amazonaws.com","note":"\"eventSource\":\"metering-marketplace.amazonaws.com\""}`},
		{"key-in-a-string-value", `{"x":"eventSource","y":"metering-marketplace.amazonaws.com"}`},
		{"not-amazonaws", `{"eventSource":"marketplace.example.com"}`},
		{"suffix-only-in-prefix", `{"eventSource":"metering-marketplace.amazonaws.com.evil"}`},
		{"not-a-string", `{"eventSource":["metering-marketplace.amazonaws.com"]}`},
		{"null", `{"eventSource":null,"x":"marketplace"}`},
		{"overridden-by-later-key", `{"eventSource":"metering-marketplace.amazonaws.com","eventSource":"ec2.amazonaws.com"}`},
		{"case", `{"EventSource":"metering-marketplace.amazonaws.com"}`},
		{"malformed", `{"eventSource":"metering-marketplace.amazonaws.com"`},
		{"not-an-object", `["eventSource","metering-marketplace.amazonaws.com"]`},
	} {
		if src, ok := f.Match([]byte(tc.rec)); ok {
			t.Errorf("%s: Match = %q, true; want no match", tc.name, src)
		}
	}
}

func TestFilterEscapedSource(t *testing.T) {
	f := NewFilter(nil)
	// Escapes in the value are decoded before the test, as long as the raw record still
	// contains the needle.
	rec := `{"eventSource":"metering-marketplace.amazonaws\u002ecom"}`
	if src, ok := f.Match([]byte(rec)); !ok || src != "metering-marketplace.amazonaws.com" {
		t.Errorf("Match = %q, %v", src, ok)
	}
	// The documented limitation: a needle written with escapes is not seen by the pre-filter.
	rec = `{"eventSource":"metering-market\u0070lace.amazonaws.com"}`
	if _, ok := f.Match([]byte(rec)); ok {
		t.Errorf("the pre-filter found a needle written with escapes; update the Filter documentation")
	}
}

func TestFilterExplicitSources(t *testing.T) {
	f := NewFilter([]string{"s3.amazonaws.com", "", "kms.amazonaws.com", "s3.amazonaws.com"})
	for rec, want := range map[string]string{
		`{"eventSource":"s3.amazonaws.com","eventName":"GetObject"}`:                       "s3.amazonaws.com",
		`{"a":{"eventSource":"x"},"eventSource":"kms.amazonaws.com"}`:                      "kms.amazonaws.com",
		`{"eventSource":"metering-marketplace.amazonaws.com"}`:                             "",
		`{"eventSource":"ec2.amazonaws.com","requestParameters":{"s":"s3.amazonaws.com"}}`: "",
		`{"eventSource":"xs3.amazonaws.com"}`:                                              "",
		`{"eventSource":"s3.amazonaws.com.cn"}`:                                            "",
	} {
		got, ok := f.Match([]byte(rec))
		if got != want || ok != (want != "") {
			t.Errorf("%s: Match = %q, %v; want %q", rec, got, ok, want)
		}
	}
	s3 := []byte(`{"eventSource":"s3.amazonaws.com"}`)
	if a := testing.AllocsPerRun(10, func() { f.Match(s3) }); a != 0 {
		t.Errorf("Match allocates %v times", a)
	}
	// Only empty sources: the default.
	if _, ok := NewFilter([]string{""}).Match([]byte(`{"eventSource":"aws-marketplace.amazonaws.com"}`)); !ok {
		t.Error(`NewFilter([]string{""}) does not select Marketplace`)
	}
	var nilFilter *Filter
	if _, ok := nilFilter.Match([]byte(`{"eventSource":"aws-marketplace.amazonaws.com"}`)); !ok {
		t.Error("a nil Filter does not select Marketplace")
	}
}

func TestFilterSkipPathNoAlloc(t *testing.T) {
	f := NewFilter(nil)
	rec := []byte(`{"eventSource":"ec2.amazonaws.com","eventName":"DescribeInstances","requestParameters":{"a":[1,2,3]}}`)
	decoy := []byte(`{"userIdentity":{"invokedBy":"metering-marketplace.amazonaws.com"},"eventSource":"sts.amazonaws.com"}`)
	if a := testing.AllocsPerRun(100, func() { f.Match(rec); f.Match(decoy) }); a != 0 {
		t.Errorf("Match on non-matching records allocates %v times", a)
	}
}

func TestTopLevelString(t *testing.T) {
	for _, tc := range []struct {
		rec, key, want string
		ok             bool
	}{
		{`{"eventID":"abc"}`, "eventID", "abc", true},
		{` { "a" : 1 , "eventID" : "x\"y\\z\u00e9\n\ud83d\ude00" } `, "eventID", "x\"y\\zé\n😀", true},
		{`{"a":{"eventID":"nested"},"b":["eventID","x"],"eventID":"top"}`, "eventID", "top", true},
		{`{"a":{"eventID":"nested"}}`, "eventID", "", false},
		{`{"eventID":12}`, "eventID", "", false},
		{`{"eventID":null}`, "eventID", "", false},
		{`{"eventID":"a","eventID":"b"}`, "eventID", "b", true},
		{`{"eventID":"a","eventID":1}`, "eventID", "", false},
		{`{"event\u0049D":"esc"}`, "eventID", "esc", true},
		{`{"eventid":"x"}`, "eventID", "", false},
		{`{"s":"\ud800"}`, "s", "\ufffd", true},
		{"{\"s\":\"\xff\"}", "s", "\ufffd", true},
		{`{}`, "eventID", "", false},
		{`[]`, "eventID", "", false},
		{``, "eventID", "", false},
		{`{"eventID":"abc"`, "eventID", "", false},
		{`{"eventID":"abc}`, "eventID", "", false},
		{`{"x":[1,2}`, "x", "", false},
	} {
		got, ok := TopLevelString([]byte(tc.rec), tc.key)
		if got != tc.want || ok != tc.ok {
			t.Errorf("TopLevelString(%q, %q) = %q, %v; want %q, %v", tc.rec, tc.key, got, ok, tc.want, tc.ok)
		}
		// When the input is valid, encoding/json must agree.
		if m := map[string]json.RawMessage{}; json.Unmarshal([]byte(tc.rec), &m) == nil {
			var s string
			raw, present := m[tc.key]
			wantOK := present && strings.HasPrefix(string(raw), `"`) && json.Unmarshal(raw, &s) == nil
			if ok != wantOK || got != s {
				t.Errorf("TopLevelString(%q, %q) = %q, %v; encoding/json says %q, %v", tc.rec, tc.key, got, ok, s, wantOK)
			}
		}
	}
}

func TestNeedle(t *testing.T) {
	for _, tc := range []struct {
		needle, text string
		want         bool
	}{
		{"marketplace", "marketplace", true},
		{"marketplace", `{"a":"kkk marketplac marketplace"}`, true},
		{"marketplace", "kmarketplac", false},
		{"marketplace", "arketplace", false},
		{"marketplace", "", false},
		{"marketplace", "xxmarketplacexx", true},
		{"s3.amazonaws.com", `"s3.amazonaws.co" s3.amazonaws.com`, true},
		{"s3.amazonaws.com", `s4.amazonaws.com`, false},
		{"a", "bbba", true},
	} {
		n := newNeedle(tc.needle)
		if got := n.in([]byte(tc.text)); got != tc.want || got != strings.Contains(tc.text, tc.needle) {
			t.Errorf("needle %q in %q = %v, want %v", tc.needle, tc.text, got, tc.want)
		}
	}
	if n := newNeedle("marketplace"); n.s[n.rare] != 'k' {
		t.Errorf("rarest byte of marketplace: %q", n.s[n.rare])
	}
}

// MatchHead selects a truncated record by the top-level eventSource written before its head
// ends; Match, which needs the whole record, does not.
func TestMatchHead(t *testing.T) {
	f := NewFilter(nil)
	for _, tc := range []struct {
		head string
		want bool
	}{
		{`{"eventVersion":"1.08","eventSource":"metering-marketplace.amazonaws.com","requestParameters":{"a":"xxxx`, true},
		{`{"eventSource":"metering-marketplace.amazonaws.com","eventSource":"s3.amazonaws.com","x":[[[`, false},
		{`{"eventSource":"s3.amazonaws.com","x":"marketplace`, false},
		{`{"requestParameters":{"eventSource":"metering-marketplace.amazonaws.com"`, false},
		{`{"eventSource":"metering-marketpl`, false},
		{`{"eventSource":"metering-marketplace.amazonaws.com"`, true},
	} {
		if _, ok := f.MatchHead([]byte(tc.head)); ok != tc.want {
			t.Errorf("MatchHead(%s) = %v, want %v", tc.head, ok, tc.want)
		}
		if _, ok := f.Match([]byte(tc.head)); ok {
			t.Errorf("Match(%s) selects a truncated record", tc.head)
		}
	}
}
