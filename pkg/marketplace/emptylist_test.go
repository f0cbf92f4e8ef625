package marketplace

import (
	"fmt"
	"strings"
	"testing"
)

// shape renders a decoded list as "null" (nil: written as NULL), or its length in brackets
// (non-nil: written as a list, "[0]" being the empty one).
func shape[T any](list []T) string {
	if list == nil {
		return "null"
	}
	return fmt.Sprintf("[%d]", len(list))
}

// TestEmptyListsAreNotNull: a JSON array, even [] or one with no object elements, decodes to a
// non-nil slice (an empty list in Parquet); absent, null or a value of another type to nil
// (NULL). Checked for each list column: resources, usage_allocations and an allocation's tags.
func TestEmptyListsAreNotNull(t *testing.T) {
	t.Run("resources", func(t *testing.T) {
		for _, tc := range []struct{ member, want string }{
			{``, "null"},
			{`,"resources":null`, "null"},
			{`,"resources":[]`, "[0]"},
			{`,"resources":[ ]`, "[0]"},
			{`,"resources":[1,"x",null]`, "[0]"},
			{`,"resources":[{"ARN":"a"},2]`, "[1]"},
			{`,"resources":{"ARN":"a"}`, "null"},
			{`,"resources":"[]"`, "null"},
		} {
			rec := `{"eventTime":"2024-01-01T00:00:00Z","eventSource":"aws-marketplace.amazonaws.com","eventName":"X"` + tc.member + `}`
			e, err := Decode([]byte(rec), "k", 0)
			if err != nil {
				t.Fatalf("%s: %v", tc.member, err)
			}
			if got := shape(e.Resources); got != tc.want {
				t.Errorf("%s: resources %s, want %s", tc.member, got, tc.want)
			}
		}
	})
	t.Run("usage_allocations and tags", func(t *testing.T) {
		// want: the row's allocations, then each allocation's tags.
		for _, tc := range []struct{ allocations, want string }{
			{``, "null"},
			{`,"usageAllocations":null`, "null"},
			{`,"usageAllocations":[]`, "[0]"},
			{`,"usageAllocations":[7]`, "[0]"},
			{`,"usageAllocations":{}`, "null"},
			{`,"usageAllocations":[{"allocatedUsageQuantity":1}]`, "[1] null"},
			{`,"usageAllocations":[{"allocatedUsageQuantity":1,"tags":null}]`, "[1] null"},
			{`,"usageAllocations":[{"allocatedUsageQuantity":1,"tags":[]}]`, "[1] [0]"},
			{`,"usageAllocations":[{"tags":[]},{"Tags":[{"Key":"k","Value":"v"}]},{}]`, "[3] [0] [1] null"},
			{`,"usageAllocations":[{"tags":["k"]}]`, "[1] [0]"},
			// tags that are not an array: encoding/json fails the element, which is dropped.
			{`,"usageAllocations":[{"tags":{}}]`, "[0]"},
		} {
			for _, name := range []string{"MeterUsage", "BatchMeterUsage"} {
				var rec string
				if name == "MeterUsage" {
					rec = meteringCall(name, `{"productCode":"pc","usageDimension":"d","usageQuantity":1`+tc.allocations+`}`, `{"meteringRecordId":"m"}`, "")
				} else {
					ur := `{"dimension":"d","quantity":1,"customerIdentifier":"c"` + tc.allocations + `}`
					rec = meteringCall(name, `{"productCode":"pc","usageRecords":[`+ur+`]}`, `{"results":[{"usageRecord":`+ur+`,"status":"Success"}]}`, "")
				}
				e, err := Decode([]byte(rec), "k", 0)
				if err != nil {
					t.Fatalf("%s %s: %v", name, tc.allocations, err)
				}
				if len(e.Metering) != 1 {
					t.Fatalf("%s %s: %d rows", name, tc.allocations, len(e.Metering))
				}
				got := []string{shape(e.Metering[0].UsageAllocations)}
				for _, a := range e.Metering[0].UsageAllocations {
					got = append(got, shape(a.Tags))
				}
				if g := strings.Join(got, " "); g != tc.want {
					t.Errorf("%s %s: %s, want %s", name, tc.allocations, g, tc.want)
				}
			}
		}
	})
}
