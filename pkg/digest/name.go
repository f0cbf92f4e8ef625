package digest

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/marketrail/marketrail/pkg/trail"
)

// Name is a parsed digest key:
//
//	AWSLogs/[o-ORGID/]ACCOUNT/CloudTrail-Digest/REGION/YYYY/MM/DD/
//	  ACCOUNT_CloudTrail-Digest_REGION_TRAIL_HOMEREGION_YYYYMMDDTHHMMSSZ[_backfill].json.gz
//
// The date folder is the day of the digest's end time.
type Name struct {
	trail.Key
	Chain    Chain
	End      time.Time // the end time in the name
	Backfill bool      // a _backfill digest: log files an earlier digest missed
}

// Chain names one chain of digests: one trail's digests of one account and region.
type Chain struct {
	OrgID, Account, Region string
	Trail, HomeRegion      string
}

func (c Chain) String() string {
	s := c.Account + "/" + c.Region + "/" + c.Trail + "@" + c.HomeRegion
	if c.OrgID != "" {
		s = c.OrgID + "/" + s
	}
	return s
}

// ErrNotDigestKey is wrapped by ParseName's errors.
var ErrNotDigestKey = errors.New("not a CloudTrail digest key")

// nameTimeLayout is the end time in a digest's name.
const nameTimeLayout = "20060102T150405Z"

// ParseName parses a digest key relative to the bucket prefix.
func ParseName(key string) (Name, error) {
	fail := func(why string) (Name, error) {
		return Name{}, fmt.Errorf("%w: %q: %s", ErrNotDigestKey, key, why)
	}
	k, err := trail.ParseKey(key)
	if err != nil {
		return fail(err.Error())
	}
	if k.Kind != trail.KindDigest {
		return fail("not in a " + trail.KindDigest + "/ folder")
	}
	n := Name{Key: k}
	rest, ok := strings.CutSuffix(k.Name, ".json.gz")
	if !ok {
		return fail("does not end in .json.gz")
	}
	rest, n.Backfill = strings.CutSuffix(rest, "_backfill")
	head := k.Account + "_" + trail.KindDigest + "_" + k.Region + "_"
	rest, ok = strings.CutPrefix(rest, head)
	if !ok {
		return fail("name does not start with " + head)
	}
	// TRAIL_HOMEREGION_TIME: a trail name may hold underscores, a region and the time do not.
	i := strings.LastIndexByte(rest, '_')
	if i < 0 {
		return fail("no end time")
	}
	n.End, err = time.Parse(nameTimeLayout, rest[i+1:])
	if err != nil {
		return fail("bad end time " + rest[i+1:])
	}
	rest = rest[:i]
	j := strings.LastIndexByte(rest, '_')
	if j <= 0 || !trail.IsRegion(rest[j+1:]) {
		return fail("no trail name and home region")
	}
	n.Chain = Chain{OrgID: k.OrgID, Account: k.Account, Region: k.Region, Trail: rest[:j], HomeRegion: rest[j+1:]}
	if trail.DayOf(n.End) != k.Day {
		return fail("end time " + n.End.Format(TimeLayout) + " is not in the date folder " + k.Day.String())
	}
	return n, nil
}

// DayPrefix returns the key prefix of a folder's digest folder for day d:
// AWSLogs/[o-ORGID/]ACCOUNT/CloudTrail-Digest/REGION/YYYY/MM/DD/.
func DayPrefix(f trail.Folder, d trail.Day) string {
	p := trail.Root
	if f.OrgID != "" {
		p += f.OrgID + "/"
	}
	return p + f.Account + "/" + trail.KindDigest + "/" + f.Region + "/" + d.Path() + "/"
}
