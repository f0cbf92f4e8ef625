package digest

import (
	"crypto"
	"crypto/md5"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SigningString returns the data signing string of f (see the package documentation):
// digestEndTime, digestS3Bucket/digestS3Object, the hex SHA-256 of f's content and the
// previous digest's signature ("null" in a starting digest), joined by "\n".
func SigningString(f *File) []byte {
	prev := "null"
	if f.PreviousDigestSignature != nil {
		prev = *f.PreviousDigestSignature
	}
	return []byte(f.DigestEndTime + "\n" + f.DigestS3Bucket + "/" + f.DigestS3Object + "\n" + f.Hash() + "\n" + prev)
}

// PublicKey is one CloudTrail public key, as ListPublicKeys returns it.
type PublicKey struct {
	Fingerprint   string
	Key           *rsa.PublicKey
	ValidityStart time.Time // zero when not given
	ValidityEnd   time.Time
}

// KeySet holds public keys by fingerprint (lowercase hex).
type KeySet map[string]PublicKey

// Fingerprint returns the fingerprint CloudTrail gives a public key: the hex MD5 of its DER
// bytes, as ListPublicKeys returns them in Value.
func Fingerprint(der []byte) string {
	sum := md5.Sum(der)
	return hex.EncodeToString(sum[:])
}

// ParsePublicKeyDER parses a public key as ListPublicKeys returns it: DER PKCS #1
// RSAPublicKey, or a SubjectPublicKeyInfo holding an RSA key.
func ParsePublicKeyDER(der []byte) (*rsa.PublicKey, error) {
	if k, err := x509.ParsePKCS1PublicKey(der); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, errors.New("neither a PKCS #1 RSA public key nor a SubjectPublicKeyInfo")
	}
	rk, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("a %T public key, not RSA", k)
	}
	return rk, nil
}

// ParsePublicKeys reads the JSON that `aws cloudtrail list-public-keys` prints (the
// ListPublicKeys response): {"PublicKeyList": [{"Value": base64 DER, "ValidityStartTime",
// "ValidityEndTime", "Fingerprint"}, ...]}. The list may also be named publicKeyList, as in
// the user guide's example; times may be epoch seconds (a number or a string such as
// "1436317441.0") or RFC 3339. A key whose Fingerprint is not the MD5 of its Value is
// refused: it would let a wrong key stand in for the right one.
func ParsePublicKeys(data []byte) (KeySet, error) {
	type rawKey struct {
		Value             string
		ValidityStartTime json.RawMessage
		ValidityEndTime   json.RawMessage
		Fingerprint       string
	}
	var doc struct {
		PublicKeyList      []rawKey `json:"PublicKeyList"`
		PublicKeyListLower []rawKey `json:"publicKeyList"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("public keys: %w", err)
	}
	list := append(doc.PublicKeyList, doc.PublicKeyListLower...)
	if len(list) == 0 {
		return nil, errors.New("public keys: no PublicKeyList, or an empty one")
	}
	keys := KeySet{}
	for i, rk := range list {
		der, err := base64.StdEncoding.DecodeString(rk.Value)
		if err != nil {
			return nil, fmt.Errorf("public keys: key %d: Value is not base64: %w", i, err)
		}
		k, err := ParsePublicKeyDER(der)
		if err != nil {
			return nil, fmt.Errorf("public keys: key %d: %w", i, err)
		}
		fp := strings.ToLower(rk.Fingerprint)
		if want := Fingerprint(der); fp != want {
			return nil, fmt.Errorf("public keys: key %d: Fingerprint %q is not the MD5 of its Value (%s)", i, rk.Fingerprint, want)
		}
		pk := PublicKey{Fingerprint: fp, Key: k}
		if pk.ValidityStart, err = parseKeyTime(rk.ValidityStartTime); err != nil {
			return nil, fmt.Errorf("public keys: key %d: ValidityStartTime: %w", i, err)
		}
		if pk.ValidityEnd, err = parseKeyTime(rk.ValidityEndTime); err != nil {
			return nil, fmt.Errorf("public keys: key %d: ValidityEndTime: %w", i, err)
		}
		keys[fp] = pk
	}
	return keys, nil
}

// parseKeyTime reads a time of ListPublicKeys: epoch seconds as a number or a string, or
// RFC 3339; absent or null is the zero time.
func parseKeyTime(raw json.RawMessage) (time.Time, error) {
	s := strings.TrimSpace(string(raw))
	if s == "" || s == "null" {
		return time.Time{}, nil
	}
	if uq, err := strconv.Unquote(s); err == nil {
		s = uq
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		sec := int64(f)
		return time.Unix(sec, int64((f-float64(sec))*1e9)).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither epoch seconds nor RFC 3339", s)
	}
	return t.UTC(), nil
}

// Errors of VerifySignature.
var (
	ErrNoSignature  = errors.New("no signature")
	ErrNoKey        = errors.New("no public key with the digest's fingerprint")
	ErrBadSignature = errors.New("signature does not verify")
)

// VerifySignature checks f's signature, sigHex (from x-amz-meta-signature, or the next
// digest's previousDigestSignature), with the key of keys whose fingerprint f names.
func VerifySignature(f *File, sigHex string, keys KeySet) error {
	if f.DigestSignatureAlgorithm != SignatureAlgorithm {
		return fmt.Errorf("%w: %s signed with %q", ErrUnsupported, f.DigestS3Object, f.DigestSignatureAlgorithm)
	}
	if sigHex == "" {
		return fmt.Errorf("%w: %s", ErrNoSignature, f.DigestS3Object)
	}
	pk, ok := keys[strings.ToLower(f.DigestPublicKeyFingerprint)]
	if !ok {
		return fmt.Errorf("%w: %s names %s", ErrNoKey, f.DigestS3Object, f.DigestPublicKeyFingerprint)
	}
	sig, err := hex.DecodeString(sigHex)
	if err != nil {
		return fmt.Errorf("%w: %s: the signature is not hex", ErrBadSignature, f.DigestS3Object)
	}
	sum := sha256.Sum256(SigningString(f))
	if err := rsa.VerifyPKCS1v15(pk.Key, crypto.SHA256, sum[:], sig); err != nil {
		return fmt.Errorf("%w: %s", ErrBadSignature, f.DigestS3Object)
	}
	return nil
}
