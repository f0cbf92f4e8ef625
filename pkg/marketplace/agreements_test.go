package marketplace

import (
	"strings"
	"testing"
)

// Concurrent Agreements: since June 2026 AWS's BatchMeterUsage reference has new SaaS
// products name the customer by CustomerAWSAccountId and the agreement by LicenseArn on every
// usage record, with no request-level ProductCode; ResolveCustomer returns LicenseArn with
// CustomerAWSAccountId and ProductCode (and, for new integrations, no CustomerIdentifier);
// MeterUsage gained only ClientToken. CloudTrail logs the members camelCased. The rows below
// are written by hand from those shapes.

// Two licences of one buyer account (two agreements for one product), as AWS writes them.
const (
	licA = "arn:aws:license-manager::444455556666:license/l-0123456789abcdef0123456789abcdef"
	licB = "arn:aws:license-manager::444455556666:license/l-fedcba9876543210fedcba9876543210"
)

func TestConcurrentAgreements(t *testing.T) {
	ua := `{"customerAWSAccountId":"444455556666","licenseArn":"` + licA + `","dimension":"Users","quantity":3,"timestamp":"Jun 2, 2026 10:15:00 AM"}`
	ub := `{"customerAWSAccountId":"444455556666","licenseArn":"` + licB + `","dimension":"Users","quantity":5,"timestamp":"Jun 2, 2026 10:40:00 AM"}`
	// Another capitalisation of the same keys, as the case-insensitive reader must take.
	uc := `{"CustomerAWSAccountID":"777788889999","LicenseArn":"` + licA + `","dimension":"GB","quantity":0,"timestamp":"Jun 2, 2026 10:59:59 AM"}`
	tests := []struct {
		name string
		rec  string
		// The event's lifted license_arn, customer_aws_account_id, product_code ("-": null).
		license, account, product string
		want                      []string // describeRow of each metering row
	}{
		{"results and unprocessed records each carry their licence; the events row has none",
			meteringCall("BatchMeterUsage", `{"usageRecords":[`+ua+`,`+ub+`,`+uc+`]}`,
				`{"results":[{"usageRecord":`+ua+`,"meteringRecordId":"m-a","status":"Success"},{"usageRecord":`+ub+`,"meteringRecordId":"m-b","status":"Success"}],"unprocessedRecords":[`+uc+`]}`, ""),
			"-", "-", "-",
			[]string{
				"Success - - 444455556666 " + licA + " Users 3 2026-06-02T10:15:00Z m-a - - ",
				"Success - - 444455556666 " + licB + " Users 5 2026-06-02T10:40:00Z m-b - - ",
				"Unprocessed - - 777788889999 " + licA + " GB 0 2026-06-02T10:59:59Z - - - ",
			}},
		{"a result the service did not accept keeps its licence",
			meteringCall("BatchMeterUsage", `{"usageRecords":[`+ub+`]}`,
				`{"results":[{"usageRecord":`+ub+`,"status":"CustomerNotSubscribed"}],"unprocessedRecords":[]}`, ""),
			"-", "-", "-",
			[]string{"CustomerNotSubscribed - - 444455556666 " + licB + " Users 5 2026-06-02T10:40:00Z - - - "}},
		{"a failed call: the requested records, with their licences",
			meteringCall("BatchMeterUsage", `{"usageRecords":[`+ua+`,`+uc+`]}`, "",
				`"errorCode":"ThrottlingException","errorMessage":"Rate exceeded"`),
			"-", "-", "-",
			[]string{
				"Failed - - 444455556666 " + licA + " Users 3 2026-06-02T10:15:00Z - ThrottlingException - ",
				"Failed - - 777788889999 " + licA + " GB 0 2026-06-02T10:59:59Z - ThrottlingException - ",
			}},
		{"no response logged: the requested records, Unknown",
			meteringCall("BatchMeterUsage", `{"usageRecords":[`+ub+`]}`, `null`, ""),
			"-", "-", "-",
			[]string{"Unknown - - 444455556666 " + licB + " Users 5 2026-06-02T10:40:00Z - - - "}},
		{"MeterUsage with the documented clientToken: no licence in its request, so none in its row",
			meteringCall("MeterUsage", `{"productCode":"pc","timestamp":"Jun 2, 2026 9:00:00 AM","usageDimension":"Hosts","usageQuantity":2,"clientToken":"6f1c2d3e-aaaa-bbbb-cccc-000000000001"}`,
				`{"meteringRecordId":"m-9"}`, ""),
			"-", "-", "pc",
			[]string{"Success pc - - - Hosts 2 2026-06-02T09:00:00Z m-9 - - "}},
		{"ResolveCustomer of a new integration: licence, account and product lifted, no customerIdentifier, no rows",
			meteringCall("ResolveCustomer", `{"registrationToken":"HIDDEN_DUE_TO_SECURITY_REASONS"}`,
				`{"customerAWSAccountId":"444455556666","licenseArn":"`+licB+`","productCode":"pc"}`, ""),
			licB, "444455556666", "pc", nil},
		{"a top-level licenseArn in the request is lifted when the response has none",
			meteringCall("ResolveCustomer", `{"LicenseArn":"`+licA+`"}`, `null`, `"errorCode":"InvalidTokenException"`),
			licA, "-", "-", nil},
	}
	str := func(p *string) string {
		if p == nil {
			return "-"
		}
		return *p
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Decode([]byte(tt.rec), "k", 2)
			if err != nil {
				t.Fatal(err)
			}
			if got := []string{str(e.LicenseARN), str(e.CustomerAWSAccountID), str(e.ProductCode)}; strings.Join(got, " ") != tt.license+" "+tt.account+" "+tt.product {
				t.Errorf("events row license_arn, customer_aws_account_id, product_code = %v, want %s %s %s", got, tt.license, tt.account, tt.product)
			}
			var got []string
			for _, r := range e.Metering {
				got = append(got, describeRow(r))
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			sameDecode(t, []byte(tt.rec)) // and the encoding/json reference agrees
		})
	}
}

func TestOperations(t *testing.T) {
	known := []struct{ source, name string }{
		{SourceMetering, "BatchMeterUsage"}, {SourceMetering, "ResolveCustomer"},
		{SourceAgreement, "GetAgreementEntitlements"}, {SourceAgreement, "AcceptAgreementPaymentRequest"},
		{SourceAgreement, "CancelAgreementCancellationRequest"}, {SourceAgreement, "BatchCreateBillingAdjustmentRequest"},
		{SourceAgreement, "AcceptAgreementApproval"}, {SourceAgreement, "GetAgreementApproval"},
		{SourceCatalog, "StartChangeSet"}, {SourceDiscovery, "SearchListings"}, {SourceDiscovery, "GetSearchFacets"},
		{SourceDeployment, "PutDeploymentParameter"}, {SourceEntitlement, "GetEntitlements"},
		{SourceAnalytics, "GenerateDataSet"}, {SourceReporting, "GetBuyerDashboard"},
		{SourceLegacy, "Subscribe"}, {SourceLegacy, "StartChangeSet"},
	}
	for _, k := range known {
		if !KnownOperation(k.source, k.name) {
			t.Errorf("%s %s: not known", k.source, k.name)
		}
	}
	unknown := []struct{ source, name string }{
		{SourceDiscovery, "GetListingView"}, // seen in real logs, in no reference
		{SourceMetering, "batchmeterusage"}, // names are matched exactly
		{SourceAgreement, "StartChangeSet"}, // another service's operation
		{"marketplace-future.amazonaws.com", "Anything"},
		{"s3.amazonaws.com", "GetObject"},
	}
	for _, u := range unknown {
		if KnownOperation(u.source, u.name) {
			t.Errorf("%s %s: known", u.source, u.name)
		}
	}
	for _, s := range []string{SourceMetering, SourceAgreement, SourceCatalog, SourceDiscovery, SourceDeployment,
		SourceEntitlement, SourceAnalytics, SourceReporting, SourceLegacy, "marketplace-future.amazonaws.com"} {
		if !IsMarketplaceSource(s) {
			t.Errorf("%s is not a Marketplace source", s)
		}
	}
	for _, s := range []string{"s3.amazonaws.com", "marketplace.example.com", "sts.amazonaws.com"} {
		if IsMarketplaceSource(s) {
			t.Errorf("%s is a Marketplace source", s)
		}
	}
}
