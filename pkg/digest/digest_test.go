package digest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/marketrail/marketrail/pkg/trail"
)

const realdata = "../../../shared/realdata"

func gz(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// minimal is a well-formed starting digest; the parse cases edit it.
const minimal = `{"awsAccountId":"111122223333","digestStartTime":"2024-03-01T00:00:00Z","digestEndTime":"2024-03-01T01:00:00Z",` +
	`"digestS3Bucket":"b","digestS3Object":"AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/03/01/x.json.gz",` +
	`"digestPublicKeyFingerprint":"00","digestSignatureAlgorithm":"SHA256withRSA","newestEventTime":null,"oldestEventTime":null,` +
	`"previousDigestS3Bucket":null,"previousDigestS3Object":null,"previousDigestHashValue":null,"previousDigestHashAlgorithm":null,` +
	`"previousDigestSignature":null,"logFiles":[]}`

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"minimal", []byte(minimal), true},
		{"minimal gzipped", gz([]byte(minimal)), true},
		{"previous set", []byte(strings.Replace(minimal, `"previousDigestS3Bucket":null,"previousDigestS3Object":null,"previousDigestHashValue":null,"previousDigestHashAlgorithm":null,"previousDigestSignature":null`,
			`"previousDigestS3Bucket":"b","previousDigestS3Object":"k","previousDigestHashValue":"00","previousDigestHashAlgorithm":"SHA-256","previousDigestSignature":"00"`, 1)), true},
		{"previous fields missing altogether", []byte(strings.Replace(minimal, `"previousDigestS3Bucket":null,"previousDigestS3Object":null,"previousDigestHashValue":null,"previousDigestHashAlgorithm":null,"previousDigestSignature":null,`, ``, 1)), true},
		{"a log file", []byte(strings.Replace(minimal, `"logFiles":[]`, `"logFiles":[{"s3Bucket":"b","s3Object":"o","hashValue":"00","hashAlgorithm":"SHA-256","newestEventTime":"2024-03-01T00:10:00Z","oldestEventTime":"2024-03-01T00:00:00Z"}]`, 1)), true},
		{"previous half set", []byte(strings.Replace(minimal, `"previousDigestS3Object":null`, `"previousDigestS3Object":"k"`, 1)), false},
		{"no logFiles", []byte(strings.Replace(minimal, `,"logFiles":[]`, ``, 1)), false},
		{"null logFiles", []byte(strings.Replace(minimal, `"logFiles":[]`, `"logFiles":null`, 1)), false},
		{"no end time", []byte(strings.Replace(minimal, `"digestEndTime":"2024-03-01T01:00:00Z",`, ``, 1)), false},
		{"bad end time", []byte(strings.Replace(minimal, `2024-03-01T01:00:00Z`, `yesterday`, 1)), false},
		{"empty object", []byte(strings.Replace(minimal, `AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/03/01/x.json.gz`, ``, 1)), false},
		{"log file without hash", []byte(strings.Replace(minimal, `"logFiles":[]`, `"logFiles":[{"s3Bucket":"b","s3Object":"o"}]`, 1)), false},
		{"wrong type", []byte(strings.Replace(minimal, `"awsAccountId":"111122223333"`, `"awsAccountId":111122223333`, 1)), false},
		{"array", []byte(`[]`), false},
		{"null", []byte(`null`), false},
		{"empty", nil, false},
		{"truncated gzip", gz([]byte(minimal))[:40], false},
		{"events, not a digest", []byte(`{"Records":[]}`), false},
	}
	for _, tt := range tests {
		f, err := Parse(bytes.NewReader(tt.in))
		if tt.ok != (err == nil) {
			t.Errorf("%s: Parse error %v, want ok=%v", tt.name, err, tt.ok)
			continue
		}
		if err != nil && !errors.Is(err, ErrFormat) {
			t.Errorf("%s: error %v does not wrap ErrFormat", tt.name, err)
		}
		if err == nil && (len(f.Content) == 0 || f.Content[0] != '{') {
			t.Errorf("%s: Content is not the uncompressed JSON", tt.name)
		}
	}
}

// TestRealDigests parses the captured digest (elastic/beats) and the user guide's two
// examples, a normal and an empty one.
func TestRealDigests(t *testing.T) {
	captured, err := os.ReadFile(filepath.Join(realdata, "elastic_beats", "cloudtrail-digest-json.log"))
	if errors.Is(err, os.ErrNotExist) {
		t.Skip("no ../shared/realdata")
	} else if err != nil {
		t.Fatal(err)
	}
	f, err := Parse(bytes.NewReader(bytes.TrimSpace(captured)))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.LogFiles) != 12 || f.DigestS3Bucket != "leh-ct-test-bucket" || f.Starting() ||
		*f.PreviousDigestHashValue != "531914fcfa0dbacf09cdd4175a1fdcb5eda6e852911209f3c3ecb0a39036c860" {
		t.Errorf("captured digest: %d log files, %+v", len(f.LogFiles), f)
	}
	if err := VerifyLocation(f, "leh-ct-test-bucket", f.DigestS3Object); err != nil {
		t.Error(err)
	}
	n, err := ParseName(f.DigestS3Object)
	if err != nil {
		t.Fatal(err)
	}
	if n.Chain.Trail != "leh-ct-test" || n.Chain.HomeRegion != "us-west-2" || !n.End.Equal(f.End()) {
		t.Errorf("captured digest name: %+v, end %v", n, f.End())
	}
	for _, l := range f.LogFiles {
		k, err := trail.ParseKey(RelativeKey(l.S3Object))
		if err != nil || k.Kind != trail.KindLogs || l.HashAlgorithm != HashAlgorithm || len(l.HashValue) != 64 {
			t.Errorf("log file entry %+v: %v", l, err)
		}
	}

	examples, err := os.ReadFile(filepath.Join(realdata, "aws_docs_cloudtrail_user_guide", "cloudtrail_user_guide_digest_examples.json"))
	if err != nil {
		t.Fatal(err)
	}
	var docs []struct{ Digest json.RawMessage }
	if err := json.Unmarshal(examples, &docs); err != nil {
		t.Fatal(err)
	}
	if len(docs) != 2 {
		t.Fatalf("%d doc examples, want 2", len(docs))
	}
	for i, d := range docs {
		f, err := ParseContent(d.Digest)
		if err != nil {
			t.Fatalf("doc example %d: %v", i, err)
		}
		if _, err := ParseName(f.DigestS3Object); err != nil {
			t.Errorf("doc example %d: %v", i, err)
		}
		if empty := i == 1; empty != (len(f.LogFiles) == 0 && f.NewestEventTime == nil && f.OldestEventTime == nil) {
			t.Errorf("doc example %d: empty=%v but %d log files, newest %v", i, empty, len(f.LogFiles), f.NewestEventTime)
		}
	}
}

func TestParseName(t *testing.T) {
	tests := []struct {
		key      string
		chain    Chain // zero: want an error
		end      string
		backfill bool
	}{
		{"AWSLogs/144492464627/CloudTrail-Digest/us-west-2/2020/09/11/144492464627_CloudTrail-Digest_us-west-2_leh-ct-test_us-west-2_20200911T193649Z.json.gz",
			Chain{"", "144492464627", "us-west-2", "leh-ct-test", "us-west-2"}, "2020-09-11T19:36:49Z", false},
		{"AWSLogs/o-abcd123456/111122223333/CloudTrail-Digest/eu-west-1/2024/03/02/111122223333_CloudTrail-Digest_eu-west-1_org_trail_us-east-1_20240302T000000Z_backfill.json.gz",
			Chain{"o-abcd123456", "111122223333", "eu-west-1", "org_trail", "us-east-1"}, "2024-03-02T00:00:00Z", true},
		// the end time must fall on the date folder
		{"AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/03/01/111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20240302T000000Z.json.gz", Chain{}, "", false},
		// a log file, not a digest
		{"AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/01/111122223333_CloudTrail_us-east-1_20240301T0000Z_x.json.gz", Chain{}, "", false},
		// the name's account or region differs from the folder's
		{"AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/03/01/111122223334_CloudTrail-Digest_us-east-1_t_us-east-1_20240301T010000Z.json.gz", Chain{}, "", false},
		{"AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/03/01/111122223333_CloudTrail-Digest_us-west-2_t_us-east-1_20240301T010000Z.json.gz", Chain{}, "", false},
		{"AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/03/01/111122223333_CloudTrail-Digest_us-east-1_us-east-1_20240301T010000Z.json.gz", Chain{}, "", false},
		{"AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/03/01/111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20240301T0100Z.json.gz", Chain{}, "", false},
		{"AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/03/01/notes.txt", Chain{}, "", false},
	}
	for _, tt := range tests {
		n, err := ParseName(tt.key)
		if tt.chain == (Chain{}) {
			if err == nil || !errors.Is(err, ErrNotDigestKey) {
				t.Errorf("ParseName(%q) = %+v, %v; want ErrNotDigestKey", tt.key, n, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseName(%q): %v", tt.key, err)
			continue
		}
		if n.Chain != tt.chain || n.End.Format(TimeLayout) != tt.end || n.Backfill != tt.backfill {
			t.Errorf("ParseName(%q) = %+v", tt.key, n)
		}
		if p := DayPrefix(n.Folder, n.Day); !strings.HasPrefix(tt.key, p) || strings.Contains(tt.key[len(p):], "/") {
			t.Errorf("DayPrefix = %q for %q", p, tt.key)
		}
	}
}

func TestVerifyLogFile(t *testing.T) {
	content := []byte(`{"Records":[]}`)
	sum := sha256.Sum256(content)
	good := LogFile{S3Object: "k", HashValue: strings.ToUpper(hex.EncodeToString(sum[:])), HashAlgorithm: HashAlgorithm} // case does not matter
	tests := []struct {
		name string
		e    LogFile
		sum  []byte
		want error
	}{
		{"match", good, sum[:], nil},
		{"other content", good, func() []byte { s := sha256.Sum256([]byte(`{"Records":[ ]}`)); return s[:] }(), ErrHashMismatch},
		{"compressed bytes hashed instead", good, func() []byte { s := sha256.Sum256(gz(content)); return s[:] }(), ErrHashMismatch},
		{"other algorithm", LogFile{S3Object: "k", HashValue: good.HashValue, HashAlgorithm: "MD5"}, sum[:], ErrUnsupported},
	}
	for _, tt := range tests {
		err := VerifyLogFile(tt.e, tt.sum)
		if (tt.want == nil) != (err == nil) || tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("%s: VerifyLogFile = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestVerifyLocation(t *testing.T) {
	f := &File{DigestS3Bucket: "b", DigestS3Object: "pre/fix/AWSLogs/1/CloudTrail-Digest/r/2024/03/01/x.json.gz"}
	for _, tt := range []struct {
		bucket, key string
		ok          bool
	}{
		{"b", "AWSLogs/1/CloudTrail-Digest/r/2024/03/01/x.json.gz", true},
		{"", "AWSLogs/1/CloudTrail-Digest/r/2024/03/01/x.json.gz", true},
		{"", "fix/AWSLogs/1/CloudTrail-Digest/r/2024/03/01/x.json.gz", true},
		{"c", "AWSLogs/1/CloudTrail-Digest/r/2024/03/01/x.json.gz", false},
		{"", "AWSLogs/1/CloudTrail-Digest/r/2024/03/02/x.json.gz", false},
		{"", "s/AWSLogs/1/CloudTrail-Digest/r/2024/03/01/x.json.gz", false},
	} {
		if err := VerifyLocation(f, tt.bucket, tt.key); (err == nil) != tt.ok {
			t.Errorf("VerifyLocation(%q, %q) = %v, want ok=%v", tt.bucket, tt.key, err, tt.ok)
		}
	}
	if got := RelativeKey("pre/fix/AWSLogs/1/x"); got != "AWSLogs/1/x" {
		t.Errorf("RelativeKey = %q", got)
	}
}

// FuzzParse checks that Parse never panics, that what it accepts has every required field,
// and that a gzipped copy parses the same.
func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal))
	f.Add(gz([]byte(minimal)))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Parse(bytes.NewReader(data))
		if err != nil {
			return
		}
		if _, err := time.Parse(time.RFC3339, d.DigestEndTime); err != nil || d.DigestS3Object == "" || d.DigestS3Bucket == "" || d.LogFiles == nil {
			t.Fatalf("accepted %q without its required fields", data)
		}
		if (d.PreviousDigestS3Object == nil) != (d.PreviousDigestSignature == nil) {
			t.Fatalf("accepted %q with half its previousDigest fields", data)
		}
		_ = SigningString(d)
		again, err := Parse(bytes.NewReader(gz(d.Content)))
		if err != nil || again.Hash() != d.Hash() || again.DigestS3Object != d.DigestS3Object || len(again.LogFiles) != len(d.LogFiles) {
			t.Fatalf("gzipped copy parses differently: %v", err)
		}
	})
}
