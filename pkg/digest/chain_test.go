package digest

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/marketrail/marketrail/pkg/trail"
)

// chainKey is the key of the test chain's digest ending at end.
func chainKey(end time.Time) string {
	return fmt.Sprintf("AWSLogs/111122223333/CloudTrail-Digest/us-east-1/%s/111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_%s.json.gz",
		end.Format("2006/01/02"), end.Format("20060102T150405Z"))
}

// makeChain returns n signed hourly digests ending at first, first+1h, ..., each linked to
// the one before; the first is a starting digest.
func makeChain(t *testing.T, key *rsa.PrivateKey, first time.Time, n int) []*File {
	t.Helper()
	fp := Fingerprint(x509.MarshalPKCS1PublicKey(&key.PublicKey))
	var out []*File
	for i := 0; i < n; i++ {
		end := first.Add(time.Duration(i) * time.Hour)
		d := &File{
			AWSAccountID: "111122223333", DigestStartTime: end.Add(-time.Hour).Format(TimeLayout), DigestEndTime: end.Format(TimeLayout),
			DigestS3Bucket: "b", DigestS3Object: chainKey(end), DigestPublicKeyFingerprint: fp, DigestSignatureAlgorithm: SignatureAlgorithm,
			LogFiles: []LogFile{},
		}
		if i > 0 {
			prev := out[i-1]
			b, o, h, a, s := prev.DigestS3Bucket, prev.DigestS3Object, prev.Hash(), HashAlgorithm, prev.Signature
			d.PreviousDigestS3Bucket, d.PreviousDigestS3Object, d.PreviousDigestHashValue, d.PreviousDigestHashAlgorithm, d.PreviousDigestSignature = &b, &o, &h, &a, &s
		}
		content, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		f, err := ParseContent(content)
		if err != nil {
			t.Fatal(err)
		}
		f.Key = f.DigestS3Object
		sum := sha256.Sum256(SigningString(f))
		sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		f.Signature = hex.EncodeToString(sig)
		out = append(out, f)
	}
	return out
}

func TestVerifyChains(t *testing.T) {
	key := testKey(t)
	// 22:00 .. 03:00 over a day boundary: the digest ending 2024-03-02T00:00:00Z (the last
	// hour of March 1) is in March 2's folder.
	first := time.Date(2024, 3, 1, 22, 0, 0, 0, time.UTC)
	all := func(trail.Day) bool { return true }
	tests := []struct {
		name string
		edit func(fs []*File) []*File
		read func(trail.Day) bool
		want []string // reason@index of the broken digest in the unedited chain
	}{
		{"whole chain", nil, all, nil},
		{"middle deleted", func(fs []*File) []*File { return append(fs[:2:2], fs[3:]...) }, all, []string{"missing@3"}},
		{"deleted across the day boundary", func(fs []*File) []*File { return append(fs[:2:2], fs[3:]...) }, nil, []string{"missing@3"}},
		{"first deleted, its folder read", func(fs []*File) []*File { return fs[1:] }, all, []string{"missing@1"}},
		{"first deleted, its folder not read", func(fs []*File) []*File { return fs[1:] }, func(d trail.Day) bool { return d != trail.DayOf(first) }, nil},
		{"content changed", func(fs []*File) []*File {
			c := *fs[2]
			c.Content = append([]byte(nil), c.Content...)
			c.Content[len(c.Content)-2] = ' '
			fs[2] = &c
			return fs
		}, all, []string{"hash@3"}},
		{"signature replaced", func(fs []*File) []*File {
			c := *fs[1]
			c.Signature = "00" + c.Signature[2:]
			fs[1] = &c
			return fs
		}, all, []string{"signature@2"}},
		{"restart", func(fs []*File) []*File {
			c := *fs[4]
			c.PreviousDigestS3Bucket, c.PreviousDigestS3Object, c.PreviousDigestHashValue, c.PreviousDigestHashAlgorithm, c.PreviousDigestSignature = nil, nil, nil, nil, nil
			fs[4] = &c
			return fs
		}, all, []string{"restart@4"}},
		{"two deleted in a row", func(fs []*File) []*File { return append(fs[:1:1], fs[3:]...) }, all, []string{"missing@3"}},
	}
	for _, tt := range tests {
		fs := makeChain(t, key, first, 6)
		idx := map[string]int{}
		for i, f := range fs {
			idx[f.Key] = i
		}
		if tt.edit != nil {
			fs = tt.edit(fs)
		}
		res := VerifyChains(fs, tt.read)
		var got []string
		for _, b := range res.Breaks {
			got = append(got, fmt.Sprintf("%s@%d", b.Reason, idx[b.Key]))
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%s: breaks %v, want %v", tt.name, got, tt.want)
		}
	}

	// The signatures the chain records verify the digests without their metadata, all but
	// the last.
	fs := makeChain(t, key, first, 4)
	pub := KeySet{fs[0].DigestPublicKeyFingerprint: {Fingerprint: fs[0].DigestPublicKeyFingerprint, Key: &key.PublicKey}}
	for _, f := range fs {
		f.Signature = ""
	}
	res := VerifyChains(fs, all)
	if len(res.Breaks) != 0 || len(res.Signatures) != 3 {
		t.Fatalf("without metadata: %v breaks, %d signatures from the chain", res.Breaks, len(res.Signatures))
	}
	for _, f := range fs[:3] {
		if err := VerifySignature(f, res.Signatures[f.Key], pub); err != nil {
			t.Error(err)
		}
	}
	if _, ok := res.Signatures[fs[3].Key]; ok {
		t.Error("the last digest's signature cannot come from the chain")
	}
}
