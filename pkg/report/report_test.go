package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
)

// TestDocsListEveryField: docs/report.md names every JSON field the report writes.
func TestDocsListEveryField(t *testing.T) {
	doc, err := os.ReadFile("../../docs/report.md")
	if err != nil {
		t.Fatal(err)
	}
	var walk func(reflect.Type)
	seen := map[string]bool{}
	walk = func(ty reflect.Type) {
		for ty.Kind() == reflect.Pointer || ty.Kind() == reflect.Slice {
			ty = ty.Elem()
		}
		if ty.Kind() != reflect.Struct || seen[ty.Name()] {
			return
		}
		seen[ty.Name()] = true
		for i := range ty.NumField() {
			f := ty.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name != "" && name != "-" && !strings.Contains(string(doc), "`"+name+"`") {
				t.Errorf("docs/report.md does not describe field %q (%s.%s)", name, ty.Name(), f.Name)
			}
			walk(f.Type)
		}
	}
	walk(reflect.TypeOf(Report{}))
}

func TestFinish(t *testing.T) {
	d1, d2 := NewDay("2024-03-02"), NewDay("2024-03-01")
	d1.ObjectsListed, d1.ObjectsSkipped["not_log_file"], d1.RowsWritten["events"] = 3, 1, 5
	d2.ObjectsListed, d2.ObjectsFailed, d2.RowsWritten["events"] = 2, 1, 7
	tests := []struct {
		fatal       error
		interrupted int
		status      string
		code        int
	}{
		{nil, 0, StatusFailedObjects, 3},
		{errors.New("boom"), 0, StatusFatal, 1},
		{fmt.Errorf("source x: %w: no AWSLogs/", ErrNoTrail), 0, StatusNoTrail, 5},
		{fmt.Errorf("source x: %w: no AWSLogs/", ErrNoTrail), ExitSIGINT, StatusInterrupted, 130},
		{nil, ExitSIGTERM, StatusInterrupted, 143},
	}
	for _, tt := range tests {
		r := &Report{Days: []*Day{d1, d2}}
		r.Finish(tt.fatal, tt.interrupted)
		if r.Status != tt.status || r.ExitCode != tt.code {
			t.Errorf("Finish(%v, %d) = %s/%d, want %s/%d", tt.fatal, tt.interrupted, r.Status, r.ExitCode, tt.status, tt.code)
		}
		if r.Totals.ObjectsListed != 5 || r.Totals.RowsWritten["events"] != 12 || r.Totals.ObjectsSkipped["not_log_file"] != 1 {
			t.Errorf("totals %+v", r.Totals)
		}
		if r.Days[0].DeliveryDay != "2024-03-01" {
			t.Errorf("days not in date order")
		}
	}
	r := &Report{Days: []*Day{NewDay("2024-03-01")}}
	r.Finish(nil, 0)
	if r.Status != StatusOK || r.ExitCode != 0 {
		t.Errorf("clean run: %s/%d", r.Status, r.ExitCode)
	}
	if r.EmptyDays == nil || len(r.EmptyDays) != 0 {
		t.Errorf("empty_days of a run with no empty day = %#v, want []", r.EmptyDays)
	}
	e1, e2, full := NewDay("2024-03-03"), NewDay("2024-03-01"), NewDay("2024-03-02")
	e1.Empty, e2.Empty = true, true
	re := &Report{Days: []*Day{e1, full, e2}}
	re.Finish(nil, 0)
	if !reflect.DeepEqual(re.EmptyDays, []string{"2024-03-01", "2024-03-03"}) || re.ExitCode != ExitOK {
		t.Errorf("empty days: %v, exit %d; want [2024-03-01 2024-03-03], 0", re.EmptyDays, re.ExitCode)
	}
	var back map[string]any
	if err := json.Unmarshal(r.JSON(), &back); err != nil {
		t.Fatal(err)
	}
	if day := back["days"].([]any)[0].(map[string]any); day["failures"] == nil || day["partitions"] == nil {
		t.Errorf("empty lists and maps must encode as [] and {}, not null: %v", day)
	}
}

// TestUnknownOperationsTotals: the totals sum each day's unknown operations per source and
// name, and a run without any has no unknown_operations field at all.
func TestUnknownOperationsTotals(t *testing.T) {
	d1, d2 := NewDay("2024-03-01"), NewDay("2024-03-02")
	d1.UnknownOperations = map[string]map[string]int64{"discovery-marketplace.amazonaws.com": {"GetListingView": 2}}
	d2.UnknownOperations = map[string]map[string]int64{
		"discovery-marketplace.amazonaws.com": {"GetListingView": 1, "GetListingPreview": 4},
		"agreement-marketplace.amazonaws.com": {"ForecastAgreementUsage": 3},
	}
	r := &Report{Days: []*Day{d1, d2}}
	r.Finish(nil, 0)
	var back struct {
		Totals struct {
			Unknown map[string]map[string]int64 `json:"unknown_operations"`
		} `json:"totals"`
	}
	if err := json.Unmarshal(r.JSON(), &back); err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]int64{
		"discovery-marketplace.amazonaws.com": {"GetListingView": 3, "GetListingPreview": 4},
		"agreement-marketplace.amazonaws.com": {"ForecastAgreementUsage": 3},
	}
	if !reflect.DeepEqual(back.Totals.Unknown, want) {
		t.Errorf("totals unknown_operations %v, want %v", back.Totals.Unknown, want)
	}
	if d1.UnknownOperations["discovery-marketplace.amazonaws.com"]["GetListingView"] != 2 {
		t.Error("summing the totals changed a day's counts")
	}
	none := &Report{Days: []*Day{NewDay("2024-03-01")}}
	none.Finish(nil, 0)
	if strings.Contains(string(none.JSON()), "unknown_operations") {
		t.Error("a run without unknown operations reports the field")
	}
}
