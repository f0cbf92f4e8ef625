package pipeline_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/marketrail/marketrail/pkg/marketplace"
	"github.com/marketrail/marketrail/pkg/pipeline"
)

const realdata = "../../../shared/realdata"

// realFiles lists the files of ../shared/realdata that hold CloudTrail records, or skips.
func realFiles(t *testing.T) []string {
	t.Helper()
	if _, err := os.Stat(realdata); err != nil {
		t.Skipf("no real data at %s", realdata)
	}
	var files []string
	filepath.WalkDir(realdata, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		name := d.Name()
		for _, not := range []string{"provenance", "digest", "counts", "unparsable", "README"} {
			if strings.Contains(name, not) {
				return nil
			}
		}
		if strings.HasSuffix(name, ".json") || strings.HasSuffix(name, ".json.gz") || strings.HasSuffix(name, ".log") {
			files = append(files, p)
		}
		return nil
	})
	if len(files) < 40 {
		t.Fatalf("found only %d real data files", len(files))
	}
	return files
}

// oracle decodes a file with encoding/json alone: {"Records":[...]}, a bare array, or one
// event per line; gzip and a byte-order mark allowed.
func oracle(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		b, _ = io.ReadAll(zr)
	}
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	var wrapped struct{ Records []map[string]any }
	if json.Unmarshal(b, &wrapped) == nil && wrapped.Records != nil {
		return wrapped.Records
	}
	var arr []map[string]any
	if json.Unmarshal(b, &arr) == nil {
		return arr
	}
	var lines []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%s: the oracle cannot read it either: %v", path, err)
		}
		lines = append(lines, m)
	}
	return lines
}

func isMarketplace(m map[string]any) bool {
	src, _ := m["eventSource"].(string)
	return strings.Contains(src, "marketplace") && strings.HasSuffix(src, ".amazonaws.com")
}

// TestRealData: every real file goes through the Extractor, which selects exactly the
// records encoding/json calls Marketplace events, with the right columns; without a filter
// of Marketplace, every record with a time decodes.
func TestRealData(t *testing.T) {
	var marketplaceEvents, usageRecords int
	for _, path := range realFiles(t) {
		want := oracle(t, path)
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		res, err := pipeline.NewExtractor(nil).Extract(f, filepath.Base(path))
		f.Close()
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		if int(res.Records) != len(want) {
			t.Errorf("%s: %d records, oracle %d", path, res.Records, len(want))
		}
		var sel []map[string]any
		for _, m := range want {
			if isMarketplace(m) {
				sel = append(sel, m)
			}
		}
		if len(res.Events) != len(sel) || len(res.Quarantined) != 0 {
			t.Errorf("%s: %d Marketplace events (%d invalid), oracle %d", path, len(res.Events), len(res.Quarantined), len(sel))
			continue
		}
		marketplaceEvents += len(sel)
		for i, e := range res.Events {
			checkColumns(t, path, e, sel[i])
			usageRecords += checkMetering(t, path, e, sel[i])
		}
	}
	if marketplaceEvents < 43+16 {
		t.Errorf("only %d Marketplace events in the real data, want the 43 captured and 16 documented at least", marketplaceEvents)
	}
	if usageRecords < 7 {
		t.Errorf("only %d metering_records rows from the documented metering calls, want at least 7", usageRecords)
	}
}

// checkMetering compares an event's metering_records rows with the usage records the
// oracle finds in the record: a BatchMeterUsage call's results and unprocessed records (or,
// when it failed or logged no response, its requested records), MeterUsage's one usage. It
// returns the number of rows.
func checkMetering(t *testing.T, path string, e marketplace.Event, m map[string]any) int {
	t.Helper()
	req, _ := m["requestParameters"].(map[string]any)
	resp, _ := m["responseElements"].(map[string]any)
	type usage struct{ dimension, customer, quantity string }
	var want []usage
	add := func(u any, dimKey, qtyKey string) {
		um, _ := u.(map[string]any)
		c, _ := um["customerIdentifier"].(string)
		d, _ := um[dimKey].(string)
		q := "-"
		if f, ok := um[qtyKey].(float64); ok {
			q = strconv.FormatInt(int64(f), 10)
		}
		want = append(want, usage{d, c, q})
	}
	switch m["eventName"] {
	case "BatchMeterUsage":
		if _, failed := m["errorCode"].(string); failed || resp == nil {
			for _, u := range req["usageRecords"].([]any) {
				add(u, "dimension", "quantity")
			}
			break
		}
		for _, r := range resp["results"].([]any) {
			add(r.(map[string]any)["usageRecord"], "dimension", "quantity")
		}
		for _, u := range resp["unprocessedRecords"].([]any) {
			add(u, "dimension", "quantity")
		}
	case "MeterUsage":
		add(req, "usageDimension", "usageQuantity")
	}
	var got []usage
	for _, r := range e.Metering {
		u := usage{"", "", "-"}
		if r.Dimension != nil {
			u.dimension = *r.Dimension
		}
		if r.CustomerIdentifier != nil {
			u.customer = *r.CustomerIdentifier
		}
		if r.Quantity != nil {
			u.quantity = strconv.FormatInt(*r.Quantity, 10)
		}
		got = append(got, u)
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s: %v %v: metering rows %v, record has %v", path, m["eventName"], m["eventID"], got, want)
	}
	return len(got)
}

// checkColumns compares an event's columns with the oracle's view of the record.
func checkColumns(t *testing.T, path string, e marketplace.Event, m map[string]any) {
	t.Helper()
	str := func(p *string) any {
		if p == nil {
			return nil
		}
		return *p
	}
	for col, pair := range map[string][2]any{
		"event_id":             {str(e.EventID), m["eventID"]},
		"event_source":         {e.EventSource, m["eventSource"]},
		"event_name":           {e.EventName, m["eventName"]},
		"event_version":        {str(e.EventVersion), m["eventVersion"]},
		"aws_region":           {str(e.AWSRegion), m["awsRegion"]},
		"error_code":           {str(e.ErrorCode), m["errorCode"]},
		"recipient_account_id": {str(e.RecipientAccountID), m["recipientAccountId"]},
		"user_agent":           {str(e.UserAgent), m["userAgent"]},
	} {
		if pair[0] != pair[1] {
			t.Errorf("%s %v: %s = %v, record has %v", path, m["eventID"], col, pair[0], pair[1])
		}
	}
	if got := e.EventTime.Format("2006-01-02T15:04:05Z"); got != m["eventTime"] {
		t.Errorf("%s: event_time %s, record has %v", path, got, m["eventTime"])
	}
	// Payloads: the same JSON value (key order is checked in the decoder's unit tests).
	for col, pair := range map[string]struct {
		got *string
		raw any
	}{"request_parameters": {e.RequestParameters, m["requestParameters"]}, "response_elements": {e.ResponseElements, m["responseElements"]}} {
		if pair.raw == nil {
			if pair.got != nil {
				t.Errorf("%s: %s = %s, record has null", path, col, *pair.got)
			}
			continue
		}
		var back any
		if pair.got == nil || json.Unmarshal([]byte(*pair.got), &back) != nil || !jsonEqual(back, pair.raw) {
			t.Errorf("%s: %s differs from the record", path, col)
		}
	}
	if ui, ok := m["userIdentity"].(map[string]any); ok {
		if e.UserIdentity == nil || str(e.UserIdentity.ARN) != ui["arn"] || str(e.UserIdentity.Type) != ui["type"] {
			t.Errorf("%s: user_identity %+v, record has %v", path, e.UserIdentity, ui)
		}
	} else if e.UserIdentity != nil {
		t.Errorf("%s: user_identity set for a record without one", path)
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// TestRealDataAllSources runs every real record (not only Marketplace) through the decoder
// by selecting every source found: nothing crashes, and every record with an RFC 3339
// eventTime becomes a row.
func TestRealDataAllSources(t *testing.T) {
	for _, path := range realFiles(t) {
		want := oracle(t, path)
		sources := map[string]bool{}
		for _, m := range want {
			if s, ok := m["eventSource"].(string); ok && s != "" {
				sources[s] = true
			}
		}
		var list []string
		for s := range sources {
			list = append(list, s)
		}
		if len(list) == 0 {
			continue
		}
		f, _ := os.Open(path)
		res, err := pipeline.NewExtractor(list).Extract(f, "k")
		f.Close()
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		if int(res.Matched) != countWithSource(want) {
			t.Errorf("%s: matched %d, oracle %d", path, res.Matched, countWithSource(want))
		}
		var timed int
		for _, m := range want {
			s, _ := m["eventSource"].(string)
			ts, _ := m["eventTime"].(string)
			if _, err := time.Parse(time.RFC3339Nano, ts); s != "" && err == nil {
				timed++
			}
		}
		if len(res.Events) != timed || len(res.Events)+len(res.Quarantined) != int(res.Matched) {
			t.Errorf("%s: %d rows and %d invalid of %d matched; oracle: %d with a usable eventTime", path, len(res.Events), len(res.Quarantined), res.Matched, timed)
		}
	}
}

func countWithSource(recs []map[string]any) int {
	n := 0
	for _, m := range recs {
		if s, ok := m["eventSource"].(string); ok && s != "" {
			n++
		}
	}
	return n
}
