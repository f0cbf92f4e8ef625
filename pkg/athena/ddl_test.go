package athena

import (
	"strings"
	"testing"
	"time"

	"github.com/marketrail/marketrail/pkg/marketplace"
)

func TestColumnsOfEvents(t *testing.T) {
	cols, err := Columns(marketplace.Event{})
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]string{}
	for _, c := range cols {
		types[c.Name] = c.Type
		if c.Doc == "" {
			t.Errorf("column %s has no doc tag", c.Name)
		}
	}
	for name, want := range map[string]string{"event_id": "string", "event_time": "timestamp", "read_only": "boolean", "source_key": "string"} {
		if types[name] != want {
			t.Errorf("%s: %q, want %q", name, types[name], want)
		}
	}
	if _, ok := types["RecordIndex"]; ok {
		t.Errorf("a parquet:\"-\" field became a column")
	}
}

func TestPolicyRefusals(t *testing.T) {
	tests := []struct {
		name string
		row  any
	}{
		{"nanos", struct {
			T time.Time `parquet:"t,timestamp(nanosecond)"`
		}{}},
		{"not utc", struct {
			T time.Time `parquet:"t,timestamp(millisecond:local)"`
		}{}},
		{"unsigned", struct {
			U uint32 `parquet:"u"`
		}{}},
		{"empty struct", struct {
			S struct{} `parquet:"s"`
		}{}},
		{"uuid", struct {
			S string `parquet:"s,uuid"`
		}{}},
	}
	for _, tt := range tests {
		if cols, err := Columns(tt.row); err == nil {
			t.Errorf("%s: accepted as %+v", tt.name, cols)
		}
	}
}

func TestCreateTable(t *testing.T) {
	ddl, err := CreateTable("mkt", "s3://lake/market'place/", marketplace.Tables()[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"CREATE EXTERNAL TABLE IF NOT EXISTS `mkt`.`events` (",
		"`event_time` timestamp COMMENT",
		"PARTITIONED BY (event_date string)",
		`LOCATION 's3://lake/market\'place/events/'`,
		`'storage.location.template' = 's3://lake/market\'place/events/event_date=${event_date}/'`,
		`COMMENT 'eventID: CloudTrail\'s unique id`,
		"'projection.event_date.range' = '2013-11-01,NOW'",
	} {
		if !strings.Contains(ddl, want) {
			t.Errorf("DDL lacks %q:\n%s", want, ddl)
		}
	}
}
