package trail

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Root is the folder every trail writes below, after the bucket's optional prefix.
const Root = "AWSLogs/"

// The folders a trail writes beside each other under an account.
const (
	KindLogs    = "CloudTrail"         // log files: the events marketrail reads
	KindDigest  = "CloudTrail-Digest"  // integrity digests, never read as events
	KindInsight = "CloudTrail-Insight" // Insights events, never read as events
)

// FirstYear is the year CloudTrail began (November 2013): no log folder is older.
const FirstYear = 2013

// Folder names one trail's stream of log files: an account's CloudTrail/ folder for one
// region, written by an account trail (OrgID empty) or by an organization trail.
type Folder struct {
	OrgID   string // "o-…" for an organization trail, "" for an account trail
	Account string // 12-digit AWS account id
	Region  string // e.g. us-east-1
}

// LogsFolder returns the key of an account's CloudTrail/ folder, whose sub-folders are
// regions: AWSLogs/[o-ORGID/]ACCOUNT/CloudTrail/.
func LogsFolder(org, account string) string {
	if org != "" {
		return Root + org + "/" + account + "/" + KindLogs + "/"
	}
	return Root + account + "/" + KindLogs + "/"
}

// Base returns the folder's key below the bucket prefix, ending in the region and "/":
// AWSLogs/[o-ORGID/]ACCOUNT/CloudTrail/REGION/.
func (f Folder) Base() string { return LogsFolder(f.OrgID, f.Account) + f.Region + "/" }

// DayPrefix returns the key prefix of the folder's delivery folder for day d:
// AWSLogs/[o-ORGID/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/.
func (f Folder) DayPrefix(d Day) string { return f.Base() + d.Path() + "/" }

// String is the folder's base key, for messages.
func (f Folder) String() string { return f.Base() }

// Key is a parsed object key of a trail.
type Key struct {
	Folder
	Kind string // KindLogs, KindDigest or KindInsight (or another folder name found there)
	Day  Day    // the delivery day of the folder
	Name string // the object's name inside the day folder
}

// ErrNotTrailKey is wrapped by ParseKey's errors.
var ErrNotTrailKey = errors.New("not a CloudTrail key")

// ParseKey parses a key relative to the bucket prefix, such as
// AWSLogs/o-abc123defg/111122223333/CloudTrail/us-east-1/2024/03/01/NAME.json.gz.
// It checks the shape of each part (organization id, 12-digit account, region, a real date)
// but not the file name, whose pattern CloudTrail does not promise.
func ParseKey(key string) (Key, error) {
	fail := func(why string) (Key, error) {
		return Key{}, fmt.Errorf("%w: %q: %s", ErrNotTrailKey, key, why)
	}
	rest, ok := strings.CutPrefix(key, Root)
	if !ok {
		return fail("does not start with " + Root)
	}
	parts := strings.Split(rest, "/")
	var k Key
	if len(parts) > 0 && IsOrgID(parts[0]) {
		k.OrgID, parts = parts[0], parts[1:]
	}
	// ACCOUNT KIND REGION YYYY MM DD NAME
	if len(parts) != 7 {
		return fail("want ACCOUNT/KIND/REGION/YYYY/MM/DD/NAME after " + Root + "[o-ORGID/]")
	}
	k.Account, k.Kind, k.Region, k.Name = parts[0], parts[1], parts[2], parts[6]
	switch {
	case !IsAccountID(k.Account):
		return fail("bad account id " + quote(k.Account))
	case !IsFolderKind(k.Kind):
		return fail("bad folder " + quote(k.Kind))
	case !IsRegion(k.Region):
		return fail("bad region " + quote(k.Region))
	case k.Name == "":
		return fail("no file name")
	}
	if len(parts[3]) != 4 || len(parts[4]) != 2 || len(parts[5]) != 2 {
		return fail("date folders must be YYYY/MM/DD")
	}
	d, err := ParseDay(parts[3] + "-" + parts[4] + "-" + parts[5])
	if err != nil || d.Path() != parts[3]+"/"+parts[4]+"/"+parts[5] {
		return fail("bad date folders " + parts[3] + "/" + parts[4] + "/" + parts[5])
	}
	if d.Year < FirstYear {
		return fail("date folders before CloudTrail existed")
	}
	k.Day = d
	return k, nil
}

func quote(s string) string { return fmt.Sprintf("%q", s) }

// IsOrgID reports whether s looks like an AWS Organizations id: "o-" and lowercase letters
// or digits. AWS issues 10 to 32 of them, but copies of archives with shorter, edited ids
// exist (o-abcd); since an account id is always 12 digits, accepting them is unambiguous.
func IsOrgID(s string) bool {
	rest, ok := strings.CutPrefix(s, "o-")
	if !ok || len(rest) < 1 || len(rest) > 32 {
		return false
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// IsAccountID reports whether s is a 12-digit AWS account id.
func IsAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// IsRegion reports whether s is shaped like an AWS region name: lowercase letters, digits and
// hyphens, starting with a letter, at most 32 bytes. It does not check the region exists:
// new regions appear, and anonymised archives carry invented ones.
func IsRegion(s string) bool {
	if len(s) < 2 || len(s) > 32 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// IsFolderKind reports whether s names one of the folders a trail writes under an account:
// CloudTrail, CloudTrail-Digest, CloudTrail-Insight.
func IsFolderKind(s string) bool {
	return s == KindLogs || s == KindDigest || s == KindInsight
}

// Skip reasons: why an object listed in a CloudTrail/ day folder is not read as a log file.
const (
	SkipNotLogFile = "not_log_file" // the name does not end in .json.gz or .json
	SkipFolder     = "folder"       // a folder marker or an object in a subfolder
)

// Classify decides whether an object found in a CloudTrail/ day folder is a log file.
// name is the key's part after the day folder's prefix. It returns "" for a log file, else
// the skip reason. Log files end in .json.gz (or .json, as some copies are kept
// uncompressed); marketrail does not depend on the rest of CloudTrail's naming pattern.
// An empty log file is not skipped: it is a broken object, and reading it fails loudly.
func Classify(name string) string {
	switch {
	case name == "" || strings.Contains(name, "/"):
		return SkipFolder
	case !strings.HasSuffix(name, ".json.gz") && !strings.HasSuffix(name, ".json"):
		return SkipNotLogFile
	}
	return ""
}

// TailStart is the time of day from which a delivery day's log files form its tail: the
// files that may hold events CloudTrail delivers again, just after midnight, in the next
// day's first files.
const TailStart = 23 * time.Hour

// NameTime returns the timestamp CloudTrail puts in a log file's name: the last
// YYYYMMDDTHHMMZ in it (ACCOUNT_CloudTrail_REGION_20240301T2355Z_RANDOM.json.gz). ok is
// false when the name holds no such valid timestamp.
func NameTime(name string) (t time.Time, ok bool) {
	const n = len("20060102T1504Z")
	for i := len(name) - n; i >= 0; i-- {
		if name[i+8] != 'T' || name[i+13] != 'Z' {
			continue
		}
		s := name[i : i+n]
		if !digitsAt(s, 0, 8) || !digitsAt(s, 9, 13) {
			continue
		}
		if t, err := time.Parse("20060102T1504Z", s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func digitsAt(s string, from, to int) bool {
	for i := from; i < to; i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// InTail reports whether the log file name, found in delivery day d's folder, is part of
// d's tail: its name's timestamp (NameTime) is at or after 23:00Z on d, or it has none (a
// file whose time is unknown may be the last of the day).
func InTail(name string, d Day) bool {
	t, ok := NameTime(name)
	return !ok || !t.Before(d.Time().Add(TailStart))
}
