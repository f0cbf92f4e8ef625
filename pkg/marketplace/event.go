// Package marketplace is marketrail's data model: which CloudTrail events are AWS
// Marketplace events, and the rows they become. The struct types here are the one definition
// of each table: their `parquet` tags give the Parquet schema the lake writes, and their
// `doc` tags the column descriptions; the Athena DDL and the docs are derived from them.
//
// The `dict` option marks text columns that usually hold few distinct values (sources, names,
// regions, accounts, statuses, the log file's key): parquet-go writes them dictionary-encoded,
// which makes the files smaller (see docs/performance.md) without changing the columns'
// logical types, and so neither the DDL nor what Athena reads. Identifiers unique to a call
// (event_id, request_id, metering_record_id, access keys) and the JSON payloads stay plain,
// and so do columns of one or two values (event_type, event_category, catalog), which plain
// encoding and zstd already shrink to almost nothing: a dictionary only added bytes there.
package marketplace

import (
	"time"

	"github.com/marketrail/marketrail/pkg/trail"
)

// Event is one row of the events table: one AWS Marketplace CloudTrail event.
// Columns are nullable where CloudTrail may omit the field.
type Event struct {
	EventID             *string       `parquet:"event_id,optional" iceberg:"1" doc:"eventID: CloudTrail's unique id of the event; null in very old (eventVersion 1.0) records"`
	EventTime           time.Time     `parquet:"event_time,timestamp(millisecond)" iceberg:"2" doc:"eventTime, UTC, millisecond precision"`
	EventVersion        *string       `parquet:"event_version,optional,dict" iceberg:"3" doc:"eventVersion, as logged (text: \"1.10\" is not 1.1)"`
	EventSource         string        `parquet:"event_source,dict" iceberg:"4" doc:"eventSource: the Marketplace service, e.g. metering-marketplace.amazonaws.com"`
	EventName           string        `parquet:"event_name,dict" iceberg:"5" doc:"eventName: the API call, e.g. BatchMeterUsage"`
	EventType           *string       `parquet:"event_type,optional" iceberg:"6" doc:"eventType, e.g. AwsApiCall"`
	EventCategory       *string       `parquet:"event_category,optional" iceberg:"7" doc:"eventCategory, e.g. Management"`
	AWSRegion           *string       `parquet:"aws_region,optional,dict" iceberg:"8" doc:"awsRegion: the region the call was made to"`
	SourceIPAddress     *string       `parquet:"source_ip_address,optional,dict" iceberg:"9" doc:"sourceIPAddress: the caller's address, or the AWS service that called"`
	UserAgent           *string       `parquet:"user_agent,optional,dict" iceberg:"10" doc:"userAgent: the caller's client"`
	ErrorCode           *string       `parquet:"error_code,optional,dict" iceberg:"11" doc:"errorCode: the error the call returned; null when it succeeded"`
	ErrorMessage        *string       `parquet:"error_message,optional" iceberg:"12" doc:"errorMessage: the error's description"`
	RequestID           *string       `parquet:"request_id,optional" iceberg:"13" doc:"requestID: the service's id of the request"`
	ReadOnly            *bool         `parquet:"read_only,optional" iceberg:"14" doc:"readOnly: whether the call only reads (the string forms \"true\"/\"True\" are accepted)"`
	ManagementEvent     *bool         `parquet:"management_event,optional" iceberg:"15" doc:"managementEvent: whether this is a management event"`
	RecipientAccountID  *string       `parquet:"recipient_account_id,optional,dict" iceberg:"16" doc:"recipientAccountId: the account that received the event (for metering: the seller)"`
	SharedEventID       *string       `parquet:"shared_event_id,optional" iceberg:"17" doc:"sharedEventID: links the copies of an event delivered to several accounts"`
	APIVersion          *string       `parquet:"api_version,optional" iceberg:"18" doc:"apiVersion"`
	VPCEndpointID       *string       `parquet:"vpc_endpoint_id,optional" iceberg:"19" doc:"vpcEndpointId: the VPC endpoint the call came through"`
	RequestParameters   *string       `parquet:"request_parameters,optional" iceberg:"20" doc:"requestParameters as compact JSON text, keys in logged order; null when absent or null"`
	ResponseElements    *string       `parquet:"response_elements,optional" iceberg:"21" doc:"responseElements as compact JSON text, keys in logged order; null when absent or null"`
	AdditionalEventData *string       `parquet:"additional_event_data,optional" iceberg:"22" doc:"additionalEventData as compact JSON text; null when absent or null"`
	ServiceEventDetails *string       `parquet:"service_event_details,optional" iceberg:"23" doc:"serviceEventDetails as compact JSON text; null when absent or null"`
	UserIdentity        *UserIdentity `parquet:"user_identity,optional" iceberg:"24" doc:"userIdentity: who made the call; null for AWS service events that log none"`
	Resources           []Resource    `parquet:"resources,optional,list" iceberg:"51,element=52" doc:"resources: the resources the call acted on; an empty list when logged as [], null when not logged"`
	TLSDetails          *TLSDetails   `parquet:"tls_details,optional" iceberg:"56" doc:"tlsDetails: the TLS connection of the call"`

	// Marketplace identifiers lifted out of the payloads: from responseElements first, then
	// requestParameters, matching the key case-insensitively, top-level keys only.
	ProductCode          *string `parquet:"product_code,optional,dict" iceberg:"60" doc:"$.responseElements.productCode, else $.requestParameters.productCode"`
	CustomerIdentifier   *string `parquet:"customer_identifier,optional" iceberg:"61" doc:"$.responseElements.customerIdentifier, else $.requestParameters.customerIdentifier (BatchMeterUsage's per-record customers are in metering_records)"`
	CustomerAWSAccountID *string `parquet:"customer_aws_account_id,optional" iceberg:"62" doc:"$.responseElements.customerAWSAccountId, else $.requestParameters.customerAWSAccountId (any capitalisation)"`
	LicenseARN           *string `parquet:"license_arn,optional,dict" iceberg:"63" doc:"$.responseElements.licenseArn, else $.requestParameters.licenseArn: the licence of one agreement (ResolveCustomer's response under Concurrent Agreements); BatchMeterUsage's per-record licences are in metering_records"`
	AgreementID          *string `parquet:"agreement_id,optional" iceberg:"64" doc:"$.responseElements.agreementId, else $.requestParameters.agreementId"`
	AgreementRequestID   *string `parquet:"agreement_request_id,optional" iceberg:"65" doc:"$.responseElements.agreementRequestId, else $.requestParameters.agreementRequestId"`
	ChangeSetID          *string `parquet:"change_set_id,optional" iceberg:"66" doc:"$.responseElements.changeSetId, else $.requestParameters.changeSetId"`
	EntityID             *string `parquet:"entity_id,optional" iceberg:"67" doc:"$.responseElements.entityId, else $.requestParameters.entityId, else $.requestParameters.changeSet[0].entity.identifier (StartChangeSet: the first change's entity)"`
	Catalog              *string `parquet:"catalog,optional" iceberg:"68" doc:"$.responseElements.catalog, else $.requestParameters.catalog"`
	ListingID            *string `parquet:"listing_id,optional" iceberg:"69" doc:"$.responseElements.listingId, else $.requestParameters.listingId"`
	ProductID            *string `parquet:"product_id,optional" iceberg:"70" doc:"$.responseElements.productId, else $.requestParameters.productId"`

	SourceKey string `parquet:"source_key,dict" iceberg:"71" doc:"the log file the event came from, relative to the source root (the same for a bucket and a local copy of it)"`
	// SourceDigest is set by the pipeline, not by Decode.
	SourceDigest *string `parquet:"source_digest,optional,dict" iceberg:"72" doc:"with --verify-digests: what CloudTrail's digests say of the log file: verified (its SHA-256 is the one a digest lists), hash_mismatch (changed since delivery), not_covered (no digest lists it); null when digests were not checked"`

	// RecordIndex is the event's position in its log file. It is not a column: it orders
	// events deterministically and picks the surviving copy of a duplicate.
	RecordIndex int `parquet:"-"`
	// Metering holds the event's rows of the metering_records table (BatchMeterUsage,
	// MeterUsage); they are written only if the event survives deduplication.
	Metering []MeteringRecord `parquet:"-"`
	// Notes counts what Decode had to repair or could not parse, for the run report.
	Notes Notes `parquet:"-"`
}

// Notes counts the repairs Decode made to one event.
type Notes struct {
	InvalidUTF8   bool // some text held invalid UTF-8, replaced by U+FFFD
	UnparsedUsage int  // metering usage timestamps or quantities that could not be parsed (kept as null)
}

// UserIdentity is the userIdentity element: who made the call.
type UserIdentity struct {
	Type             *string         `parquet:"type,optional,dict" iceberg:"25" doc:"type"`
	PrincipalID      *string         `parquet:"principal_id,optional" iceberg:"26" doc:"principalId"`
	ARN              *string         `parquet:"arn,optional,dict" iceberg:"27" doc:"arn"`
	AccountID        *string         `parquet:"account_id,optional,dict" iceberg:"28" doc:"accountId"`
	AccessKeyID      *string         `parquet:"access_key_id,optional" iceberg:"29" doc:"accessKeyId"`
	UserName         *string         `parquet:"user_name,optional,dict" iceberg:"30" doc:"userName"`
	InvokedBy        *string         `parquet:"invoked_by,optional,dict" iceberg:"31" doc:"invokedBy"`
	IdentityProvider *string         `parquet:"identity_provider,optional,dict" iceberg:"32" doc:"identityProvider"`
	SessionContext   *SessionContext `parquet:"session_context,optional" iceberg:"33" doc:"sessionContext"`
	OnBehalfOf       *OnBehalfOf     `parquet:"on_behalf_of,optional" iceberg:"48" doc:"onBehalfOf"`
}

// SessionContext is userIdentity.sessionContext: the temporary credentials' session.
type SessionContext struct {
	Attributes          *SessionAttributes   `parquet:"attributes,optional" iceberg:"34" doc:"attributes"`
	SessionIssuer       *SessionIssuer       `parquet:"session_issuer,optional" iceberg:"37" doc:"sessionIssuer"`
	WebIDFederationData *WebIDFederationData `parquet:"web_id_federation_data,optional" iceberg:"43" doc:"webIdFederationData"`
	SourceIdentity      *string              `parquet:"source_identity,optional" iceberg:"46" doc:"sourceIdentity"`
	EC2RoleDelivery     *string              `parquet:"ec2_role_delivery,optional" iceberg:"47" doc:"ec2RoleDelivery"`
}

// SessionAttributes is sessionContext.attributes.
type SessionAttributes struct {
	CreationDate     *time.Time `parquet:"creation_date,optional,timestamp(millisecond)" iceberg:"35" doc:"creationDate, UTC"`
	MFAAuthenticated *bool      `parquet:"mfa_authenticated,optional" iceberg:"36" doc:"mfaAuthenticated (logged as the string \"true\" or \"false\")"`
}

// SessionIssuer is sessionContext.sessionIssuer: the role or user that issued the session.
type SessionIssuer struct {
	Type        *string `parquet:"type,optional" iceberg:"38" doc:"type"`
	PrincipalID *string `parquet:"principal_id,optional,dict" iceberg:"39" doc:"principalId"`
	ARN         *string `parquet:"arn,optional,dict" iceberg:"40" doc:"arn"`
	AccountID   *string `parquet:"account_id,optional,dict" iceberg:"41" doc:"accountId"`
	UserName    *string `parquet:"user_name,optional,dict" iceberg:"42" doc:"userName"`
}

// WebIDFederationData is sessionContext.webIdFederationData.
type WebIDFederationData struct {
	FederatedProvider *string `parquet:"federated_provider,optional,dict" iceberg:"44" doc:"federatedProvider"`
	Attributes        *string `parquet:"attributes,optional" iceberg:"45" doc:"attributes, as compact JSON text"`
}

// OnBehalfOf is userIdentity.onBehalfOf (IAM Identity Center).
type OnBehalfOf struct {
	UserID           *string `parquet:"user_id,optional" iceberg:"49" doc:"userId"`
	IdentityStoreARN *string `parquet:"identity_store_arn,optional" iceberg:"50" doc:"identityStoreArn"`
}

// Resource is one element of resources.
type Resource struct {
	ARN       *string `parquet:"arn,optional" iceberg:"53" doc:"arn"`
	AccountID *string `parquet:"account_id,optional,dict" iceberg:"54" doc:"accountId"`
	Type      *string `parquet:"type,optional,dict" iceberg:"55" doc:"type"`
}

// TLSDetails is the tlsDetails element.
type TLSDetails struct {
	TLSVersion               *string `parquet:"tls_version,optional,dict" iceberg:"57" doc:"tlsVersion"`
	CipherSuite              *string `parquet:"cipher_suite,optional,dict" iceberg:"58" doc:"cipherSuite"`
	ClientProvidedHostHeader *string `parquet:"client_provided_host_header,optional,dict" iceberg:"59" doc:"clientProvidedHostHeader"`
}

// EventDate is the partition an event belongs to: the UTC date of its eventTime.
func (e *Event) EventDate() trail.Day { return trail.DayOf(e.EventTime) }
