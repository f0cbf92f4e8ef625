package marketplace

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// meteringCall builds a metering record around its payloads; extra is spliced in as more
// top-level fields (errorCode, …).
func meteringCall(name, req, resp, extra string) string {
	s := `{"eventTime":"2024-03-01T10:00:00Z","eventSource":"metering-marketplace.amazonaws.com","eventName":"` + name +
		`","eventID":"e-1","awsRegion":"us-east-1","recipientAccountId":"111122223333","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/saas/s1"}`
	if req != "" {
		s += `,"requestParameters":` + req
	}
	if resp != "" {
		s += `,"responseElements":` + resp
	}
	if extra != "" {
		s += "," + extra
	}
	return s + "}"
}

// describeRow renders a metering row's per-record fields for comparison.
func describeRow(r MeteringRecord) string {
	str := func(p *string) string {
		if p == nil {
			return "-"
		}
		return *p
	}
	q, ts, dry := "-", "-", "-"
	if r.Quantity != nil {
		q = fmt.Sprint(*r.Quantity)
	}
	if r.UsageTime != nil {
		ts = r.UsageTime.Format(time.RFC3339)
	}
	if r.DryRun != nil {
		dry = fmt.Sprint(*r.DryRun)
	}
	var allocs []string
	for _, a := range r.UsageAllocations {
		aq := "-"
		if a.AllocatedUsageQuantity != nil {
			aq = fmt.Sprint(*a.AllocatedUsageQuantity)
		}
		var tags []string
		for _, tg := range a.Tags {
			tags = append(tags, str(tg.Key)+"="+str(tg.Value))
		}
		allocs = append(allocs, aq+"["+strings.Join(tags, ",")+"]")
	}
	return strings.Join([]string{r.Status, str(r.ProductCode), str(r.CustomerIdentifier), str(r.CustomerAWSAccountID),
		str(r.LicenseARN), str(r.Dimension), q, ts, str(r.MeteringRecordID), str(r.ErrorCode), dry, strings.Join(allocs, ";")}, " ")
}

func TestMeteringRecords(t *testing.T) {
	const ur1 = `{"dimension":"Users","timestamp":"Apr 19, 2018 4:32:50 PM","customerIdentifier":"cust-1","quantity":3}`
	const ur2 = `{"dimension":"GB","timestamp":"Mar 1, 2024 12:05:00 AM","customerAWSAccountID":"444455556666","quantity":0}`
	const ur3 = `{"dimension":"GB","timestamp":"Mar 1, 2024 11:59:59 AM","customerAWSAccountId":"777788889999","quantity":25}`
	tests := []struct {
		name     string
		rec      string
		want     []string // describeRow of each row, in order
		unparsed int
	}{
		{"BatchMeterUsage success, one row per result, usage from the result's usageRecord",
			meteringCall("BatchMeterUsage", `{"usageRecords":[`+ur1+`,`+ur2+`],"productCode":"pc1"}`,
				`{"results":[{"usageRecord":`+ur1+`,"meteringRecordId":"m-1","status":"Success"},{"usageRecord":`+ur2+`,"status":"CustomerNotSubscribed"}],"unprocessedRecords":[]}`, ""),
			[]string{
				"Success pc1 cust-1 - - Users 3 2018-04-19T16:32:50Z m-1 - - ",
				"CustomerNotSubscribed pc1 - 444455556666 - GB 0 2024-03-01T00:05:00Z - - - ",
			}, 0},
		{"both spellings of customerAWSAccountId; unprocessed records come after the results",
			meteringCall("BatchMeterUsage", `{"usageRecords":[`+ur2+`,`+ur3+`,`+ur1+`],"productCode":"pc2"}`,
				`{"results":[{"usageRecord":`+ur2+`,"meteringRecordId":"m-2","status":"DuplicateRecord"}],"unprocessedRecords":[`+ur3+`,`+ur1+`]}`, ""),
			[]string{
				"DuplicateRecord pc2 - 444455556666 - GB 0 2024-03-01T00:05:00Z m-2 - - ",
				"Unprocessed pc2 - 777788889999 - GB 25 2024-03-01T11:59:59Z - - - ",
				"Unprocessed pc2 cust-1 - - Users 3 2018-04-19T16:32:50Z - - - ",
			}, 0},
		{"throttled call: every requested record, Failed, with the error code",
			meteringCall("BatchMeterUsage", `{"usageRecords":[`+ur1+`,`+ur3+`],"productCode":"pc1"}`, "",
				`"errorCode":"ThrottlingException","errorMessage":"Rate exceeded"`),
			[]string{
				"Failed pc1 cust-1 - - Users 3 2018-04-19T16:32:50Z - ThrottlingException - ",
				"Failed pc1 - 777788889999 - GB 25 2024-03-01T11:59:59Z - ThrottlingException - ",
			}, 0},
		{"no error and no response logged: Unknown",
			meteringCall("BatchMeterUsage", `{"usageRecords":[`+ur1+`],"productCode":"pc1"}`, `null`, ""),
			[]string{"Unknown pc1 cust-1 - - Users 3 2018-04-19T16:32:50Z - - - "}, 0},
		{"usage allocations with tags",
			meteringCall("BatchMeterUsage", `{"usageRecords":[{"dimension":"Users","customerIdentifier":"c","quantity":10,"timestamp":"Jan 2, 2024 1:00:00 PM","usageAllocations":[{"allocatedUsageQuantity":4,"tags":[{"key":"team","value":"a"}]},{"allocatedUsageQuantity":6,"tags":[{"key":"team","value":"b"},{"key":"env","value":"prod"}]}]}],"productCode":"pc"}`, "", `"errorCode":"InternalServiceErrorException"`),
			[]string{"Failed pc c - - Users 10 2024-01-02T13:00:00Z - InternalServiceErrorException - 4[team=a];6[team=b,env=prod]"}, 0},
		{"unparseable timestamp and quantity are null and counted; the row stays",
			meteringCall("BatchMeterUsage", `{"usageRecords":[{"dimension":"D","customerIdentifier":"c","quantity":"lots","timestamp":"yesterday"},{"dimension":"D","customerIdentifier":"c","quantity":1.5,"timestamp":"2024-03-01T00:00:00Z"},{"dimension":"D","customerIdentifier":"c","quantity":"7","timestamp":1709251200}],"productCode":"pc"}`, "", `"errorCode":"X"`),
			[]string{
				"Failed pc c - - D - - - X - ",
				"Failed pc c - - D - 2024-03-01T00:00:00Z - X - ",
				"Failed pc c - - D 7 2024-03-01T00:00:00Z - X - ",
			}, 3},
		{"MeterUsage success",
			meteringCall("MeterUsage", `{"timestamp":"Jul 23, 2020 1:35:44 AM","usageQuantity":1,"usageDimension":"Dimension1","productCode":"EXAMPLE_proCode"}`, `{"meteringRecordId":"m-9"}`, ""),
			[]string{"Success EXAMPLE_proCode - - - Dimension1 1 2020-07-23T01:35:44Z m-9 - - "}, 0},
		{"MeterUsage dry run answered with DryRunOperation",
			meteringCall("MeterUsage", `{"productCode":"pc","timestamp":"Jul 10, 2020 11:06:41 PM","usageDimension":"D","usageQuantity":2,"dryRun":true}`, "", `"errorCode":"DryRunOperation"`),
			[]string{"DryRun pc - - - D 2 2020-07-10T23:06:41Z - DryRunOperation true "}, 0},
		{"MeterUsage that failed",
			meteringCall("MeterUsage", `{"productCode":"pc","timestamp":"Jul 10, 2020 11:06:41 PM","usageDimension":"D","usageQuantity":2,"dryRun":false}`, "", `"errorCode":"TimestampOutOfBoundsException"`),
			[]string{"Failed pc - - - D 2 2020-07-10T23:06:41Z - TimestampOutOfBoundsException false "}, 0},
		{"MeterUsage without error or response: Unknown",
			meteringCall("MeterUsage", `{"productCode":"pc","usageDimension":"D","usageQuantity":2}`, "", ""),
			[]string{"Unknown pc - - - D 2 - - - - "}, 0},
		{"RegisterUsage has no rows",
			meteringCall("RegisterUsage", `{"productCode":"pc","publicKeyVersion":1}`, `{"signature":"eyJ"}`, ""), nil, 0},
		{"ResolveCustomer has no rows",
			meteringCall("ResolveCustomer", `{"registrationToken":"t"}`, `{"customerIdentifier":"c","productCode":"pc"}`, ""), nil, 0},
		{"requestParameters of the wrong shape: no rows, no crash",
			meteringCall("BatchMeterUsage", `"usageRecords"`, `[1,2]`, ""), nil, 0},
		{"a usage record that is not an object still gives its row",
			meteringCall("BatchMeterUsage", `{"usageRecords":[7],"productCode":"pc"}`, "", `"errorCode":"X"`),
			[]string{"Failed pc - - - - - - - X - "}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Decode([]byte(tt.rec), "k", 4)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for i, r := range e.Metering {
				got = append(got, describeRow(r))
				if r.Position != i || r.RecordIndex != 4 || r.SourceKey != "k" || r.EventName != e.EventName ||
					*r.EventID != "e-1" || *r.SellerAccountID != "111122223333" || *r.AWSRegion != "us-east-1" ||
					*r.CallerARN != "arn:aws:sts::111122223333:assumed-role/saas/s1" || !r.EventTime.Equal(e.EventTime) {
					t.Errorf("row %d: call fields wrong: %+v", i, r)
				}
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if e.Notes.UnparsedUsage != tt.unparsed {
				t.Errorf("unparsed %d, want %d", e.Notes.UnparsedUsage, tt.unparsed)
			}
		})
	}
}

// TestMeteringOnlyFromMarketplace: a call of the same name from another service has no rows.
func TestMeteringOnlyFromMarketplace(t *testing.T) {
	rec := strings.Replace(meteringCall("MeterUsage", `{"productCode":"pc","usageDimension":"D","usageQuantity":2}`, `{"meteringRecordId":"m"}`, ""),
		"metering-marketplace.amazonaws.com", "example.amazonaws.com", 1)
	e, err := Decode([]byte(rec), "k", 0)
	if err != nil || len(e.Metering) != 0 {
		t.Errorf("rows %d, err %v", len(e.Metering), err)
	}
}

// FuzzMetering feeds arbitrary payloads to the metering parser through Decode: it never
// panics, and its rows hold together (positions in order, the call's fields, a status).
func FuzzMetering(f *testing.F) {
	f.Add("BatchMeterUsage", `{"usageRecords":[{"dimension":"D","timestamp":"Apr 19, 2018 4:32:50 PM","customerIdentifier":"c","quantity":1}],"productCode":"p"}`,
		`{"results":[{"usageRecord":{"dimension":"D","customerAWSAccountID":"1","quantity":1},"meteringRecordId":"m","status":"Success"}],"unprocessedRecords":[{"quantity":"x"}]}`, "")
	f.Add("MeterUsage", `{"productCode":"p","timestamp":1e300,"usageDimension":"D","usageQuantity":-9.5e18,"dryRun":"True","usageAllocations":[{"allocatedUsageQuantity":"2","tags":[{"key":1}]},null]}`, `{"meteringRecordId":5}`, "DryRunOperation")
	f.Fuzz(func(t *testing.T, name, req, resp, errorCode string) {
		extra := ""
		if errorCode != "" {
			extra = `"errorCode":` + fmt.Sprintf("%q", errorCode)
		}
		e, err := Decode([]byte(meteringCall(name, req, resp, extra)), "k", 1)
		if err != nil {
			return // payloads that are not JSON make the record undecodable
		}
		for i, r := range e.Metering {
			if r.Position != i || r.EventName != e.EventName || r.Status == "" || r.SourceKey != "k" {
				t.Fatalf("row %d: %+v", i, r)
			}
			if r.UsageTime != nil && r.UsageTime.Location() != time.UTC {
				t.Fatalf("row %d: usage_time not UTC", i)
			}
		}
		if e.Notes.UnparsedUsage > 2*len(e.Metering) {
			t.Fatalf("%d unparsed values in %d rows", e.Notes.UnparsedUsage, len(e.Metering))
		}
	})
}
