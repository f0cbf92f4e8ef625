// Package marketplace is marketrail's data model: which CloudTrail events are AWS
// Marketplace events, and the rows they become. The struct types here are the one definition
// of each table: their `parquet` tags give the Parquet schema the lake writes, and their
// `doc` tags the column descriptions; the Athena DDL and the docs are derived from them.
package marketplace

import (
	"time"

	"github.com/marketrail/marketrail/pkg/trail"
)

// Event is one row of the events table: one AWS Marketplace CloudTrail event.
// Columns are nullable where CloudTrail may omit the field.
type Event struct {
	EventID             *string   `parquet:"event_id,optional" doc:"eventID: CloudTrail's unique id of the event; null in very old (eventVersion 1.0) records"`
	EventTime           time.Time `parquet:"event_time,timestamp(millisecond)" doc:"eventTime, UTC, millisecond precision"`
	EventVersion        *string   `parquet:"event_version,optional" doc:"eventVersion, as logged (text: \"1.10\" is not 1.1)"`
	EventSource         string    `parquet:"event_source" doc:"eventSource: the Marketplace service, e.g. metering-marketplace.amazonaws.com"`
	EventName           string    `parquet:"event_name" doc:"eventName: the API call, e.g. BatchMeterUsage"`
	EventType           *string   `parquet:"event_type,optional" doc:"eventType, e.g. AwsApiCall"`
	EventCategory       *string   `parquet:"event_category,optional" doc:"eventCategory, e.g. Management"`
	AWSRegion           *string   `parquet:"aws_region,optional" doc:"awsRegion: the region the call was made to"`
	SourceIPAddress     *string   `parquet:"source_ip_address,optional" doc:"sourceIPAddress: the caller's address, or the AWS service that called"`
	UserAgent           *string   `parquet:"user_agent,optional" doc:"userAgent: the caller's client"`
	ErrorCode           *string   `parquet:"error_code,optional" doc:"errorCode: the error the call returned; null when it succeeded"`
	ErrorMessage        *string   `parquet:"error_message,optional" doc:"errorMessage: the error's description"`
	RequestID           *string   `parquet:"request_id,optional" doc:"requestID: the service's id of the request"`
	ReadOnly            *bool     `parquet:"read_only,optional" doc:"readOnly: whether the call only reads (the string forms \"true\"/\"True\" are accepted)"`
	ManagementEvent     *bool     `parquet:"management_event,optional" doc:"managementEvent: whether this is a management event"`
	RecipientAccountID  *string   `parquet:"recipient_account_id,optional" doc:"recipientAccountId: the account that received the event (for metering: the seller)"`
	SharedEventID       *string   `parquet:"shared_event_id,optional" doc:"sharedEventID: links the copies of an event delivered to several accounts"`
	APIVersion          *string   `parquet:"api_version,optional" doc:"apiVersion"`
	VPCEndpointID       *string   `parquet:"vpc_endpoint_id,optional" doc:"vpcEndpointId: the VPC endpoint the call came through"`
	RequestParameters   *string   `parquet:"request_parameters,optional" doc:"requestParameters as compact JSON text, keys in logged order; null when absent or null"`
	ResponseElements    *string   `parquet:"response_elements,optional" doc:"responseElements as compact JSON text, keys in logged order; null when absent or null"`
	AdditionalEventData *string   `parquet:"additional_event_data,optional" doc:"additionalEventData as compact JSON text; null when absent or null"`
	ServiceEventDetails *string   `parquet:"service_event_details,optional" doc:"serviceEventDetails as compact JSON text; null when absent or null"`
	SourceKey           string    `parquet:"source_key" doc:"the log file the event came from, relative to the source root (the same for a bucket and a local copy of it)"`

	// RecordIndex is the event's position in its log file. It is not a column: it orders
	// events deterministically and picks the surviving copy of a duplicate.
	RecordIndex int `parquet:"-"`
}

// EventDate is the partition an event belongs to: the UTC date of its eventTime.
func (e *Event) EventDate() trail.Day { return trail.DayOf(e.EventTime) }
