package marketplace

import (
	"slices"
	"strings"
)

// The Marketplace event sources, as CloudTrail logs them.
const (
	SourceMetering    = "metering-marketplace.amazonaws.com"
	SourceAgreement   = "agreement-marketplace.amazonaws.com"
	SourceCatalog     = "marketplacecatalog.amazonaws.com"
	SourceDiscovery   = "discovery-marketplace.amazonaws.com"
	SourceDeployment  = "deployment-marketplace.amazonaws.com"
	SourceEntitlement = "entitlement.marketplace.amazonaws.com"
	SourceAnalytics   = "marketplacecommerceanalytics.amazonaws.com"
	SourceReporting   = "reporting-marketplace.amazonaws.com"
	// SourceLegacy is the one source every Marketplace call was logged under before
	// September 2023.
	SourceLegacy = "aws-marketplace.amazonaws.com"
)

// IsMarketplaceSource reports whether an eventSource is an AWS Marketplace service: it
// contains "marketplace" and ends in ".amazonaws.com", the rule the default event-source
// filter selects by, so a source AWS adds later counts too.
func IsMarketplaceSource(source string) bool {
	return strings.Contains(source, "marketplace") && strings.HasSuffix(source, ".amazonaws.com")
}

// KnownOperation reports whether eventName is an operation the table of Operations lists
// for eventSource. The run report counts the Marketplace events whose operation it does not
// know (unknown_operations), so that a new API shows up there instead of only in JSON.
func KnownOperation(eventSource, eventName string) bool {
	return slices.Contains(Operations(eventSource), eventName)
}

// Operations returns the operations known for a Marketplace event source, sorted, or nil for
// a source it does not know. It is the one table of them. Each list is the service's API
// reference as of 2026 (docs.aws.amazon.com/marketplace/latest/APIReference and the SDK
// models), unless a comment says the name was seen in real CloudTrail logs instead. A
// function, not a variable, so that nobody can change the table at run time.
func Operations(eventSource string) []string {
	switch eventSource {
	case SourceMetering:
		// AWS Marketplace Metering Service, API version 2016-01-14.
		return []string{"BatchMeterUsage", "MeterUsage", "RegisterUsage", "ResolveCustomer"}
	case SourceAgreement:
		// AWS Marketplace Agreement Service, API version 2020-03-01: the operations its API
		// reference lists (payment requests, cancellation requests, billing adjustments,
		// entitlements, invoice line items) and those of its service model (approvals,
		// contacts, CancelAgreementRequest) and SDKs (ListAgreementPaymentRequests);
		// ListAgreementCharges, SendAgreementCancellationRequest and UpdatePurchaseOrders are
		// named by its access-control page ("Access control for the AWS Marketplace Agreement
		// API"). Operations whose name could not be confirmed in a reference are left out:
		// they show up as unknown until they are added here.
		return []string{
			"AcceptAgreementApproval",
			"AcceptAgreementCancellationRequest",
			"AcceptAgreementPaymentRequest",
			"AcceptAgreementRequest",
			"BatchCreateBillingAdjustmentRequest",
			"CancelAgreement",
			"CancelAgreementCancellationRequest",
			"CancelAgreementPaymentRequest",
			"CancelAgreementRequest",
			"CreateAgreementRequest",
			"DescribeAgreement",
			"GetAgreementApproval",
			"GetAgreementCancellationRequest",
			"GetAgreementContacts",
			"GetAgreementEntitlements",
			"GetAgreementPaymentRequest",
			"GetAgreementTerms",
			"GetBillingAdjustmentRequest",
			"ListAgreementCancellationRequests",
			"ListAgreementCharges",
			"ListAgreementInvoiceLineItems",
			"ListAgreementPaymentRequests",
			"SearchAgreements",
			"SendAgreementCancellationRequest",
			"UpdatePurchaseOrders",
		}
	case SourceCatalog:
		// AWS Marketplace Catalog API, API version 2018-09-17.
		return []string{
			"BatchDescribeEntities", "CancelChangeSet", "DeleteResourcePolicy", "DescribeChangeSet",
			"DescribeEntity", "GetResourcePolicy", "ListChangeSets", "ListEntities", "ListTagsForResource",
			"PutResourcePolicy", "StartChangeSet", "TagResource", "UntagResource",
		}
	case SourceDiscovery:
		// AWS Marketplace Discovery API, API version 2026-02-05. GetSearchFacets is not in
		// it (SearchFacets is) but is what the console's calls are logged as: seen in real
		// logs (the captured console sessions in ../shared/realdata, with SearchListings).
		// GetListingView, reported from real logs too, is deliberately not listed: no
		// reference documents it, so it is counted as unknown.
		return []string{
			"GetListing", "GetOffer", "GetOfferSet", "GetOfferTerms", "GetProduct", "GetSearchFacets",
			"ListFulfillmentOptions", "ListPurchaseOptions", "SearchFacets", "SearchListings",
		}
	case SourceDeployment:
		// AWS Marketplace Deployment Service, API version 2023-01-25.
		return []string{"ListTagsForResource", "PutDeploymentParameter", "TagResource", "UntagResource"}
	case SourceEntitlement:
		// AWS Marketplace Entitlement Service, API version 2017-01-11.
		return []string{"GetEntitlements"}
	case SourceAnalytics:
		// AWS Marketplace Commerce Analytics, API version 2015-07-01.
		return []string{"GenerateDataSet", "StartSupportDataExport"}
	case SourceReporting:
		// AWS Marketplace Reporting Service.
		return []string{"GetBuyerDashboard"}
	case SourceLegacy:
		// Before September 2023 the Catalog API was logged under this source, with the
		// console's subscription calls, named like the IAM actions aws-marketplace:Subscribe
		// and aws-marketplace:Unsubscribe.
		return []string{
			"BatchDescribeEntities", "CancelChangeSet", "DeleteResourcePolicy", "DescribeChangeSet",
			"DescribeEntity", "GetResourcePolicy", "ListChangeSets", "ListEntities", "ListTagsForResource",
			"PutResourcePolicy", "StartChangeSet", "Subscribe", "TagResource", "Unsubscribe", "UntagResource",
		}
	}
	return nil
}
