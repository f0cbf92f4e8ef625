package gentrail

import (
	"strconv"
	"strings"
	"time"
)

// Marketplace event sources.
const (
	srcMetering    = "metering-marketplace.amazonaws.com"
	srcAgreement   = "agreement-marketplace.amazonaws.com"
	srcCatalog     = "marketplacecatalog.amazonaws.com"
	srcDiscovery   = "discovery-marketplace.amazonaws.com"
	srcDeployment  = "deployment-marketplace.amazonaws.com"
	srcLegacy      = "aws-marketplace.amazonaws.com"
	srcEntitlement = "entitlement.marketplace.amazonaws.com"
	srcAnalytics   = "marketplacecommerceanalytics.amazonaws.com"
	srcReporting   = "reporting-marketplace.amazonaws.com"
)

const catalogName = "AWSMarketplace"

// template makes one shape of event. Marketplace templates, noise templates and decoy
// templates share it.
type template struct {
	variant string // e.g. BatchMeterUsage/throttled
	source  string
	name    string
	global  bool // logged in us-east-1 only
	weight  int  // relative frequency in regular batches (0: only where placed by hand)
	build   func(c *ctx) event
}

// marketplaceTemplates is every Marketplace event shape the generator writes.
var marketplaceTemplates = []template{
	{"BatchMeterUsage/success", srcMetering, "BatchMeterUsage", false, 18, func(c *ctx) event { return batchMeterUsage(c, "success") }},
	{"BatchMeterUsage/customer_aws_account_id", srcMetering, "BatchMeterUsage", false, 4, func(c *ctx) event { return batchMeterUsage(c, "customer_aws_account_id") }},
	{"BatchMeterUsage/customer_aws_account_id_api_case", srcMetering, "BatchMeterUsage", false, 2, func(c *ctx) event { return batchMeterUsage(c, "customer_aws_account_id_api_case") }},
	{"BatchMeterUsage/unprocessed", srcMetering, "BatchMeterUsage", false, 3, func(c *ctx) event { return batchMeterUsage(c, "unprocessed") }},
	{"BatchMeterUsage/throttled", srcMetering, "BatchMeterUsage", false, 2, func(c *ctx) event { return batchMeterUsage(c, "throttled") }},
	{"BatchMeterUsage/no_response", srcMetering, "BatchMeterUsage", false, 1, func(c *ctx) event { return batchMeterUsage(c, "no_response") }},
	{"MeterUsage/success", srcMetering, "MeterUsage", false, 8, func(c *ctx) event { return meterUsage(c, "success") }},
	{"MeterUsage/dry_run", srcMetering, "MeterUsage", false, 1, func(c *ctx) event { return meterUsage(c, "dry_run") }},
	{"RegisterUsage/success", srcMetering, "RegisterUsage", false, 4, registerUsage},
	{"ResolveCustomer/success", srcMetering, "ResolveCustomer", false, 4, resolveCustomer},

	{"AcceptAgreementRequest/success", srcAgreement, "AcceptAgreementRequest", true, 4, acceptAgreementRequest},
	{"CancelAgreement/success", srcAgreement, "CancelAgreement", true, 2, func(c *ctx) event { return agreementRead(c, "CancelAgreement", false) }},
	{"DescribeAgreement/success", srcAgreement, "DescribeAgreement", true, 3, func(c *ctx) event { return agreementRead(c, "DescribeAgreement", true) }},
	{"GetAgreementTerms/success", srcAgreement, "GetAgreementTerms", true, 2, func(c *ctx) event { return agreementRead(c, "GetAgreementTerms", true) }},
	{"SearchAgreements/success", srcAgreement, "SearchAgreements", true, 2, searchAgreements},

	{"StartChangeSet/success", srcCatalog, "StartChangeSet", true, 5, func(c *ctx) event { return startChangeSet(c, srcCatalog, "") }},
	{"StartChangeSet/failed", srcCatalog, "StartChangeSet", true, 1, func(c *ctx) event { return startChangeSet(c, srcCatalog, "ResourceInUseException") }},
	{"DescribeEntity/success", srcCatalog, "DescribeEntity", true, 4, describeEntity},
	{"ListEntities/success", srcCatalog, "ListEntities", true, 3, listEntities},
	{"DescribeChangeSet/success", srcCatalog, "DescribeChangeSet", true, 3, describeChangeSet},

	{"SearchListings/console", srcDiscovery, "SearchListings", true, 3, func(c *ctx) event { return discovery(c, "SearchListings") }},
	{"GetSearchFacets/console", srcDiscovery, "GetSearchFacets", true, 2, func(c *ctx) event { return discovery(c, "GetSearchFacets") }},
	{"GetListing/console", srcDiscovery, "GetListing", true, 3, func(c *ctx) event { return discovery(c, "GetListing") }},

	{"PutDeploymentParameter/success", srcDeployment, "PutDeploymentParameter", true, 2, putDeploymentParameter},

	{"Subscribe/legacy", srcLegacy, "Subscribe", true, 1, func(c *ctx) event { return legacySubscription(c, "Subscribe") }},
	{"Unsubscribe/legacy", srcLegacy, "Unsubscribe", true, 1, func(c *ctx) event { return legacySubscription(c, "Unsubscribe") }},
	{"StartChangeSet/legacy", srcLegacy, "StartChangeSet", true, 1, func(c *ctx) event { return startChangeSet(c, srcLegacy, "") }},
	{"Subscribe/legacy_v1.0_no_event_id", srcLegacy, "Subscribe", true, 0, legacyV10},

	{"GetEntitlements/success", srcEntitlement, "GetEntitlements", true, 3, getEntitlements},
	{"GenerateDataSet/success", srcAnalytics, "GenerateDataSet", true, 1, generateDataSet},
	{"GetBuyerDashboard/success", srcReporting, "GetBuyerDashboard", true, 1, getBuyerDashboard},

	// The 2026 shapes, placed by hand only (weight 0), so that regular batches stay what
	// they were: Concurrent Agreements metering (AWS's BatchMeterUsage reference: new SaaS
	// products name customerAWSAccountId and licenseArn on every usage record, and no
	// productCode), ResolveCustomer's licenseArn, MeterUsage's clientToken, a newer agreement
	// operation, and calls no API reference documents.
	{"BatchMeterUsage/concurrent_agreements", srcMetering, "BatchMeterUsage", false, 0, func(c *ctx) event { return batchMeterUsage(c, "concurrent_agreements") }},
	{"BatchMeterUsage/concurrent_agreements_throttled", srcMetering, "BatchMeterUsage", false, 0, func(c *ctx) event { return batchMeterUsage(c, "concurrent_agreements_throttled") }},
	{"BatchMeterUsage/concurrent_agreements_no_response", srcMetering, "BatchMeterUsage", false, 0, func(c *ctx) event { return batchMeterUsage(c, "concurrent_agreements_no_response") }},
	{"BatchMeterUsage/concurrent_agreements_two_licenses", srcMetering, "BatchMeterUsage", false, 0, func(c *ctx) event { return batchMeterUsage(c, "concurrent_agreements_two_licenses") }},
	{"ResolveCustomer/concurrent_agreements", srcMetering, "ResolveCustomer", false, 0, resolveCustomerLicense},
	{"MeterUsage/client_token", srcMetering, "MeterUsage", false, 0, func(c *ctx) event { return meterUsage(c, "client_token") }},
	{"GetAgreementEntitlements/success", srcAgreement, "GetAgreementEntitlements", true, 0, func(c *ctx) event { return agreementRead(c, "GetAgreementEntitlements", true) }},
	{"GetListingView/console", srcDiscovery, "GetListingView", true, 0, func(c *ctx) event { return unknownOperation(discovery(c, "GetListingView")) }},
	{"ForecastAgreementUsage/success", srcAgreement, "ForecastAgreementUsage", true, 0, func(c *ctx) event {
		return unknownOperation(agreementRead(c, "ForecastAgreementUsage", true))
	}},
}

// unknownOperation marks e as a call outside the documented operations.
func unknownOperation(e event) event {
	e.cp.UnknownOperation = true
	return e
}

func (c *ctx) productIndex() int { return c.r.IntN(len(c.w.products)) }

// meteringStatus is the status of one BatchMeterUsage result.
func (c *ctx) meteringStatus() string {
	switch x := c.r.IntN(100); {
	case x < 85:
		return "Success"
	case x < 93:
		return "CustomerNotSubscribed"
	default:
		return "DuplicateRecord"
	}
}

func (c *ctx) quantity() int {
	if chance(c.r, 0.3) {
		return c.r.IntN(5) // small counts, including 0
	}
	return 1 + c.r.IntN(1000)
}

// saasCaller makes the SaaS application that meters the caller: a role session, or an IAM
// user's access key.
func (c *ctx) saasCaller(x *rec) {
	if chance(c.r, 0.7) {
		c.role(x, roleSaaSMetering, "saas-metering-"+strconv.Itoa(1+c.r.IntN(6)), nil)
	} else {
		c.user(x)
	}
}

func batchMeterUsage(c *ctx, variant string) event {
	pi := c.productIndex()
	p := &c.w.products[pi]
	x := c.newRec(srcMetering, "BatchMeterUsage")
	c.saasCaller(x)
	n := 1 + c.r.IntN(4) // most calls send a few records; some send up to 25
	if chance(c.r, 0.1) {
		n = 1 + c.r.IntN(25)
	}
	idKey := ""
	switch variant {
	case "customer_aws_account_id":
		idKey = "customerAWSAccountID"
	case "customer_aws_account_id_api_case":
		idKey = "customerAWSAccountId"
	}
	// Concurrent Agreements: the customer's account and one of its licences on every
	// record; two_licenses meters one account and dimension under both of its licences in
	// the same hour.
	concurrent := strings.HasPrefix(variant, "concurrent_agreements")
	twoLicenses := variant == "concurrent_agreements_two_licenses"
	if concurrent {
		idKey = "customerAWSAccountId"
		n = 2 + c.r.IntN(3)
	}
	var fixed customer
	var fixedDim string
	if twoLicenses {
		n, fixed, fixedDim = 2, c.w.customerFor(c.r, pi), pick(c.r, p.dims)
	}
	hour := c.t.Truncate(time.Hour).Add(-time.Duration(c.r.IntN(3)) * time.Hour)
	usage := make(arr, 0, n)
	ms := make([]Metering, 0, n)
	for i := 0; i < n; i++ {
		var cu customer
		var dim string
		if twoLicenses {
			cu, dim = fixed, fixedDim
		} else {
			cu, dim = c.w.customerFor(c.r, pi), pick(c.r, p.dims)
		}
		q := c.quantity()
		span := min(3600, int(c.t.Sub(hour)/time.Second)+1)
		ts := hour.Add(time.Duration(c.r.IntN(span)) * time.Second)
		ur := obj{{"timestamp", usageTime(ts)}}
		m := Metering{Dimension: dim, Quantity: q, Timestamp: ts.UTC().Format(time.RFC3339), ProductCode: p.code}
		if idKey != "" {
			ur = append(ur, kv{idKey, cu.account})
			m.CustomerAWSAccountID, m.AccountIDKey = cu.account, idKey
			if concurrent {
				lic := cu.licenses[i%2]
				if !twoLicenses {
					lic = cu.licenses[c.r.IntN(2)]
				}
				ur = append(ur, kv{"licenseArn", lic})
				m.LicenseARN, m.ProductCode = lic, ""
			}
		} else {
			ur = append(ur, kv{"customerIdentifier", cu.id})
			m.CustomerIdentifier = cu.id
		}
		ur = append(ur, kv{"dimension", dim}, kv{"quantity", q})
		usage = append(usage, ur)
		ms = append(ms, m)
	}
	x.Req = obj{{"usageRecords", usage}, {"productCode", p.code}}
	if concurrent {
		x.Req = obj{{"usageRecords", usage}}
	}
	switch variant {
	case "throttled", "concurrent_agreements_throttled":
		x.ErrCode, x.ErrMsg = "ThrottlingException", "Rate exceeded"
	case "no_response", "concurrent_agreements_no_response":
		x.NoResp = true
	default:
		k := 0
		switch variant {
		case "unprocessed":
			k = 1 + c.r.IntN(min(3, n))
		case "concurrent_agreements":
			k = 1 // results and an unprocessed record, each with its licence
		}
		results := arr{}
		unprocessed := arr{}
		for i := range usage {
			if i >= n-k {
				unprocessed = append(unprocessed, usage[i])
				ms[i].Unprocessed = true
				continue
			}
			st := c.meteringStatus()
			if twoLicenses {
				st = "Success" // both licences metered: what the seller must tell apart
			}
			res := obj{{"usageRecord", usage[i]}}
			if st != "CustomerNotSubscribed" {
				id := uuid4(c.r)
				res = append(res, kv{"meteringRecordId", id})
				ms[i].MeteringRecordID = id
			}
			res = append(res, kv{"status", st})
			ms[i].Status = st
			results = append(results, res)
		}
		x.Resp = obj{{"results", results}, {"unprocessedRecords", unprocessed}}
	}
	e, cp := x.mp("BatchMeterUsage/" + variant)
	if !concurrent {
		cp.ProductCode = p.code
	}
	cp.Metering = ms
	return e
}

// meterUsage makes a MeterUsage call: variant success, dry_run, or client_token (a
// successful call with the clientToken AWS's reference now documents; MeterUsage has no
// licence).
func meterUsage(c *ctx, variant string) event {
	dryRun := variant == "dry_run"
	p := &c.w.products[c.productIndex()]
	x := c.newRec(srcMetering, "MeterUsage")
	c.role(x, roleEC2App, c.instanceID(), nil)
	dim := pick(c.r, p.dims)
	q := c.quantity()
	ts := c.t.Add(-time.Duration(c.r.IntN(1800)) * time.Second)
	x.Req = obj{
		{"productCode", p.code},
		{"timestamp", usageTime(ts)},
		{"usageDimension", dim},
		{"usageQuantity", q},
		{"dryRun", dryRun},
	}
	if variant == "client_token" {
		x.Req = append(x.Req.(obj), kv{"clientToken", uuid4(c.r)})
	}
	m := Metering{Dimension: dim, Quantity: q, Timestamp: ts.UTC().Format(time.RFC3339), ProductCode: p.code}
	variant = "MeterUsage/" + variant
	if dryRun {
		x.ErrCode = "DryRunOperation"
		x.ErrMsg = "The request would have succeeded, but the DryRun parameter was used."
	} else {
		m.MeteringRecordID = uuid4(c.r)
		x.Resp = obj{{"meteringRecordId", m.MeteringRecordID}}
	}
	e, cp := x.mp(variant)
	cp.ProductCode = p.code
	cp.Metering = []Metering{m}
	return e
}

func registerUsage(c *ctx) event {
	p := &c.w.products[c.productIndex()]
	x := c.newRec(srcMetering, "RegisterUsage")
	web := obj{
		{"federatedProvider", "arn:aws:iam::" + c.acct.id + ":oidc-provider/oidc.eks." + c.region + ".amazonaws.com/id/" + c.acct.oidc},
		{"attributes", obj{}},
	}
	c.role(x, roleEKSMetering, "botocore-session-"+strconv.FormatInt(c.t.Unix()-int64(c.r.IntN(7200)), 10), web)
	x.UA = "aws-sdk-go/1.50.30 (go1.21.7; linux; amd64)"
	x.Req = obj{{"productCode", p.code}, {"publicKeyVersion", 1}, {"nonce", uuid4(c.r)}}
	x.Resp = obj{
		{"publicKeyRotationTimestamp", usageTime(c.t.AddDate(0, 3, 0).Truncate(24 * time.Hour))},
		{"signature", "eyJhbGciOiJQUzI1NiIsInR5cCI6IkpXVCJ9." + randStr(c.r, b64Chars, 120) + "." + randStr(c.r, b64Chars, 86)},
	}
	e, cp := x.mp("RegisterUsage/success")
	cp.ProductCode = p.code
	return e
}

func resolveCustomer(c *ctx) event {
	pi := c.productIndex()
	p := &c.w.products[pi]
	cu := c.w.customerFor(c.r, pi)
	x := c.newRec(srcMetering, "ResolveCustomer")
	c.saasCaller(x)
	x.Req = obj{{"registrationToken", "HIDDEN_DUE_TO_SECURITY_REASONS"}}
	x.Resp = obj{{"customerIdentifier", cu.id}, {"customerAWSAccountId", cu.account}, {"productCode", p.code}}
	e, cp := x.mp("ResolveCustomer/success")
	cp.ProductCode, cp.CustomerIdentifier, cp.CustomerAWSAccountID = p.code, cu.id, cu.account
	return e
}

// resolveCustomerLicense is ResolveCustomer for a product integrated for Concurrent
// Agreements: the response names the customer's account, one of its licences and the
// product, and no customerIdentifier (AWS's ResolveCustomer reference).
func resolveCustomerLicense(c *ctx) event {
	pi := c.productIndex()
	p := &c.w.products[pi]
	cu := c.w.customerFor(c.r, pi)
	lic := cu.licenses[c.r.IntN(2)]
	x := c.newRec(srcMetering, "ResolveCustomer")
	c.saasCaller(x)
	x.Req = obj{{"registrationToken", "HIDDEN_DUE_TO_SECURITY_REASONS"}}
	x.Resp = obj{{"customerAWSAccountId", cu.account}, {"licenseArn", lic}, {"productCode", p.code}}
	e, cp := x.mp("ResolveCustomer/concurrent_agreements")
	cp.ProductCode, cp.CustomerAWSAccountID, cp.LicenseARN = p.code, cu.account, lic
	return e
}

// unknownCaller is the identity the Agreements API logs: type Unknown.
func (c *ctx) unknownCaller(x *rec) {
	x.setIdentity("Unknown", obj{
		{"type", "Unknown"},
		{"principalId", c.acct.id},
		{"accountId", c.acct.id},
		{"accessKeyId", ""},
		{"userName", pick(c.r, c.acct.users)},
	})
	if chance(c.r, 0.6) {
		x.UA = consoleAgent
	}
}

func acceptAgreementRequest(c *ctx) event {
	i := c.r.IntN(len(c.w.agreements))
	x := c.newRec(srcAgreement, "AcceptAgreementRequest")
	c.unknownCaller(x)
	x.Req = obj{{"agreementRequestId", c.w.agreeReqs[i]}}
	x.Resp = obj{{"agreementId", c.w.agreements[i]}}
	e, cp := x.mp("AcceptAgreementRequest/success")
	cp.AgreementRequestID, cp.AgreementID = c.w.agreeReqs[i], c.w.agreements[i]
	return e
}

// agreementRead makes CancelAgreement, DescribeAgreement or GetAgreementTerms.
func agreementRead(c *ctx, name string, readOnly bool) event {
	id := pick(c.r, c.w.agreements)
	x := c.newRec(srcAgreement, name)
	c.unknownCaller(x)
	x.ReadOnly = readOnly
	switch name {
	case "GetAgreementTerms":
		x.Req = obj{{"agreementId", id}, {"maxResults", 50}}
	case "CancelAgreement":
		x.Req = obj{{"agreementId", id}, {"reason", pick(c.r, []string{"No longer needed", "Switching vendor", "Budget"})}}
	default:
		x.Req = obj{{"agreementId", id}}
	}
	e, cp := x.mp(name + "/success")
	cp.AgreementID = id
	return e
}

func searchAgreements(c *ctx) event {
	x := c.newRec(srcAgreement, "SearchAgreements")
	c.unknownCaller(x)
	x.ReadOnly = true
	x.Req = obj{
		{"catalog", catalogName},
		{"filters", arr{
			obj{{"name", "PartyType"}, {"values", []string{pick(c.r, []string{"Proposer", "Acceptor"})}}},
			obj{{"name", "AgreementType"}, {"values", []string{"PurchaseAgreement"}}},
		}},
		{"maxResults", 20},
	}
	e, _ := x.mp("SearchAgreements/success")
	return e
}

var productChanges = []string{"UpdateInformation", "AddDimensions", "UpdateDimensions", "UpdateTargeting", "UpdateVisibility"}
var offerChanges = []string{"UpdatePricingTerms", "UpdateAvailability", "UpdateLegalTerms", "ReleaseOffer", "UpdateRenewalTerms"}

// catalogCaller is one of several principals who edit the catalog.
func (c *ctx) catalogCaller(x *rec) {
	switch c.r.IntN(3) {
	case 0:
		c.user(x)
	case 1:
		c.role(x, roleSeller, pick(c.r, c.acct.users)+"@example.com", nil)
	default:
		c.sso(x)
	}
}

func startChangeSet(c *ctx, source, failure string) event {
	p := &c.w.products[c.productIndex()]
	x := c.newRec(source, "StartChangeSet")
	c.catalogCaller(x)
	n := 1 + c.r.IntN(3)
	changes := make(arr, 0, n)
	var first string
	for i := 0; i < n; i++ {
		var change obj
		if chance(c.r, 0.5) {
			ct := pick(c.r, productChanges)
			var details obj
			switch ct {
			case "UpdateInformation":
				details = obj{{"ProductTitle", p.title}, {"ShortDescription", p.title + " on AWS"}, {"Categories", []string{"Security", "Monitoring"}}}
			case "AddDimensions", "UpdateDimensions":
				details = obj{{"Key", pick(c.r, p.dims)}, {"Description", "per unit per hour"}, {"Unit", "Units"}, {"Types", []string{"ExternallyMetered"}}}
			default:
				details = obj{{"PositiveTargeting", obj{{"BuyerAccounts", []string{accountID(c.r)}}}}}
			}
			change = obj{{"changeType", ct}, {"entity", obj{{"identifier", p.id}, {"type", p.kind}}}, {"details", jsonText(details)}}
			if first == "" {
				first = p.id
			}
		} else {
			offer := pick(c.r, p.offers)
			ct := pick(c.r, offerChanges)
			details := obj{{"Terms", arr{obj{{"Type", "UsageBasedPricingTerm"}, {"CurrencyCode", "USD"}, {"RateCards", arr{obj{{"RateCard", arr{obj{{"DimensionKey", pick(c.r, p.dims)}, {"Price", strconv.Itoa(c.r.IntN(100)) + "." + randStr(c.r, digitChars, 2)}}}}}}}}}}}
			change = obj{{"changeType", ct}, {"entity", obj{{"identifier", offer}, {"type", "Offer@1.0"}}}, {"details", jsonText(details)}}
			if first == "" {
				first = offer
			}
		}
		changes = append(changes, change)
	}
	x.Req = obj{{"catalog", catalogName}, {"changeSet", changes}, {"changeSetName", "update " + p.title}, {"clientRequestToken", uuid4(c.r)}}
	variant := "StartChangeSet/success"
	if source == srcLegacy {
		variant = "StartChangeSet/legacy"
	}
	var csID string
	if failure != "" {
		variant = "StartChangeSet/failed"
		x.ErrCode = failure
		x.ErrMsg = "Requested change set has entities locked by change sets - " + randStr(c.r, lowerChars, 25)
	} else {
		csID = randStr(c.r, lowerChars, 25)
		x.Resp = obj{{"changeSetId", csID}, {"changeSetArn", "arn:aws:aws-marketplace:us-east-1:" + c.acct.id + ":AWSMarketplace/ChangeSet/" + csID}}
	}
	e, cp := x.mp(variant)
	cp.ChangeSetID, cp.EntityID = csID, first
	return e
}

func describeEntity(c *ctx) event {
	p := &c.w.products[c.productIndex()]
	id := p.id
	if chance(c.r, 0.4) {
		id = pick(c.r, p.offers)
	}
	x := c.newRec(srcCatalog, "DescribeEntity")
	c.catalogCaller(x)
	x.ReadOnly = true
	x.Req = obj{{"catalog", catalogName}, {"entityId", id}}
	e, cp := x.mp("DescribeEntity/success")
	cp.EntityID = id
	return e
}

func listEntities(c *ctx) event {
	x := c.newRec(srcCatalog, "ListEntities")
	c.catalogCaller(x)
	x.ReadOnly = true
	x.Req = obj{{"catalog", catalogName}, {"entityType", pick(c.r, []string{"SaaSProduct", "Offer", "AmiProduct", "ContainerProduct"})}, {"maxResults", 50}}
	e, _ := x.mp("ListEntities/success")
	return e
}

func describeChangeSet(c *ctx) event {
	id := randStr(c.r, lowerChars, 25)
	x := c.newRec(srcCatalog, "DescribeChangeSet")
	c.catalogCaller(x)
	x.ReadOnly = true
	x.Req = obj{{"catalog", catalogName}, {"changeSetId", id}}
	e, cp := x.mp("DescribeChangeSet/success")
	cp.ChangeSetID = id
	return e
}

// discovery makes a Discovery API call as the console logs it: userAgent "AWS Internal",
// responseElements null.
func discovery(c *ctx, name string) event {
	p := &c.w.products[c.productIndex()]
	x := c.newRec(srcDiscovery, name)
	c.sso(x)
	x.IP, x.UA = awsInternal, awsInternal
	x.ReadOnly = true
	x.TLS = nil
	var listing string
	switch name {
	case "SearchListings":
		x.Req = obj{{"catalog", catalogName}, {"searchText", pick(c.r, c.w.searches)}, {"maxResults", 20}}
	case "GetSearchFacets":
		x.Req = obj{{"catalog", catalogName}, {"facetTypes", []string{"CATEGORY", "PRICING_MODEL", "DELIVERY_METHOD"}}}
	default:
		listing = p.listing
		x.Req = obj{{"catalog", catalogName}, {"listingId", listing}}
	}
	e, cp := x.mp(name + "/console")
	cp.ListingID = listing
	return e
}

func putDeploymentParameter(c *ctx) event {
	p := &c.w.products[c.productIndex()]
	agmt := pick(c.r, c.w.agreements)
	x := c.newRec(srcDeployment, "PutDeploymentParameter")
	c.person(x)
	dp := "dp-" + randStr(c.r, lowerChars, 25)
	x.Req = obj{
		{"catalog", catalogName},
		{"productId", p.id},
		{"agreementId", agmt},
		{"deploymentParameter", obj{{"name", pick(c.r, []string{"ApiKey", "TenantUrl", "LicenseKey"})}, {"secretString", "***"}}},
		{"clientToken", uuid4(c.r)},
	}
	x.Resp = obj{
		{"agreementId", agmt},
		{"deploymentParameterId", dp},
		{"resourceArn", "arn:aws:aws-marketplace:us-east-1:" + c.acct.id + ":AWSMarketplace/DeploymentParameter/" + dp},
	}
	e, cp := x.mp("PutDeploymentParameter/success")
	cp.ProductID, cp.AgreementID = p.id, agmt
	return e
}

// legacySubscription is a subscription change logged under the old, shared event source.
func legacySubscription(c *ctx, name string) event {
	p := &c.w.products[c.productIndex()]
	x := c.newRec(srcLegacy, name)
	c.sso(x)
	x.Req = obj{{"productCode", p.code}, {"offerId", pick(c.r, p.offers)}}
	e, cp := x.mp(name + "/legacy")
	cp.ProductCode = p.code
	return e
}

// legacyV10 is a very old record (eventVersion 1.0): no eventID, eventType, readOnly or
// recipientAccountId.
func legacyV10(c *ctx) event {
	p := &c.w.products[c.productIndex()]
	x := &rec{
		Version:   "1.0",
		Time:      c.t,
		Source:    srcLegacy,
		Name:      "Subscribe",
		Region:    c.region,
		IP:        c.ip(),
		UA:        "aws-marketplace.amazonaws.com",
		RequestID: uuid4(c.r),
	}
	c.user(x)
	x.Req = obj{{"productCode", p.code}}
	e, cp := x.mp("Subscribe/legacy_v1.0_no_event_id")
	cp.ProductCode = p.code
	return e
}

func getEntitlements(c *ctx) event {
	pi := c.productIndex()
	p := &c.w.products[pi]
	cu := c.w.customerFor(c.r, pi)
	x := c.newRec(srcEntitlement, "GetEntitlements")
	c.saasCaller(x)
	x.ReadOnly = true
	x.Req = obj{{"productCode", p.code}, {"filter", obj{{"CUSTOMER_IDENTIFIER", []string{cu.id}}}}}
	e, cp := x.mp("GetEntitlements/success")
	cp.ProductCode, cp.CustomerIdentifier = p.code, cu.id
	return e
}

func generateDataSet(c *ctx) event {
	x := c.newRec(srcAnalytics, "GenerateDataSet")
	c.person(x)
	day := c.t.Truncate(24 * time.Hour)
	x.Req = obj{
		{"dataSetType", pick(c.r, []string{"customer_subscriber_hourly_monthly_subscriptions", "daily_business_usage_by_instance_type", "monthly_revenue_billing_and_revenue_data", "disbursed_amount_by_product"})},
		{"dataSetPublicationDate", usageTime(day)},
		{"roleNameArn", "arn:aws:iam::" + c.acct.id + ":role/MarketplaceCommerceAnalyticsRole"},
		{"destinationS3BucketName", "seller-reports-" + c.acct.id},
		{"destinationS3Prefix", "mca/"},
		{"snsTopicArn", "arn:aws:sns:us-east-1:" + c.acct.id + ":mca-notifications"},
	}
	x.Resp = obj{{"dataSetRequestId", uuid4(c.r)}}
	e, _ := x.mp("GenerateDataSet/success")
	return e
}

func getBuyerDashboard(c *ctx) event {
	x := c.newRec(srcReporting, "GetBuyerDashboard")
	c.sso(x)
	x.ReadOnly = true
	x.Req = obj{
		{"dashboardIdentifier", "arn:aws:aws-marketplace::" + c.acct.id + ":AWSMarketplace/ReportingData/Agreement_V1/Dashboard/AgreementSummary_V1"},
		{"embeddingDomains", []string{"https://console.aws.amazon.com"}},
	}
	e, _ := x.mp("GetBuyerDashboard/success")
	return e
}
