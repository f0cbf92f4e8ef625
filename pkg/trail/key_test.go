package trail

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseKey(t *testing.T) {
	tests := []struct {
		key  string
		want Key // zero Kind means: want an error
	}{
		{"AWSLogs/111122223333/CloudTrail/us-east-2/2015/08/01/111122223333_CloudTrail_us-east-2_20150801T0210Z_Mu0KsOhtH1ar15ZZ.json.gz",
			Key{Folder{"", "111122223333", "us-east-2"}, KindLogs, Day{2015, 8, 1}, "111122223333_CloudTrail_us-east-2_20150801T0210Z_Mu0KsOhtH1ar15ZZ.json.gz"}},
		{"AWSLogs/o-abcd123456/811596193553/CloudTrail/us-east-1/2020/09/30/811596193553_CloudTrail_us-east-1-20200930T2200.json",
			Key{Folder{"o-abcd123456", "811596193553", "us-east-1"}, KindLogs, Day{2020, 9, 30}, "811596193553_CloudTrail_us-east-1-20200930T2200.json"}},
		{"AWSLogs/144492464627/CloudTrail-Digest/us-west-2/2020/09/11/144492464627_CloudTrail-Digest_us-west-2_leh-ct-test_us-west-2_20200911T193649Z.json.gz",
			Key{Folder{"", "144492464627", "us-west-2"}, KindDigest, Day{2020, 9, 11}, "144492464627_CloudTrail-Digest_us-west-2_leh-ct-test_us-west-2_20200911T193649Z.json.gz"}},
		{"AWSLogs/111122223333/CloudTrail-Insight/eu-west-1/2024/02/29/x.json.gz",
			Key{Folder{"", "111122223333", "eu-west-1"}, KindInsight, Day{2024, 2, 29}, "x.json.gz"}},
		// anonymised archives carry invented regions; the shape is all that is checked
		{"AWSLogs/111122223333/CloudTrail/megov-northeast-1r/2024/01/02/f.json", Key{Folder{"", "111122223333", "megov-northeast-1r"}, KindLogs, Day{2024, 1, 2}, "f.json"}},
		{"logs/AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/02/f.json.gz", Key{}}, // prefix not stripped
		{"AWSLogs/11112222333/CloudTrail/us-east-1/2024/01/02/f.json.gz", Key{}},       // 11 digits
		{"AWSLogs/111122223333/CloudTrailX/us-east-1/2024/01/02/f.json.gz", Key{}},     // unknown folder
		{"AWSLogs/111122223333/CloudTrail/US-EAST-1/2024/01/02/f.json.gz", Key{}},      // region case
		{"AWSLogs/111122223333/CloudTrail/us-east-1/2023/02/29/f.json.gz", Key{}},      // no such date
		{"AWSLogs/111122223333/CloudTrail/us-east-1/2024/1/02/f.json.gz", Key{}},       // month not 2 digits
		{"AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/02/", Key{}},               // folder, no name
		{"AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/02/sub/f.json.gz", Key{}},  // too deep
		{"AWSLogs/o-abcd/811596193553/CloudTrail/us-east-1/2020/10/01/f.json.gz", // an edited, short org id (umccr's copy of flaws.cloud)
			Key{Folder{"o-abcd", "811596193553", "us-east-1"}, KindLogs, Day{2020, 10, 1}, "f.json.gz"}},
		{"AWSLogs/o-Abcd/811596193553/CloudTrail/us-east-1/2020/10/01/f.json.gz", Key{}}, // not an org id, not an account
		{"AWSLogs/111122223333/CloudTrail/us-east-1/../../../../../etc/passwd", Key{}},
		{"", Key{}},
	}
	for _, tt := range tests {
		got, err := ParseKey(tt.key)
		if tt.want.Kind == "" {
			if err == nil {
				t.Errorf("ParseKey(%q) = %+v, want error", tt.key, got)
			} else if !errors.Is(err, ErrNotTrailKey) || !strings.Contains(err.Error(), tt.key) {
				t.Errorf("ParseKey(%q) error %q should wrap ErrNotTrailKey and name the key", tt.key, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseKey(%q): %v", tt.key, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseKey(%q) = %+v, want %+v", tt.key, got, tt.want)
		}
		// The layout functions must give back the key's own folder.
		if got.Kind == KindLogs && got.DayPrefix(got.Day)+got.Name != tt.key {
			t.Errorf("DayPrefix+Name = %q, want %q", got.DayPrefix(got.Day)+got.Name, tt.key)
		}
	}
}

func TestClassify(t *testing.T) {
	tests := []struct{ name, want string }{
		{"111122223333_CloudTrail_us-east-2_20150801T0210Z_Mu0KsOhtH1ar15ZZ.json.gz", ""},
		{"811596193553_CloudTrail_us-east-1-20200930T2200.json", ""},
		{".DS_Store", SkipNotLogFile},
		{"notes.txt", SkipNotLogFile},
		{"x.json.gz.tmp", SkipNotLogFile},
		{"", SkipFolder},
		{"sub/x.json.gz", SkipFolder},
	}
	for _, tt := range tests {
		if got := Classify(tt.name); got != tt.want {
			t.Errorf("Classify(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestDay(t *testing.T) {
	d, err := ParseDay("2024-02-28")
	if err != nil {
		t.Fatal(err)
	}
	if got := d.AddDays(1).String(); got != "2024-02-29" {
		t.Errorf("leap day: got %s", got)
	}
	if got := d.AddDays(2).Path(); got != "2024/03/01" {
		t.Errorf("Path: got %s", got)
	}
	if got := DayOf(time.Date(2024, 3, 1, 23, 30, 0, 0, time.FixedZone("x", -3600))); got.String() != "2024-03-02" {
		t.Errorf("DayOf must use UTC, got %s", got)
	}
	if n := len(Range(d, d.AddDays(3))); n != 4 {
		t.Errorf("Range inclusive: got %d days, want 4", n)
	}
	if Range(d, d.AddDays(-1)) != nil {
		t.Errorf("Range of an empty window must be nil")
	}
	for _, bad := range []string{"2024-2-28", "2024-02-30", "yesterday", "2024-02-28T00:00:00Z", ""} {
		if _, err := ParseDay(bad); err == nil {
			t.Errorf("ParseDay(%q) succeeded", bad)
		}
	}
}

// FuzzParseKey checks that any key ParseKey accepts is rebuilt exactly by the layout
// functions, so that a parsed key can never name a place outside its own day folder.
func FuzzParseKey(f *testing.F) {
	f.Add("AWSLogs/111122223333/CloudTrail/us-east-2/2015/08/01/a.json.gz")
	f.Add("AWSLogs/o-abcd123456/811596193553/CloudTrail/us-east-1/2020/09/30/b.json")
	f.Add("AWSLogs/111122223333/CloudTrail/us-east-1/2024/01/02/../../x")
	f.Fuzz(func(t *testing.T, key string) {
		k, err := ParseKey(key)
		if err != nil {
			return
		}
		var kind string
		if k.OrgID != "" {
			kind = Root + k.OrgID + "/" + k.Account + "/" + k.Kind + "/" + k.Region + "/" + k.Day.Path() + "/" + k.Name
		} else {
			kind = Root + k.Account + "/" + k.Kind + "/" + k.Region + "/" + k.Day.Path() + "/" + k.Name
		}
		if kind != key {
			t.Fatalf("ParseKey(%q) rebuilt as %q", key, kind)
		}
		if strings.Contains(k.Name, "/") || k.Name == "" {
			t.Fatalf("ParseKey(%q) gave name %q", key, k.Name)
		}
		if k.Day.Year < FirstYear || k.Day.Year > 9999 {
			t.Fatalf("ParseKey(%q) gave day %v", key, k.Day)
		}
	})
}

func TestNameTimeAndTail(t *testing.T) {
	d := Day{2024, time.March, 1}
	for _, c := range []struct {
		name string
		want string // RFC 3339, "" for none
		tail bool
	}{
		{"111122223333_CloudTrail_us-east-1_20240301T2355Z_AbCd.json.gz", "2024-03-01T23:55:00Z", true},
		{"111122223333_CloudTrail_us-east-1_20240301T2300Z_AbCd.json.gz", "2024-03-01T23:00:00Z", true},
		{"111122223333_CloudTrail_us-east-1_20240301T2259Z_AbCd.json.gz", "2024-03-01T22:59:00Z", false},
		{"111122223333_CloudTrail_us-east-1_20240301T0005Z_AbCd.json.gz", "2024-03-01T00:05:00Z", false},
		// A later day's stamp in this day's folder is after 23:00 on it.
		{"111122223333_CloudTrail_us-east-1_20240302T0001Z_AbCd.json.gz", "2024-03-02T00:01:00Z", true},
		// The last stamp counts: the random part may look like one.
		{"x_20240301T2350Z_20240301T0100Z.json.gz", "2024-03-01T01:00:00Z", false},
		{"x_20240301T0100Z_20240301T2350Z.json.gz", "2024-03-01T23:50:00Z", true},
		// A stamp that is not a time is no stamp.
		{"x_20240301T2599Z.json.gz", "", true},
		{"x_20241301T0100Z.json.gz", "", true},
		{"export.json.gz", "", true},
		{"", "", true},
		{"20240301T0100Z", "2024-03-01T01:00:00Z", false},
	} {
		got, ok := NameTime(c.name)
		switch {
		case c.want == "" && ok:
			t.Errorf("NameTime(%q) = %v, want none", c.name, got)
		case c.want != "" && (!ok || got.Format(time.RFC3339) != c.want):
			t.Errorf("NameTime(%q) = %v, %v, want %s", c.name, got, ok, c.want)
		}
		if tail := InTail(c.name, d); tail != c.tail {
			t.Errorf("InTail(%q, %s) = %v, want %v", c.name, d, tail, c.tail)
		}
	}
}

// FuzzNameTime checks that a timestamp NameTime finds is really written in the name, and is
// the last one there.
func FuzzNameTime(f *testing.F) {
	f.Add("111122223333_CloudTrail_us-east-1_20240301T2355Z_AbCd.json.gz")
	f.Add("x_20240301T2350Z_20240301T0100Z.json.gz")
	f.Add("20241301T0100Z")
	f.Fuzz(func(t *testing.T, name string) {
		got, ok := NameTime(name)
		if !ok {
			return
		}
		s := got.Format("20060102T1504Z")
		i := strings.LastIndex(name, s)
		if i < 0 {
			t.Fatalf("NameTime(%q) = %s, not in the name", name, s)
		}
		for j := i + 1; j+len(s) <= len(name); j++ {
			if u, err := time.Parse("20060102T1504Z", name[j:j+len(s)]); err == nil && name[j+8] == 'T' {
				t.Fatalf("NameTime(%q) = %s, but %s comes later", name, s, u)
			}
		}
	})
}
