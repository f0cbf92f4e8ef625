package digest

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The fixed test vectors in testdata/vector were made once by hand, outside this package:
//
//	signing-string.txt  printf '%s\n%s/%s\n%s\n%s' END BUCKET OBJECT "$(sha256sum digest.json)" PREVSIG
//	signature.hex       openssl dgst -sha256 -sign ../test_key.pem -hex signing-string.txt
//	public-keys.json    ListPublicKeys' shape: Value = base64 of
//	                    openssl rsa -RSAPublicKey_out -outform DER, Fingerprint = its MD5
//
// following the data signing string of the CloudTrail user guide ("Custom implementations
// of CloudTrail log file integrity validation"); starting-* are the same for a starting,
// empty digest, whose previous signature is written "null". digest.json.gz is gzip -9 -n of
// digest.json. The tests rebuild the signing string here, from the documented format, and
// check the package's verifier against openssl's signature.

func readVector(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "vector", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "test_key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatal("test_key.pem: no PEM block")
	}
	k, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestFixedVector(t *testing.T) {
	keys, err := ParsePublicKeys(readVector(t, "public-keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, content, compressed, signingString, signature string
		end, bucket, object                                 string
	}{
		{"hourly", "digest.json", "digest.json.gz", "signing-string.txt", "signature.hex", "2015-08-17T15:01:31Z", "vector-bucket",
			"logs/AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2015/08/17/111122223333_CloudTrail-Digest_us-east-2_vector-trail_us-east-2_20150817T150131Z.json.gz"},
		{"starting", "starting.json", "", "starting-signing-string.txt", "starting-signature.hex", "2015-08-20T18:01:31Z", "vector-bucket",
			"AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2015/08/20/111122223333_CloudTrail-Digest_us-east-2_vector-trail_us-east-2_20150820T180131Z.json.gz"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			content := readVector(t, tc.content)
			var f *File
			if tc.compressed != "" {
				f, err = Parse(bytes.NewReader(readVector(t, tc.compressed)))
			} else {
				f, err = Parse(bytes.NewReader(content))
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(f.Content, content) {
				t.Fatal("Content is not the uncompressed file")
			}
			// The documented signing string, built here from its parts.
			var raw map[string]any
			if err := json.Unmarshal(content, &raw); err != nil {
				t.Fatal(err)
			}
			prev := "null"
			if s, ok := raw["previousDigestSignature"].(string); ok {
				prev = s
			}
			sum := sha256.Sum256(content)
			want := tc.end + "\n" + tc.bucket + "/" + tc.object + "\n" + hex.EncodeToString(sum[:]) + "\n" + prev
			if got := string(readVector(t, tc.signingString)); got != want {
				t.Fatalf("the committed signing string differs from the documented one:\n%s\nwant\n%s", got, want)
			}
			if got := string(SigningString(f)); got != want {
				t.Fatalf("SigningString:\n%s\nwant\n%s", got, want)
			}
			sig := strings.TrimSpace(string(readVector(t, tc.signature)))
			// PKCS #1 v1.5 is deterministic: crypto/rsa over the documented string gives
			// openssl's signature.
			digest := sha256.Sum256([]byte(want))
			mine, err := rsa.SignPKCS1v15(nil, testKey(t), crypto.SHA256, digest[:])
			if err != nil {
				t.Fatal(err)
			}
			if hex.EncodeToString(mine) != sig {
				t.Fatal("crypto/rsa and openssl disagree on the signature")
			}
			if err := VerifySignature(f, sig, keys); err != nil {
				t.Fatalf("VerifySignature: %v", err)
			}
			if err := VerifySignature(f, strings.ToUpper(sig), keys); err != nil {
				t.Fatalf("VerifySignature of upper-case hex: %v", err)
			}

			// Anything changed fails.
			bad := *f
			bad.Content = bytes.Replace(content, []byte("111122223333"), []byte("111122223334"), 1)
			if err := VerifySignature(&bad, sig, keys); !errors.Is(err, ErrBadSignature) {
				t.Errorf("changed content: %v, want ErrBadSignature", err)
			}
			bad = *f
			bad.DigestEndTime = "2015-08-17T15:01:32Z"
			if err := VerifySignature(&bad, sig, keys); !errors.Is(err, ErrBadSignature) {
				t.Errorf("changed end time: %v, want ErrBadSignature", err)
			}
			bad = *f
			bad.DigestS3Bucket = "other-bucket"
			if err := VerifySignature(&bad, sig, keys); !errors.Is(err, ErrBadSignature) {
				t.Errorf("changed bucket: %v, want ErrBadSignature", err)
			}
			bad = *f
			p := strings.Repeat("0", 512)
			bad.PreviousDigestSignature = &p
			if err := VerifySignature(&bad, sig, keys); !errors.Is(err, ErrBadSignature) {
				t.Errorf("changed previous signature: %v, want ErrBadSignature", err)
			}
			if err := VerifySignature(f, sig[:len(sig)-2]+"00", keys); !errors.Is(err, ErrBadSignature) {
				t.Errorf("changed signature: %v, want ErrBadSignature", err)
			}
			if err := VerifySignature(f, "zz", keys); !errors.Is(err, ErrBadSignature) {
				t.Errorf("non-hex signature: %v, want ErrBadSignature", err)
			}
			if err := VerifySignature(f, "", keys); !errors.Is(err, ErrNoSignature) {
				t.Errorf("no signature: %v, want ErrNoSignature", err)
			}
			if err := VerifySignature(f, sig, KeySet{}); !errors.Is(err, ErrNoKey) {
				t.Errorf("no key: %v, want ErrNoKey", err)
			}
			bad = *f
			bad.DigestSignatureAlgorithm = "SHA1withRSA"
			if err := VerifySignature(&bad, sig, keys); !errors.Is(err, ErrUnsupported) {
				t.Errorf("other algorithm: %v, want ErrUnsupported", err)
			}
		})
	}
}

// TestUserGuidePublicKeys reads the example response of list-public-keys in the CloudTrail
// user guide: two PKCS #1 keys and one SubjectPublicKeyInfo, epoch times as strings, the
// list named publicKeyList. That every Fingerprint is the MD5 of the Value's DER bytes is
// what ParsePublicKeys checks.
func TestUserGuidePublicKeys(t *testing.T) {
	doc := `{
    "publicKeyList": [
        {"ValidityStartTime": "1436317441.0", "ValidityEndTime": "1438909441.0",
         "Value": "MIIBCgKCAQEAn11L2YZ9h7onug2ILi1MWyHiMRsTQjfWE+pHVRLk1QjfWhirG+lpOa8NrwQ/r7Ah5bNL6HepznOU9XTDSfmmnP97mqyc7z/upfZdS/AHhYcGaz7n6Wc/RRBU6VmiPCrAUojuSk6/GjvA8iOPFsYDuBtviXarvuLPlrT9kAd4Lb+rFfR5peEgBEkhlzc5HuWO7S0y+KunqxX6jQBnXGMtxmPBPP0FylgWGNdFtks/4YSKcgqwH0YDcawP9GGGDAeCIqPWIXDLG1jOjRRzWfCmD0iJUkz8vTsn4hq/5ZxRFE7UBAUiVcGbdnDdvVfhF9C3dQiDq3k7adQIziLT0cShgQIDAQAB",
         "Fingerprint": "8eba5db5bea9b640d1c96a77256fe7f2"},
        {"ValidityStartTime": "1434589460.0", "ValidityEndTime": "1437181460.0",
         "Value": "MIIBCgKCAQEApfYL2FiZhpN74LNWVUzhR+VheYhwhYm8w0n5Gf6i95ylW5kBAWKVEmnAQG7BvS5g9SMqFDQx52fW7NWV44IvfJ2xGXT+wT+DgR6ZQ+6yxskQNqV5YcXj4Aa5Zz4jJfsYjDuO2MDTZNIzNvBNzaBJ+r2WIWAJ/Xq54kyF63B6WE38vKuDE7nSd1FqQuEoNBFLPInvgggYe2Ym1Refe2z71wNcJ2kY+q0h1BSHrSM8RWuJIw7MXwF9iQncg9jYzUlNJomozQzAG5wSRfbplcCYNY40xvGd/aAmO0m+Y+XFMrKwtLCwseHPvj843qVno6x4BJN9bpWnoPo9sdsbGoiK3QIDAQAB",
         "Fingerprint": "8933b39ddc64d26d8e14ffbf6566fee4"},
        {"ValidityStartTime": "1434589370.0", "ValidityEndTime": "1437181370.0",
         "Value": "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAqlzPJbvZJ42UdcmLfPUqXYNfOs6I8lCfao/tOs8CmzPOEdtLWugB9xoIUz78qVHdKIqxbaG4jWHfJBiOSSFBM0lt8cdVo4TnRa7oG9io5pysS6DJhBBAeXsicufsiFJR+wrUNh8RSLxL4k6G1+BhLX20tJkZ/erT97tDGBujAelqseGg3vPZbTx9SMfOLN65PdLFudLP7Gat0Z9p5jw/rjpclKfo9Bfc3heeBxWGKwBBOKnFAaN9V57pOaosCvPKmHd9bg7jsQkI9Xp22IzGLsTFJZYVA3KiTAElDMu80iFXPHEq9hKNbt9e4URFam+1utKVEiLkR2disdCmPTK0VQIDAQAB",
         "Fingerprint": "31e8b5433410dfb61a9dc45cc65b22ff"}
    ]
}`
	keys, err := ParsePublicKeys([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 3 {
		t.Fatalf("got %d keys, want 3", len(keys))
	}
	k := keys["8eba5db5bea9b640d1c96a77256fe7f2"]
	if k.Key == nil || k.Key.N.BitLen() != 2048 || k.ValidityStart.Unix() != 1436317441 || k.ValidityEnd.Unix() != 1438909441 {
		t.Errorf("key 1: %+v", k)
	}
	if keys["31e8b5433410dfb61a9dc45cc65b22ff"].Key == nil {
		t.Error("the SubjectPublicKeyInfo key was not read")
	}
	// A fingerprint that is not the key's is refused.
	if _, err := ParsePublicKeys([]byte(strings.Replace(doc, "8eba5db5", "8eba5db6", 1))); err == nil {
		t.Error("a wrong Fingerprint was accepted")
	}
	for _, bad := range []string{`{}`, `{"PublicKeyList": []}`, `[`, `{"PublicKeyList":[{"Value":"%%%","Fingerprint":"x"}]}`,
		`{"PublicKeyList":[{"Value":"AAAA","Fingerprint":"x"}]}`} {
		if _, err := ParsePublicKeys([]byte(bad)); err == nil {
			t.Errorf("ParsePublicKeys(%s) succeeded", bad)
		}
	}
}
