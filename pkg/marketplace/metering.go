package marketplace

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/marketrail/marketrail/pkg/trail"
)

// MeteringRecord is one row of the metering_records table: one usage record of a
// BatchMeterUsage call (up to 25 per call), or the one usage of a MeterUsage call.
type MeteringRecord struct {
	EventID              *string           `parquet:"event_id,optional" doc:"the eventID of the call that carried the record"`
	EventTime            time.Time         `parquet:"event_time,timestamp(millisecond)" doc:"the call's eventTime, UTC"`
	EventName            string            `parquet:"event_name" doc:"BatchMeterUsage or MeterUsage"`
	AWSRegion            *string           `parquet:"aws_region,optional" doc:"the call's awsRegion"`
	SellerAccountID      *string           `parquet:"seller_account_id,optional" doc:"recipientAccountId: the seller's account that metered"`
	CallerARN            *string           `parquet:"caller_arn,optional" doc:"userIdentity.arn: who called the metering service"`
	ProductCode          *string           `parquet:"product_code,optional" doc:"requestParameters.productCode"`
	CustomerIdentifier   *string           `parquet:"customer_identifier,optional" doc:"the usage record's customerIdentifier"`
	CustomerAWSAccountID *string           `parquet:"customer_aws_account_id,optional" doc:"the usage record's customerAWSAccountId (any capitalisation)"`
	Dimension            *string           `parquet:"dimension,optional" doc:"the usage record's dimension (MeterUsage: usageDimension)"`
	Quantity             *int64            `parquet:"quantity,optional" doc:"the usage record's quantity (MeterUsage: usageQuantity); null if unparseable"`
	UsageTime            *time.Time        `parquet:"usage_time,optional,timestamp(millisecond)" doc:"the usage record's timestamp, UTC, parsed from the metering service's \"Apr 19, 2018 4:32:50 PM\" form; null if unparseable"`
	Status               string            `parquet:"status" doc:"Success, CustomerNotSubscribed or DuplicateRecord as logged; Unprocessed; Failed (the call returned an error); Unknown (no response logged); DryRun"`
	MeteringRecordID     *string           `parquet:"metering_record_id,optional" doc:"the meteringRecordId the service returned"`
	UsageAllocations     []UsageAllocation `parquet:"usage_allocations,optional,list" doc:"usageAllocations: the usage record's allocations of its quantity to tags"`
	DryRun               *bool             `parquet:"dry_run,optional" doc:"MeterUsage's dryRun"`
	ErrorCode            *string           `parquet:"error_code,optional" doc:"the call's errorCode"`
	SourceKey            string            `parquet:"source_key" doc:"the log file the call came from, relative to the source root"`
	SourceDigest         *string           `parquet:"source_digest,optional" doc:"with --verify-digests: verified, hash_mismatch or not_covered, as for events; null when digests were not checked"`

	// Position is the record's place in its call (0-based); with the event's source key and
	// record index it orders rows deterministically.
	Position    int `parquet:"-"`
	RecordIndex int `parquet:"-"`
}

// UsageAllocation is one element of a usage record's usageAllocations.
type UsageAllocation struct {
	AllocatedUsageQuantity *int64 `parquet:"allocated_usage_quantity,optional" doc:"allocatedUsageQuantity"`
	Tags                   []Tag  `parquet:"tags,optional,list" doc:"tags"`
}

// Tag is one tag of a usage allocation.
type Tag struct {
	Key   *string `parquet:"key,optional" doc:"key"`
	Value *string `parquet:"value,optional" doc:"value"`
}

// EventDate is the partition a metering record belongs to: the UTC date of its call.
func (m *MeteringRecord) EventDate() trail.Day { return trail.DayOf(m.EventTime) }

// Metering status values.
const (
	StatusSuccess     = "Success"
	StatusUnprocessed = "Unprocessed"
	StatusFailed      = "Failed"
	StatusUnknown     = "Unknown"
	StatusDryRun      = "DryRun"
)

// UsageTimeLayout is how the metering service's usage timestamps appear in CloudTrail:
// "Apr 19, 2018 4:32:50 PM", in UTC.
const UsageTimeLayout = "Jan 2, 2006 3:04:05 PM"

// usageRecord is one usage record as the metering calls log it. encoding/json matches keys
// case-insensitively, so customerAWSAccountId and customerAWSAccountID both land in
// CustomerAWSAccountID.
type usageRecord struct {
	Timestamp            json.RawMessage `json:"timestamp"`
	CustomerIdentifier   text            `json:"customerIdentifier"`
	CustomerAWSAccountID text            `json:"customerAWSAccountId"`
	Dimension            text            `json:"dimension"`
	Quantity             json.RawMessage `json:"quantity"`
	UsageAllocations     json.RawMessage `json:"usageAllocations"`
}

// meteringRecords returns the metering_records rows of a decoded event e, from its logged
// requestParameters and responseElements, and how many usage timestamps or quantities could
// not be parsed (they are kept as null). e's common fields are already set. Only
// BatchMeterUsage and MeterUsage calls of a Marketplace metering source have rows.
func meteringRecords(e *Event, req, resp []byte) ([]MeteringRecord, int) {
	if !strings.HasSuffix(e.EventSource, "marketplace.amazonaws.com") {
		return nil, 0
	}
	var m metering
	switch e.EventName {
	case "BatchMeterUsage":
		m.batch(e, req, resp)
	case "MeterUsage":
		m.single(e, req, resp)
	}
	return m.rows, m.unparsed
}

// metering builds one call's rows.
type metering struct {
	rows     []MeteringRecord
	unparsed int
}

// batch makes BatchMeterUsage's rows: one per result and unprocessed record of a call that
// succeeded; one per requested record, Failed or Unknown, of a call that returned an error
// or whose response was not logged.
func (m *metering) batch(e *Event, req, resp []byte) {
	var rq struct {
		ProductCode  text              `json:"productCode"`
		UsageRecords []json.RawMessage `json:"usageRecords"`
	}
	object(req, &rq)
	var rs struct {
		Results            []json.RawMessage `json:"results"`
		UnprocessedRecords []json.RawMessage `json:"unprocessedRecords"`
	}
	responded := object(resp, &rs)
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
			object(raw, &r)
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

// single makes MeterUsage's one row: DryRun when dryRun was set (the service answers a
// successful dry run with the DryRunOperation error); Failed when the call returned an
// error; Success when the service returned a meteringRecordId; else Unknown (the response
// was not logged).
func (m *metering) single(e *Event, req, resp []byte) {
	var rq struct {
		ProductCode      text            `json:"productCode"`
		Timestamp        json.RawMessage `json:"timestamp"`
		UsageDimension   text            `json:"usageDimension"`
		UsageQuantity    json.RawMessage `json:"usageQuantity"`
		UsageAllocations json.RawMessage `json:"usageAllocations"`
		DryRun           flag            `json:"dryRun"`
	}
	if !object(req, &rq) {
		return
	}
	var rs struct {
		MeteringRecordID text `json:"meteringRecordId"`
	}
	object(resp, &rs)
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
	r.UsageAllocations = allocations(rq.UsageAllocations)
	r.DryRun = rq.DryRun.ptr()
	m.rows = append(m.rows, r)
}

// add appends the row of one BatchMeterUsage usage record.
func (m *metering) add(e *Event, product text, raw json.RawMessage, status string, id *string) {
	var u usageRecord
	object(raw, &u)
	r := m.row(e, product, status, id)
	r.CustomerIdentifier = u.CustomerIdentifier.ptr()
	r.CustomerAWSAccountID = u.CustomerAWSAccountID.ptr()
	r.Dimension = u.Dimension.ptr()
	r.Quantity = m.quantity(u.Quantity)
	r.UsageTime = m.usageTime(u.Timestamp)
	r.UsageAllocations = allocations(u.UsageAllocations)
	m.rows = append(m.rows, r)
}

// row returns a row with the call's fields set.
func (m *metering) row(e *Event, product text, status string, id *string) MeteringRecord {
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

// quantity parses a usage quantity: a JSON integer (or an integral number, or a string
// holding one). Absent or null is null; anything else is null and counted.
func (m *metering) quantity(raw json.RawMessage) *int64 {
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

func parseQuantity(raw []byte) (int64, bool) {
	s := string(raw)
	if raw[0] == '"' {
		if json.Unmarshal(raw, &s) != nil {
			return 0, false
		}
		s = strings.TrimSpace(s)
	}
	if q, err := strconv.ParseInt(s, 10, 64); err == nil {
		return q, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) >= 1<<63 {
		return 0, false
	}
	return int64(f), true
}

// usageTime parses a usage timestamp: the metering service's "Apr 19, 2018 4:32:50 PM"
// form (UTC), RFC 3339, or seconds since the epoch. Absent or null is null; anything else
// is null and counted.
func (m *metering) usageTime(raw json.RawMessage) *time.Time {
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

func parseUsageTime(raw []byte) (time.Time, bool) {
	if raw[0] != '"' {
		f, err := strconv.ParseFloat(string(raw), 64)
		if err != nil || f < 0 || f > 1e11 {
			return time.Time{}, false
		}
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)), true
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return time.Time{}, false
	}
	s = strings.TrimSpace(s)
	for _, layout := range []string{UsageTimeLayout, time.RFC3339Nano} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// allocations decodes a usage record's usageAllocations leniently: elements that are not
// objects are dropped; an absent or malformed list is null.
func allocations(raw json.RawMessage) []UsageAllocation {
	list, ok := array(raw)
	if !ok {
		return nil
	}
	var out []UsageAllocation
	for _, item := range list {
		var a struct {
			AllocatedUsageQuantity json.RawMessage `json:"allocatedUsageQuantity"`
			Tags                   []json.RawMessage
		}
		if !object(item, &a) {
			continue
		}
		ua := UsageAllocation{}
		if q := bytes.TrimSpace(a.AllocatedUsageQuantity); len(q) > 0 && string(q) != "null" {
			if v, ok := parseQuantity(q); ok {
				ua.AllocatedUsageQuantity = &v
			}
		}
		for _, tr := range a.Tags {
			var tg struct{ Key, Value text }
			if object(tr, &tg) {
				ua.Tags = append(ua.Tags, Tag{Key: tg.Key.ptr(), Value: tg.Value.ptr()})
			}
		}
		out = append(out, ua)
	}
	return out
}
