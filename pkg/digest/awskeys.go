package digest

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
)

// PublicKeyLister is CloudTrail's ListPublicKeys call, as *cloudtrail.Client has it.
type PublicKeyLister interface {
	ListPublicKeys(ctx context.Context, in *cloudtrail.ListPublicKeysInput, opts ...func(*cloudtrail.Options)) (*cloudtrail.ListPublicKeysOutput, error)
}

// FetchPublicKeys asks CloudTrail, through api (a client of one region: keys are regional),
// for the public keys valid at some time between start and end, following NextToken, and
// returns them by fingerprint. A key whose fingerprint is not the MD5 of its value is
// refused, as in ParsePublicKeys.
func FetchPublicKeys(ctx context.Context, api PublicKeyLister, start, end time.Time) (KeySet, error) {
	keys := KeySet{}
	in := &cloudtrail.ListPublicKeysInput{StartTime: aws.Time(start), EndTime: aws.Time(end)}
	for {
		out, err := api.ListPublicKeys(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("ListPublicKeys: %w", err)
		}
		for i, k := range out.PublicKeyList {
			fp := strings.ToLower(aws.ToString(k.Fingerprint))
			if want := Fingerprint(k.Value); fp != want {
				return nil, fmt.Errorf("ListPublicKeys: key %d: Fingerprint %q is not the MD5 of its Value (%s)", i, fp, want)
			}
			rk, err := ParsePublicKeyDER(k.Value)
			if err != nil {
				return nil, fmt.Errorf("ListPublicKeys: key %s: %w", fp, err)
			}
			keys[fp] = PublicKey{Fingerprint: fp, Key: rk, ValidityStart: aws.ToTime(k.ValidityStartTime), ValidityEnd: aws.ToTime(k.ValidityEndTime)}
		}
		if aws.ToString(out.NextToken) == "" {
			return keys, nil
		}
		in.NextToken = out.NextToken
	}
}
