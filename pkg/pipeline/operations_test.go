package pipeline_test

import (
	"reflect"
	"slices"
	"testing"

	"github.com/marketrail/marketrail/internal/gentrail"
	"github.com/marketrail/marketrail/pkg/pipeline"
)

// TestUnknownOperations: each delivery day's unknown_operations, and the totals, are the
// generator's calls outside the documented operations (its manifest's unknown_operation
// copies), one per eventID written; with --event-source the field is absent.
func TestUnknownOperations(t *testing.T) {
	m, err := gentrail.ReadManifest("../../testdata/trail-manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	from, to := sampleWindow(t)
	want := map[string]map[string]map[string]int64{} // delivery day → source → name → events
	total := map[string]map[string]int64{}
	sources := []string{}
	for _, c := range m.Expected(m.Window.From, m.Window.To) {
		if !slices.Contains(sources, c.EventSource) {
			sources = append(sources, c.EventSource)
		}
		if !c.UnknownOperation {
			continue
		}
		if want[c.DeliveryDay] == nil {
			want[c.DeliveryDay] = map[string]map[string]int64{}
		}
		if want[c.DeliveryDay][c.EventSource] == nil {
			want[c.DeliveryDay][c.EventSource] = map[string]int64{}
		}
		want[c.DeliveryDay][c.EventSource][c.EventName]++
		if total[c.EventSource] == nil {
			total[c.EventSource] = map[string]int64{}
		}
		total[c.EventSource][c.EventName]++
	}
	if len(want) < 2 || len(total) < 2 {
		t.Fatalf("the sample has unknown operations on %d days of %d sources: want several", len(want), len(total))
	}

	rep := run(t, sample, t.TempDir(), from, to, nil)
	for _, d := range rep.Days {
		if !reflect.DeepEqual(d.UnknownOperations, want[d.DeliveryDay]) {
			t.Errorf("%s: unknown_operations %v, manifest %v", d.DeliveryDay, d.UnknownOperations, want[d.DeliveryDay])
		}
	}
	if !reflect.DeepEqual(rep.Totals.UnknownOperations, total) {
		t.Errorf("totals unknown_operations %v, manifest %v", rep.Totals.UnknownOperations, total)
	}

	// The same events, selected with --event-source: nothing is counted.
	rep = run(t, sample, t.TempDir(), from, to, func(c *pipeline.Config) { c.EventSources = sources })
	if rep.Totals.RowsWritten["events"] == 0 {
		t.Fatal("--event-source run wrote no events")
	}
	for _, d := range rep.Days {
		if d.UnknownOperations != nil {
			t.Errorf("%s: unknown_operations %v with --event-source", d.DeliveryDay, d.UnknownOperations)
		}
	}
	if rep.Totals.UnknownOperations != nil {
		t.Errorf("totals unknown_operations %v with --event-source", rep.Totals.UnknownOperations)
	}
}
