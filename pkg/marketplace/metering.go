package marketplace

import (
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

// meteringRecords returns the metering_records rows of a decoded event e, from its logged
// requestParameters and responseElements, and how many usage timestamps or quantities could
// not be parsed (they are kept as null). e's common fields are already set.
func meteringRecords(e *Event, req, resp []byte) ([]MeteringRecord, int) {
	return nil, 0
}
