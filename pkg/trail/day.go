// Package trail knows how CloudTrail lays out a log archive: the S3 key of every log file,
// digest and insight file, the delivery-day folders they sit in, and the UTC calendar days
// that both the folders and marketrail's partitions are named by.
//
// A trail writes to
//
//	[PREFIX/]AWSLogs/[o-ORGID/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/NAME.json.gz
//
// where the date is the file's delivery date (UTC), not the date of the events inside it.
// Digest files go under CloudTrail-Digest/ and Insights events under CloudTrail-Insight/,
// beside CloudTrail/; marketrail reads neither as events.
package trail

import (
	"fmt"
	"time"
)

// Day is a UTC calendar date. CloudTrail names its delivery folders by Day, and marketrail
// names its partitions (event_date) and its units of work (delivery days) by Day.
// The zero Day is not a valid date; Day values are comparable and usable as map keys.
type Day struct {
	Year  int
	Month time.Month
	Dom   int // day of month, 1..31
}

// FirstDay is the day CloudTrail became available (2013-11-01 UTC, per the dates of its
// launch): no genuine event is older.
var FirstDay = Day{2013, time.November, 1}

// ParseDay parses a date written as YYYY-MM-DD.
func ParseDay(s string) (Day, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Day{}, fmt.Errorf("bad date %q: want YYYY-MM-DD", s)
	}
	return DayOf(t), nil
}

// DayOf returns the UTC date of t.
func DayOf(t time.Time) Day {
	y, m, d := t.UTC().Date()
	return Day{y, m, d}
}

// Time returns the start of the day, 00:00:00 UTC.
func (d Day) Time() time.Time { return time.Date(d.Year, d.Month, d.Dom, 0, 0, 0, 0, time.UTC) }

// AddDays returns the day n days after d (before it when n is negative).
func (d Day) AddDays(n int) Day { return DayOf(d.Time().AddDate(0, 0, n)) }

// Before reports whether d is earlier than e.
func (d Day) Before(e Day) bool { return d.Time().Before(e.Time()) }

// After reports whether d is later than e.
func (d Day) After(e Day) bool { return e.Before(d) }

// IsZero reports whether d is the zero Day.
func (d Day) IsZero() bool { return d == Day{} }

// String formats d as YYYY-MM-DD, the form of --from/--to and of partition values.
func (d Day) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, int(d.Month), d.Dom) }

// Path formats d as YYYY/MM/DD, the form of CloudTrail's folder names.
func (d Day) Path() string { return fmt.Sprintf("%04d/%02d/%02d", d.Year, int(d.Month), d.Dom) }

// Range returns the days from first to last inclusive, in order; nil when last is before first.
func Range(first, last Day) []Day {
	var days []Day
	for d := first; !d.After(last); d = d.AddDays(1) {
		days = append(days, d)
	}
	return days
}
