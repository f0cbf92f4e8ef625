// Package digest reads and verifies CloudTrail's log file integrity digests: the hourly files
// under CloudTrail-Digest/ that list the SHA-256 of every log file delivered in the hour and
// chain to the previous digest, signed with SHA256withRSA.
//
// What this package relies on, from the CloudTrail user guide ("CloudTrail digest file
// structure" and "Custom implementations of CloudTrail log file integrity validation"):
//
//   - logFiles[].hashValue is the hex SHA-256 of the log file's uncompressed content (the
//     bytes inside the gzip), not of the stored object.
//
//   - previousDigestHashValue is the hex SHA-256 of the uncompressed content of the previous
//     digest file; previousDigestSignature is the previous digest's signature, in hex. In a
//     starting digest (validation just enabled or re-enabled) all five previousDigest*
//     fields are null.
//
//   - The signature is in the digest object's S3 user metadata, x-amz-meta-signature (hex),
//     with x-amz-meta-signature-algorithm (SHA256withRSA). It is an RSA PKCS #1 v1.5
//     signature over the SHA-256 of the data signing string
//
//     digestEndTime + "\n" + digestS3Bucket + "/" + digestS3Object + "\n" +
//     hex(SHA-256(uncompressed digest content)) + "\n" + previousDigestSignature
//
//     where digestEndTime is written as in the file (UTC extended format,
//     2015-08-17T15:01:31Z) and a null previousDigestSignature is written "null".
//
//   - ListPublicKeys returns each key as a DER-encoded PKCS #1 RSAPublicKey (one example in
//     the guide is a SubjectPublicKeyInfo; both are accepted) with its fingerprint: the hex
//     MD5 of those DER bytes (true of all three keys of the guide's example response).
//
//   - A digest whose end falls just after midnight, covering the last hour of day D, is in
//     D+1's folder; log files a digest missed are listed in a later digest whose name ends
//     in _backfill.json.gz. Chains run per trail and region.
package digest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
)

// Algorithms digest files name.
const (
	HashAlgorithm      = "SHA-256"
	SignatureAlgorithm = "SHA256withRSA"
)

// MaxSize is the most uncompressed bytes Parse accepts. A digest lists one hour of log files
// of one region, a few hundred bytes each.
const MaxSize = 64 << 20

// TimeLayout is how digest files write times: UTC, whole seconds.
const TimeLayout = "2006-01-02T15:04:05Z"

// ErrFormat is wrapped by Parse's errors for a file that is not a well-formed digest.
var ErrFormat = errors.New("not a well-formed CloudTrail digest file")

// File is one digest file: every field CloudTrail documents, as written. Times are kept as
// the strings the file holds, since the signature covers digestEndTime as written.
type File struct {
	AWSAccountID               string `json:"awsAccountId"`
	DigestStartTime            string `json:"digestStartTime"`
	DigestEndTime              string `json:"digestEndTime"`
	DigestS3Bucket             string `json:"digestS3Bucket"`
	DigestS3Object             string `json:"digestS3Object"`
	DigestPublicKeyFingerprint string `json:"digestPublicKeyFingerprint"`
	DigestSignatureAlgorithm   string `json:"digestSignatureAlgorithm"`
	// NewestEventTime and OldestEventTime are nil in an "empty" digest (no log files).
	NewestEventTime *string `json:"newestEventTime"`
	OldestEventTime *string `json:"oldestEventTime"`
	// The previous digest; all nil in a starting digest.
	PreviousDigestS3Bucket      *string   `json:"previousDigestS3Bucket"`
	PreviousDigestS3Object      *string   `json:"previousDigestS3Object"`
	PreviousDigestHashValue     *string   `json:"previousDigestHashValue"`
	PreviousDigestHashAlgorithm *string   `json:"previousDigestHashAlgorithm"`
	PreviousDigestSignature     *string   `json:"previousDigestSignature"`
	LogFiles                    []LogFile `json:"logFiles"`

	// Content is the file's uncompressed bytes, which its hash and signature cover.
	Content []byte `json:"-"`
	// Key is the storage key the file was read from, when known.
	Key string `json:"-"`
	// Signature is the hex signature from the object's metadata (x-amz-meta-signature),
	// when known; "" for a copy without metadata, such as a local folder.
	Signature string `json:"-"`

	sum string // the content's hash, kept by Compact
}

// LogFile is one entry of a digest's logFiles.
type LogFile struct {
	S3Bucket        string `json:"s3Bucket"`
	S3Object        string `json:"s3Object"`
	HashValue       string `json:"hashValue"`
	HashAlgorithm   string `json:"hashAlgorithm"`
	NewestEventTime string `json:"newestEventTime"`
	OldestEventTime string `json:"oldestEventTime"`
}

// Parse reads a digest file, gzipped or not, and checks that its required fields are there
// and well-formed: the times, the digest's own location, and that the previousDigest*
// fields are all null (a starting digest) or all set.
func Parse(r io.Reader) (*File, error) {
	raw, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, err
	}
	if len(raw) >= 2 && raw[0] == 0x1f && raw[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("%w: gzip: %v", ErrFormat, err)
		}
		raw, err = io.ReadAll(io.LimitReader(zr, MaxSize+1))
		if err != nil {
			return nil, fmt.Errorf("%w: gzip: %v", ErrFormat, err)
		}
	}
	if len(raw) > MaxSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrFormat, MaxSize)
	}
	return ParseContent(raw)
}

// ParseContent parses a digest's uncompressed content (see Parse). f.Content is content.
func ParseContent(content []byte) (*File, error) {
	// Decode once into raw fields, to tell a missing field from a null one.
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(content, &fields); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if fields == nil {
		return nil, fmt.Errorf("%w: not a JSON object", ErrFormat)
	}
	for _, name := range []string{"awsAccountId", "digestStartTime", "digestEndTime", "digestS3Bucket",
		"digestS3Object", "digestPublicKeyFingerprint", "digestSignatureAlgorithm", "logFiles"} {
		if v, ok := fields[name]; !ok || string(v) == "null" {
			return nil, fmt.Errorf("%w: no %s", ErrFormat, name)
		}
	}
	f := &File{}
	if err := json.Unmarshal(content, f); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	f.Content = content
	for _, t := range []struct{ name, v string }{{"digestStartTime", f.DigestStartTime}, {"digestEndTime", f.DigestEndTime}} {
		if _, err := parseTime(t.v); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrFormat, t.name, err)
		}
	}
	if f.DigestS3Object == "" || f.DigestS3Bucket == "" {
		return nil, fmt.Errorf("%w: empty digestS3Bucket or digestS3Object", ErrFormat)
	}
	prev := []*string{f.PreviousDigestS3Bucket, f.PreviousDigestS3Object, f.PreviousDigestHashValue,
		f.PreviousDigestHashAlgorithm, f.PreviousDigestSignature}
	set := 0
	for _, p := range prev {
		if p != nil {
			set++
		}
	}
	if set != 0 && set != len(prev) {
		return nil, fmt.Errorf("%w: previousDigest* fields are neither all null nor all set", ErrFormat)
	}
	for i, l := range f.LogFiles {
		if l.S3Object == "" || l.HashValue == "" {
			return nil, fmt.Errorf("%w: logFiles[%d] has no s3Object or hashValue", ErrFormat, i)
		}
	}
	return f, nil
}

func parseTime(s string) (time.Time, error) { return time.Parse(time.RFC3339, s) }

// Start returns digestStartTime.
func (f *File) Start() time.Time { t, _ := parseTime(f.DigestStartTime); return t }

// End returns digestEndTime.
func (f *File) End() time.Time { t, _ := parseTime(f.DigestEndTime); return t }

// Starting reports whether f is a starting digest: one with no previous digest.
func (f *File) Starting() bool { return f.PreviousDigestS3Object == nil }

// Hash returns the hex SHA-256 of f's uncompressed content: what the next digest's
// previousDigestHashValue and f's own signing string hold.
func (f *File) Hash() string {
	if f.Content == nil && f.sum != "" {
		return f.sum
	}
	sum := sha256.Sum256(f.Content)
	return hex.EncodeToString(sum[:])
}

// Compact drops f's content and log file list, keeping the content's hash: all that
// checking its chain links and signature needs. An audit of many digests keeps only this.
func (f *File) Compact() {
	f.sum = f.Hash()
	f.Content, f.LogFiles = nil, nil
}

// Location returns where f says it was delivered: digestS3Bucket/digestS3Object.
func (f *File) Location() string { return f.DigestS3Bucket + "/" + f.DigestS3Object }

// ErrMoved is wrapped by VerifyLocation's error.
var ErrMoved = errors.New("digest file is not where it says it was delivered")

// VerifyLocation checks that f says it was delivered at key, a key relative to a storage
// root (the bucket or a bucket prefix, or a local copy): digestS3Object must be key, or end
// in "/"+key (the part before is the bucket prefix). With bucket not "", digestS3Bucket
// must be bucket too. A digest copied from elsewhere fails: its signature would still hold.
func VerifyLocation(f *File, bucket, key string) error {
	if bucket != "" && f.DigestS3Bucket != bucket {
		return fmt.Errorf("%w: %s says bucket %s", ErrMoved, key, f.DigestS3Bucket)
	}
	if f.DigestS3Object != key && !strings.HasSuffix(f.DigestS3Object, "/"+key) {
		return fmt.Errorf("%w: %s says %s", ErrMoved, key, f.DigestS3Object)
	}
	return nil
}

// RelativeKey returns the key of an S3 object named in a digest (logFiles[].s3Object,
// previousDigestS3Object) relative to the bucket prefix: from its AWSLogs/ on.
func RelativeKey(s3Object string) string {
	if strings.HasPrefix(s3Object, "AWSLogs/") {
		return s3Object
	}
	if i := strings.Index(s3Object, "/AWSLogs/"); i >= 0 {
		return s3Object[i+1:]
	}
	return s3Object
}

// Errors of the Verify functions.
var (
	// ErrHashMismatch: a log file's content does not have the hash its digest lists.
	ErrHashMismatch = errors.New("hash does not match the digest")
	// ErrUnsupported: an algorithm other than SHA-256 / SHA256withRSA.
	ErrUnsupported = errors.New("unsupported algorithm")
)

// VerifyLogFile checks a log file's content against its digest entry; sum is the SHA-256 of
// the log file's uncompressed content.
func VerifyLogFile(e LogFile, sum []byte) error {
	if e.HashAlgorithm != HashAlgorithm {
		return fmt.Errorf("%w: %s hashed with %q", ErrUnsupported, e.S3Object, e.HashAlgorithm)
	}
	if !strings.EqualFold(e.HashValue, hex.EncodeToString(sum)) {
		return fmt.Errorf("%w: %s: content hashes to %x, digest lists %s", ErrHashMismatch, e.S3Object, sum, e.HashValue)
	}
	return nil
}
