package gentrail

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"regexp"
	"sort"
	"time"
)

// Manifest is the ground truth of a generated archive, written from the generator's own
// decisions (it never reads the files back).
type Manifest struct {
	Config Config `json:"config"`
	// Window is the range of delivery days (inclusive, YYYY-MM-DD) the archive is made for:
	// the days of Config.Start and the Config.Days after it. The sample also has delivery
	// days just outside it.
	Window Window `json:"window"`
	// Copies is every Marketplace record written into a log file (an object of a
	// CloudTrail/ day folder whose name ends in .json.gz or .json), one entry per copy,
	// ordered by source key and record index: both copies of a duplicate, and the copies
	// delivered outside the window, are listed.
	Copies []Copy `json:"copies"`
	// Decoys is every record that mentions Marketplace without being a Marketplace event of
	// a log file: non-Marketplace events in log files, and Marketplace-shaped records in
	// objects that are not log files (Insights, notes). None of them is in Copies.
	Decoys []Decoy `json:"decoys"`
	// Objects is every object written under the bucket root, ordered by key.
	Objects []Object `json:"objects"`
}

// Window is a range of delivery days, both ends included, as YYYY-MM-DD.
type Window struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Copy is one copy of a Marketplace record in a log file.
type Copy struct {
	EventID     string `json:"event_id"` // "" for a record without eventID
	EventSource string `json:"event_source"`
	EventName   string `json:"event_name"`
	EventTime   string `json:"event_time"`   // as logged: YYYY-MM-DDTHH:MM:SSZ
	EventDate   string `json:"event_date"`   // the UTC date of EventTime
	DeliveryDay string `json:"delivery_day"` // the date folder the log file is in
	SourceKey   string `json:"source_key"`   // the log file, relative to the bucket root
	RecordIndex int    `json:"record_index"` // the record's position in the file's Records, from 0
	Trail       string `json:"trail"`        // "organization" or "account": which trail delivered it
	Marketplace bool   `json:"marketplace"`

	EventVersion       string `json:"event_version"`
	AWSRegion          string `json:"aws_region"`
	RecipientAccountID string `json:"recipient_account_id,omitempty"`
	UserIdentityType   string `json:"user_identity_type"`
	ErrorCode          string `json:"error_code,omitempty"`
	// Variant names the template that made the record, e.g. "BatchMeterUsage/throttled".
	Variant string `json:"variant"`
	// Tags are the special cases the copy belongs to: late (event_date before the
	// delivery day), outside_window, duplicate_cross_trail, duplicate_same_folder,
	// duplicate_cross_day, redelivered (delivered again after midnight, see
	// Config.Redeliveries), no_event_id, uncompressed, showcase.
	Tags []string `json:"tags,omitempty"`

	// Identifiers the record carries, as written.
	ProductCode          string `json:"product_code,omitempty"`
	ProductID            string `json:"product_id,omitempty"`
	AgreementID          string `json:"agreement_id,omitempty"`
	AgreementRequestID   string `json:"agreement_request_id,omitempty"`
	CustomerIdentifier   string `json:"customer_identifier,omitempty"`
	CustomerAWSAccountID string `json:"customer_aws_account_id,omitempty"`
	ChangeSetID          string `json:"change_set_id,omitempty"`
	EntityID             string `json:"entity_id,omitempty"`
	ListingID            string `json:"listing_id,omitempty"`
	// LicenseARN is a top-level licenseArn the record carries (ResolveCustomer's response
	// under Concurrent Agreements); BatchMeterUsage's are per usage record, in Metering.
	LicenseARN string `json:"license_arn,omitempty"`
	// UnknownOperation marks a call the generator makes outside the operations AWS's API
	// references document (GetListingView, seen in real logs; an invented future agreement
	// operation): a tool that keeps a table of known operations does not know it.
	UnknownOperation bool `json:"unknown_operation,omitempty"`

	// Metering is, for metering calls, the usage records of the request, in order.
	Metering []Metering `json:"metering,omitempty"`
}

// Metering is one usage record of a metering call, as injected.
type Metering struct {
	CustomerIdentifier   string `json:"customer_identifier"`
	CustomerAWSAccountID string `json:"customer_aws_account_id"`
	// AccountIDKey is the key the account id was written under (customerAWSAccountID or
	// customerAWSAccountId); "" when the record names the customer by identifier.
	AccountIDKey string `json:"account_id_key,omitempty"`
	// LicenseARN is the usage record's licenseArn (Concurrent Agreements: then the request
	// has no productCode, and ProductCode is ""); "" when it has none.
	LicenseARN       string `json:"license_arn,omitempty"`
	Dimension        string `json:"dimension"`
	Quantity         int    `json:"quantity"`
	Timestamp        string `json:"timestamp"` // the usage record's time, RFC 3339 (logged as "Mar 1, 2024 3:04:05 PM")
	ProductCode      string `json:"product_code"`
	Status           string `json:"status"` // the result's status; "" when the response has no result for it
	MeteringRecordID string `json:"metering_record_id,omitempty"`
	Unprocessed      bool   `json:"unprocessed,omitempty"` // listed in unprocessedRecords
}

// Decoy is a record that a correct tool must not take for a Marketplace event.
type Decoy struct {
	EventID string `json:"event_id"`
	// EventSource is the record's eventSource; for an Insights record, the eventSource of
	// its insightDetails (the API the insight is about).
	EventSource string `json:"event_source"`
	EventName   string `json:"event_name"`
	SourceKey   string `json:"source_key"`
	RecordIndex int    `json:"record_index"`
	Kind        string `json:"kind"` // the kind of object it is in (see Object.Kind)
	Reason      string `json:"reason"`
}

// Object is one object written under the bucket root.
type Object struct {
	Key         string `json:"key"`
	Kind        string `json:"kind"` // log, digest, insight or other
	Account     string `json:"account"`
	OrgID       string `json:"org_id,omitempty"`
	Region      string `json:"region"`
	DeliveryDay string `json:"delivery_day"`
	Compressed  bool   `json:"compressed"`
	Records     int    `json:"records"`             // records in its Records array (0 for digests and others)
	Marketplace int    `json:"marketplace_records"` // of which Marketplace events (log files only)
	Bytes       int    `json:"bytes"`               // uncompressed size

	// With Config.SignedDigests: for a log file in a digested folder, the digest that lists
	// it (a _backfill one for the file left out of its hourly digest); for a digest, its
	// signature in hex (what S3 keeps as x-amz-meta-signature, and a local copy lacks), the
	// digest it names as its previous one ("" for a starting digest), and whether it is a
	// _backfill digest.
	DigestedBy     string `json:"digested_by,omitempty"`
	Signature      string `json:"signature,omitempty"`
	PreviousDigest string `json:"previous_digest,omitempty"`
	Backfill       bool   `json:"backfill,omitempty"`
}

// Object kinds.
const (
	KindLog     = "log"
	KindDigest  = "digest"
	KindInsight = "insight"
	KindOther   = "other"
)

// Expected returns the Marketplace events a correct run over the delivery days from..to
// (inclusive, YYYY-MM-DD) outputs: for each delivery day, one copy per eventID (the copy
// with the smallest source key, then record index), and every copy without an eventID —
// except the copies whose eventID is also in the previous delivery day's tail (a log file
// of that day whose name's last YYYYMMDDTHHMMZ is at or after 23:00 on it, or that has no
// such stamp), which CloudTrail delivered first the day before. The previous day counts
// whether it is in the window or not. They are ordered by delivery day, source key and
// record index.
func (m *Manifest) Expected(from, to string) []Copy {
	type k struct{ day, id string }
	inTail := map[k]bool{} // (delivery day, eventID) of every copy in a tail
	for _, c := range m.Copies {
		if c.EventID != "" && tailFile(c.SourceKey, c.DeliveryDay) {
			inTail[k{c.DeliveryDay, c.EventID}] = true
		}
	}
	best := map[k]int{}
	var out []Copy
	for i, c := range m.Copies {
		if c.DeliveryDay < from || c.DeliveryDay > to {
			continue
		}
		if c.EventID == "" {
			out = append(out, c)
			continue
		}
		if inTail[k{dayBefore(c.DeliveryDay), c.EventID}] {
			continue
		}
		key := k{c.DeliveryDay, c.EventID}
		if j, ok := best[key]; !ok || less(c, m.Copies[j]) {
			best[key] = i
		}
	}
	for _, i := range best {
		out = append(out, m.Copies[i])
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].DeliveryDay != out[j].DeliveryDay {
			return out[i].DeliveryDay < out[j].DeliveryDay
		}
		return less(out[i], out[j])
	})
	return out
}

// stampRE is the time stamp CloudTrail puts in a log file's name.
var stampRE = regexp.MustCompile(`\d{8}T\d{4}Z`)

// tailFile reports whether the log file key, delivered on day (YYYY-MM-DD), is in that
// day's tail: the last valid stamp in its name is at or after 23:00 on day, or it has none.
func tailFile(key, day string) bool {
	name := path.Base(key)
	// The last stamp that is a real time (overlapping matches included).
	for i := len(name) - len("20060102T1504Z"); i >= 0; i-- {
		s := name[i:min(len(name), i+len("20060102T1504Z"))]
		if !stampRE.MatchString(s) || len(s) != len("20060102T1504Z") {
			continue
		}
		t, err := time.Parse("20060102T1504Z", s)
		if err != nil {
			continue
		}
		d, _ := time.Parse(time.DateOnly, day)
		return !t.Before(d.Add(23 * time.Hour))
	}
	return true
}

// dayBefore returns the day before day (YYYY-MM-DD).
func dayBefore(day string) string {
	d, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return ""
	}
	return d.AddDate(0, 0, -1).Format(time.DateOnly)
}

func less(a, b Copy) bool {
	if a.SourceKey != b.SourceKey {
		return a.SourceKey < b.SourceKey
	}
	return a.RecordIndex < b.RecordIndex
}

// LogFiles returns the number of log files.
func (m *Manifest) LogFiles() int {
	n := 0
	for _, o := range m.Objects {
		if o.Kind == KindLog {
			n++
		}
	}
	return n
}

// Marshal returns the manifest as JSON with one line per copy, decoy and object (compact,
// yet readable and diffable), ending in a newline.
func (m *Manifest) Marshal() ([]byte, error) {
	var b bytes.Buffer
	compact := func(v any) error {
		var e bytes.Buffer
		enc := json.NewEncoder(&e)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return err
		}
		b.Write(bytes.TrimSuffix(e.Bytes(), []byte("\n")))
		return nil
	}
	b.WriteString("{\n  \"config\": ")
	if err := compact(m.Config); err != nil {
		return nil, err
	}
	b.WriteString(",\n  \"window\": ")
	if err := compact(m.Window); err != nil {
		return nil, err
	}
	list := func(name string, n int, item func(i int) any) error {
		b.WriteString(",\n  \"" + name + "\": [")
		for i := 0; i < n; i++ {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString("\n    ")
			if err := compact(item(i)); err != nil {
				return err
			}
		}
		if n > 0 {
			b.WriteString("\n  ")
		}
		b.WriteString("]")
		return nil
	}
	if err := list("copies", len(m.Copies), func(i int) any { return m.Copies[i] }); err != nil {
		return nil, err
	}
	if err := list("decoys", len(m.Decoys), func(i int) any { return m.Decoys[i] }); err != nil {
		return nil, err
	}
	if err := list("objects", len(m.Objects), func(i int) any { return m.Objects[i] }); err != nil {
		return nil, err
	}
	b.WriteString("\n}\n")
	if !json.Valid(b.Bytes()) {
		return nil, fmt.Errorf("gentrail: manifest JSON is not valid")
	}
	return b.Bytes(), nil
}

// WriteFile writes the manifest to path.
func (m *Manifest) WriteFile(path string) error {
	b, err := m.Marshal()
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// ReadManifest reads a manifest written by WriteFile.
func ReadManifest(path string) (*Manifest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("gentrail: %s: %w", path, err)
	}
	return &m, nil
}
