package lake_test

import (
	"context"
	"strings"
	"testing"

	"github.com/marketrail/marketrail/internal/duckcheck"
	"github.com/marketrail/marketrail/pkg/lake"
	"github.com/marketrail/marketrail/pkg/marketplace"
)

// publishRecords decodes CloudTrail records with the real decoder and publishes them, and
// their metering rows, as delivery day 2024-03-01 through a lake.Writer into a fresh folder,
// which it returns.
func publishRecords(t *testing.T, records []string) string {
	t.Helper()
	dest, dir := localDest(t)
	var events []marketplace.Event
	var metering []marketplace.MeteringRecord
	for i, rec := range records {
		e, err := marketplace.Decode([]byte(rec), "AWSLogs/f.json.gz", i)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		events = append(events, e)
		metering = append(metering, e.Metering...)
	}
	byID := func(a, b *marketplace.Event) int { return strings.Compare(*a.EventID, *b.EventID) }
	w := &lake.Writer{Dest: dest, Version: "test", TempDir: t.TempDir()}
	_, err := w.PublishDay(context.Background(), dayOf("2024-03-01"), nil, true,
		lake.NewTable(marketplace.TableEvents, events, (*marketplace.Event).EventDate, byID, "event_id"),
		lake.NewTable(marketplace.TableMetering, metering, (*marketplace.MeteringRecord).EventDate,
			func(a, b *marketplace.MeteringRecord) int { return strings.Compare(*a.EventID, *b.EventID) }, "event_id"))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestEmptyListsReadBackAsEmpty writes events through the lake writer and reads them back with
// DuckDB: a logged [] must be an empty list, an absent or null list NULL — for resources,
// for usage_allocations, and for the tags list nested in each allocation.
func TestEmptyListsReadBackAsEmpty(t *testing.T) {
	ev := func(id, members string) string {
		return `{"eventID":"` + id + `","eventTime":"2024-03-01T10:00:00Z","eventSource":"aws-marketplace.amazonaws.com","eventName":"X"` + members + `}`
	}
	meter := func(id, allocations string) string {
		return `{"eventID":"` + id + `","eventTime":"2024-03-01T10:00:00Z","eventSource":"metering-marketplace.amazonaws.com","eventName":"MeterUsage",` +
			`"requestParameters":{"productCode":"pc","usageDimension":"d","usageQuantity":1` + allocations + `},"responseElements":{"meteringRecordId":"m"}}`
	}
	dir := publishRecords(t, []string{
		ev("e1", `,"resources":[]`),
		ev("e2", ``),
		ev("e3", `,"resources":null`),
		ev("e4", `,"resources":[{"ARN":"a"},{"ARN":"b"}]`),
		ev("e5", `,"resources":["not an object"]`),
		meter("m1", `,"usageAllocations":[]`),
		meter("m2", ``),
		meter("m3", `,"usageAllocations":[{"allocatedUsageQuantity":1,"tags":[]},{"allocatedUsageQuantity":2},{"tags":[{"key":"k","value":"v"}]},{"tags":null}]`),
		meter("m4", `,"usageAllocations":[{"tags":[]}]`),
		meter("m5", `,"usageAllocations":[{}]`),
	})
	db := duckcheck.Open(t)

	got := duckcheck.Strings(t, db, `SELECT event_id, resources IS NULL, len(resources), resources[1].arn
		FROM `+duckcheck.Table(dir, marketplace.TableEvents)+` ORDER BY event_id`)
	want := [][]string{
		{"e1", "false", "0", "NULL"},
		{"e2", "true", "NULL", "NULL"},
		{"e3", "true", "NULL", "NULL"},
		{"e4", "false", "2", "a"},
		{"e5", "false", "0", "NULL"},
		// MeterUsage events log no resources
		{"m1", "true", "NULL", "NULL"}, {"m2", "true", "NULL", "NULL"}, {"m3", "true", "NULL", "NULL"},
		{"m4", "true", "NULL", "NULL"}, {"m5", "true", "NULL", "NULL"},
	}
	if !equalRows(got, want) {
		t.Errorf("events.resources:\n got %v\nwant %v", got, want)
	}

	// Each allocation as quantity:tags, tags being "null" or their count.
	got = duckcheck.Strings(t, db, `SELECT event_id, usage_allocations IS NULL, len(usage_allocations),
		  (SELECT string_agg(coalesce(a.allocated_usage_quantity::VARCHAR, '-') || ':' ||
		          CASE WHEN a.tags IS NULL THEN 'null' ELSE len(a.tags)::VARCHAR END, ' ' ORDER BY i)
		   FROM (SELECT unnest(usage_allocations) AS a, generate_subscripts(usage_allocations, 1) AS i))
		FROM `+duckcheck.Table(dir, marketplace.TableMetering)+` ORDER BY event_id`)
	want = [][]string{
		{"m1", "false", "0", "NULL"},
		{"m2", "true", "NULL", "NULL"},
		{"m3", "false", "4", "1:0 2:null -:1 -:null"},
		{"m4", "false", "1", "-:0"},
		{"m5", "false", "1", "-:null"},
	}
	if !equalRows(got, want) {
		t.Errorf("metering_records.usage_allocations:\n got %v\nwant %v", got, want)
	}
}

func equalRows(a, b [][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if strings.Join(a[i], "\x00") != strings.Join(b[i], "\x00") {
			return false
		}
	}
	return true
}
