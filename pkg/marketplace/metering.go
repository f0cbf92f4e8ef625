package marketplace

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/marketrail/marketrail/pkg/trail"
)

// MeteringRecord is one row of the metering_records table: one usage record of a
// BatchMeterUsage call (up to 25 per call), or the one usage of a MeterUsage call.
type MeteringRecord struct {
	EventID              *string           `parquet:"event_id,optional" iceberg:"1" doc:"the eventID of the call that carried the record"`
	EventTime            time.Time         `parquet:"event_time,timestamp(millisecond)" iceberg:"2" doc:"the call's eventTime, UTC"`
	EventName            string            `parquet:"event_name,dict" iceberg:"3" doc:"BatchMeterUsage or MeterUsage"`
	AWSRegion            *string           `parquet:"aws_region,optional,dict" iceberg:"4" doc:"the call's awsRegion"`
	SellerAccountID      *string           `parquet:"seller_account_id,optional,dict" iceberg:"5" doc:"recipientAccountId: the seller's account that metered"`
	CallerARN            *string           `parquet:"caller_arn,optional,dict" iceberg:"6" doc:"userIdentity.arn: who called the metering service"`
	ProductCode          *string           `parquet:"product_code,optional,dict" iceberg:"7" doc:"requestParameters.productCode; null for Concurrent Agreements metering, which names a licence (license_arn) instead"`
	CustomerIdentifier   *string           `parquet:"customer_identifier,optional,dict" iceberg:"8" doc:"the usage record's customerIdentifier"`
	CustomerAWSAccountID *string           `parquet:"customer_aws_account_id,optional,dict" iceberg:"9" doc:"the usage record's customerAWSAccountId (any capitalisation)"`
	LicenseARN           *string           `parquet:"license_arn,optional,dict" iceberg:"10" doc:"the usage record's licenseArn (in requestParameters.usageRecords[], responseElements.results[].usageRecord or responseElements.unprocessedRecords[]): the buyer's licence, one per agreement, which Concurrent Agreements metering names instead of requestParameters.productCode; null for MeterUsage, whose request has none"`
	Dimension            *string           `parquet:"dimension,optional,dict" iceberg:"11" doc:"the usage record's dimension (MeterUsage: usageDimension)"`
	Quantity             *int64            `parquet:"quantity,optional" iceberg:"12" doc:"the usage record's quantity (MeterUsage: usageQuantity); null if unparseable"`
	UsageTime            *time.Time        `parquet:"usage_time,optional,timestamp(millisecond)" iceberg:"13" doc:"the usage record's timestamp, UTC, parsed from the metering service's \"Apr 19, 2018 4:32:50 PM\" form; null if unparseable"`
	Status               string            `parquet:"status,dict" iceberg:"14" doc:"Success, CustomerNotSubscribed or DuplicateRecord as logged; Unprocessed; Failed (the call returned an error); Unknown (no response logged); DryRun"`
	MeteringRecordID     *string           `parquet:"metering_record_id,optional" iceberg:"15" doc:"the meteringRecordId the service returned"`
	UsageAllocations     []UsageAllocation `parquet:"usage_allocations,optional,list" iceberg:"16,element=17" doc:"usageAllocations: the usage record's allocations of its quantity to tags; an empty list when logged as [], null when not logged"`
	DryRun               *bool             `parquet:"dry_run,optional" iceberg:"23" doc:"MeterUsage's dryRun"`
	ErrorCode            *string           `parquet:"error_code,optional,dict" iceberg:"24" doc:"the call's errorCode"`
	SourceKey            string            `parquet:"source_key,dict" iceberg:"25" doc:"the log file the call came from, relative to the source root"`
	SourceDigest         *string           `parquet:"source_digest,optional,dict" iceberg:"26" doc:"with --verify-digests: verified, hash_mismatch or not_covered, as for events; null when digests were not checked"`

	// Position is the record's place in its call (0-based); with the event's source key and
	// record index it orders rows deterministically.
	Position    int `parquet:"-"`
	RecordIndex int `parquet:"-"`
}

// UsageAllocation is one element of a usage record's usageAllocations.
type UsageAllocation struct {
	AllocatedUsageQuantity *int64 `parquet:"allocated_usage_quantity,optional" iceberg:"18" doc:"allocatedUsageQuantity"`
	Tags                   []Tag  `parquet:"tags,optional,list" iceberg:"19,element=20" doc:"tags: an empty list when logged as [], null when not logged"`
}

// Tag is one tag of a usage allocation.
type Tag struct {
	Key   *string `parquet:"key,optional,dict" iceberg:"21" doc:"key"`
	Value *string `parquet:"value,optional,dict" iceberg:"22" doc:"value"`
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

// The members of a usage record as the metering calls log it, by index into
// usageRecordFields. Keys match case-insensitively, so customerAWSAccountId and
// customerAWSAccountID are both read. licenseArn is the Concurrent Agreements form (AWS's
// BatchMeterUsage reference: new SaaS products name the customer's account and the licence
// of one of its agreements on every usage record, and no productCode on the request).
const (
	urTimestamp = iota
	urCustomerIdentifier
	urCustomerAWSAccountID
	urDimension
	urQuantity
	urUsageAllocations
	urLicenseARN
	urCount
)

var usageRecordFields = [urCount]field{
	urTimestamp:            {name: "timestamp"},
	urCustomerIdentifier:   {name: "customerIdentifier"},
	urCustomerAWSAccountID: {name: "customerAWSAccountId"},
	urDimension:            {name: "dimension"},
	urQuantity:             {name: "quantity"},
	urUsageAllocations:     {name: "usageAllocations"},
	urLicenseARN:           {name: "licenseArn"},
}

// The members of the metering calls' payloads that the rows are made of.
var (
	batchRequestFields  = []field{{name: "productCode"}, {name: "usageRecords", list: true}}
	batchResponseFields = []field{{name: "results", list: true}, {name: "unprocessedRecords", list: true}}
	batchResultFields   = []field{{name: "usageRecord"}, {name: "meteringRecordId"}, {name: "status"}}
	meterRequestFields  = []field{{name: "productCode"}, {name: "timestamp"}, {name: "usageDimension"},
		{name: "usageQuantity"}, {name: "usageAllocations"}, {name: "dryRun"}}
	meterResponseFields = []field{{name: "meteringRecordId"}}
	allocationFields    = []field{{name: "allocatedUsageQuantity"}, {name: "Tags", list: true}}
	tagFields           = []field{{name: "Key"}, {name: "Value"}}
)

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
	var rq [2][]byte
	fields(req, batchRequestFields, rq[:])
	product := textOf(rq[0])
	var rs [2][]byte
	_, responded := fields(resp, batchResponseFields, rs[:])
	switch {
	case e.ErrorCode != nil || !responded:
		status := StatusFailed
		if e.ErrorCode == nil {
			status = StatusUnknown
		}
		for _, raw := range listOf(rq[1]) {
			m.add(e, product, raw, status, nil)
		}
	default:
		for _, raw := range listOf(rs[0]) {
			var r [3][]byte
			fields(raw, batchResultFields, r[:])
			st := textOf(r[2])
			status := st.s
			if !st.ok || status == "" {
				status = StatusUnknown
			}
			m.add(e, product, r[0], status, textOf(r[1]).ptr())
		}
		for _, raw := range listOf(rs[1]) {
			m.add(e, product, raw, StatusUnprocessed, nil)
		}
	}
}

// single makes MeterUsage's one row: DryRun when dryRun was set (the service answers a
// successful dry run with the DryRunOperation error); Failed when the call returned an
// error; Success when the service returned a meteringRecordId; else Unknown (the response
// was not logged).
func (m *metering) single(e *Event, req, resp []byte) {
	var rq [6][]byte
	if isObject, _ := fields(req, meterRequestFields, rq[:]); !isObject {
		return
	}
	var rs [1][]byte
	fields(resp, meterResponseFields, rs[:])
	id, dryRun := textOf(rs[0]), flagOf(rq[5])
	status := StatusUnknown
	switch {
	case dryRun.ok && dryRun.v:
		status = StatusDryRun
	case e.ErrorCode != nil:
		status = StatusFailed
	case id.ok:
		status = StatusSuccess
	}
	r := m.row(e, textOf(rq[0]), status, id.ptr())
	r.Dimension = textOf(rq[2]).ptr()
	r.Quantity = m.quantity(rq[3])
	r.UsageTime = m.usageTime(rq[1])
	r.UsageAllocations = allocations(rq[4])
	r.DryRun = dryRun.ptr()
	m.rows = append(m.rows, r)
}

// add appends the row of one BatchMeterUsage usage record.
func (m *metering) add(e *Event, product text, raw []byte, status string, id *string) {
	var u [urCount][]byte
	fields(raw, usageRecordFields[:], u[:])
	r := m.row(e, product, status, id)
	r.CustomerIdentifier = textOf(u[urCustomerIdentifier]).ptr()
	r.CustomerAWSAccountID = textOf(u[urCustomerAWSAccountID]).ptr()
	r.LicenseARN = textOf(u[urLicenseARN]).ptr()
	r.Dimension = textOf(u[urDimension]).ptr()
	r.Quantity = m.quantity(u[urQuantity])
	r.UsageTime = m.usageTime(u[urTimestamp])
	r.UsageAllocations = allocations(u[urUsageAllocations])
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
func (m *metering) quantity(raw []byte) *int64 {
	raw = trimmed(raw)
	if len(raw) == 0 || isNull(raw) {
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
		s = strings.TrimSpace(textOf(raw).s)
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
func (m *metering) usageTime(raw []byte) *time.Time {
	raw = trimmed(raw)
	if len(raw) == 0 || isNull(raw) {
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
	s := strings.TrimSpace(textOf(raw).s)
	for _, layout := range []string{UsageTimeLayout, time.RFC3339Nano} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// allocations decodes a usage record's usageAllocations leniently: elements that are not
// objects are dropped; an absent or malformed list is null. An array (even [] or one left
// empty by the dropping) is a non-nil slice, written as an empty list rather than NULL, and
// so is an allocation's Tags array: [] is not the same as nothing logged.
func allocations(raw []byte) []UsageAllocation {
	list, ok := elements(raw)
	if !ok {
		return nil
	}
	out := make([]UsageAllocation, 0, len(list))
	for _, item := range list {
		var a [2][]byte
		if _, ok := fields(item, allocationFields, a[:]); !ok {
			continue
		}
		ua := UsageAllocation{}
		if q := a[0]; len(q) > 0 && !isNull(q) {
			if v, ok := parseQuantity(q); ok {
				ua.AllocatedUsageQuantity = &v
			}
		}
		tags, isList := elements(a[1])
		if isList {
			ua.Tags = make([]Tag, 0, len(tags))
		}
		for _, tr := range tags {
			var tg [2][]byte
			if isObject, _ := fields(tr, tagFields, tg[:]); isObject {
				ua.Tags = append(ua.Tags, Tag{Key: textOf(tg[0]).ptr(), Value: textOf(tg[1]).ptr()})
			}
		}
		out = append(out, ua)
	}
	return out
}
