package marketplace

// The tables marketrail writes: their names are their folders in the destination.
const (
	TableEvents   = "events"
	TableMetering = "metering_records"
)

// Table describes one table: the one definition the Parquet writer, the Athena DDL and the
// docs' column reference are all derived from.
type Table struct {
	Name    string // folder and Athena table name
	Row     any    // a zero value of the row type; its struct tags define the columns
	Comment string // what one row is
}

// Tables returns the tables marketrail writes, in order.
func Tables() []Table {
	return []Table{
		{TableEvents, Event{}, "AWS Marketplace events from CloudTrail: one row per event"},
		{TableMetering, MeteringRecord{}, "AWS Marketplace metering: one row per usage record of BatchMeterUsage and MeterUsage"},
	}
}

// DecoderVersion numbers what Decode makes of a record, beyond the columns the schema
// names: a change to how a column is filled (a field read from a new place, a repair, a
// parse) changes it. Day manifests record it, so that days written by an older decoder are
// written again. TestDecoderGolden pins it to the rows Decode makes of a fixed corpus: when
// that test fails, bump this number and update the golden file.
const DecoderVersion = 2
