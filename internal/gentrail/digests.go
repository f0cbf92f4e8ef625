package gentrail

import (
	"crypto"
	"crypto/md5"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// The generator signs its digests (Config.SignedDigests) with a fixed RSA key of its own,
// committed beside this file: it is a test key, good for nothing but tests. Its public half
// is DigestPublicKeys. The signing follows the CloudTrail user guide ("Custom
// implementations of CloudTrail log file integrity validation"): RSA PKCS #1 v1.5 over the
// SHA-256 of
//
//	digestEndTime \n digestS3Bucket/digestS3Object \n hex(SHA-256(digest content)) \n previous signature ("null" if none)
//
//go:embed digestkey.pem
var digestKeyPEM []byte

var digestKey = sync.OnceValue(func() *rsa.PrivateKey {
	blk, _ := pem.Decode(digestKeyPEM)
	if blk == nil {
		panic("gentrail: digestkey.pem holds no PEM block")
	}
	k, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
	if err != nil {
		panic("gentrail: digestkey.pem: " + err.Error())
	}
	return k
})

// digestKeyDER is the public key as ListPublicKeys gives it: DER PKCS #1 RSAPublicKey.
func digestKeyDER() []byte { return x509.MarshalPKCS1PublicKey(&digestKey().PublicKey) }

// DigestKeyFingerprint is the fingerprint the generator's signed digests name: the hex MD5
// of the public key's DER bytes, as CloudTrail's ListPublicKeys gives it.
func DigestKeyFingerprint() string {
	sum := md5.Sum(digestKeyDER())
	return hex.EncodeToString(sum[:])
}

// DigestPublicKeys returns the generator's public key as `aws cloudtrail list-public-keys`
// prints it: {"PublicKeyList": [{"Value", "ValidityStartTime", "ValidityEndTime",
// "Fingerprint"}]}, the Value base64 DER PKCS #1.
func DigestPublicKeys() []byte {
	b := appendJSON(nil, obj{{"PublicKeyList", arr{obj{
		{"Value", base64.StdEncoding.EncodeToString(digestKeyDER())},
		{"ValidityStartTime", "2014-01-01T00:00:00+00:00"},
		{"ValidityEndTime", "2100-01-01T00:00:00+00:00"},
		{"Fingerprint", DigestKeyFingerprint()},
	}}}})
	return append(b, '\n')
}

// signDigest returns the hex signature of a digest with content, delivered at key.
func (g *generator) signDigest(end time.Time, key string, content []byte, prevSig string) (string, error) {
	sum := sha256.Sum256(content)
	if prevSig == "" {
		prevSig = "null"
	}
	s := end.UTC().Format(eventTimeLayout) + "\n" + g.w.bucket + "/" + key + "\n" + hex.EncodeToString(sum[:]) + "\n" + prevSig
	h := sha256.Sum256([]byte(s))
	sig, err := rsa.SignPKCS1v15(nil, digestKey(), crypto.SHA256, h[:])
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(sig), nil
}

// writeSignedDigests writes real digest files (Config.SignedDigests): for each trail,
// account and region chosen by DigestAccounts/DigestRegions, one digest per hour from the
// first delivery day of the archive's log files to the end of the last, each listing the log
// files delivered in its hour with the SHA-256 of their uncompressed content, chained to the
// one before (the first is a starting digest) and signed. A digest lies in the folder of its
// end time, so the one of a day's last hour is in the next day's folder. With
// DigestBackfill, the earliest log file of each chain is left out of its hourly digest and
// listed in a _backfill digest of the same hour instead. Log files record the digest that
// lists them (digestedBy), digests their signature and predecessor.
func (g *generator) writeSignedDigests() ([]Object, error) {
	type chainID struct {
		org    bool
		acct   int
		region string
	}
	var files []*logFile
	for _, b := range g.plan {
		files = append(files, b.files...)
	}
	if len(files) == 0 {
		return nil, nil
	}
	first, last := files[0].day, files[0].day
	chains := map[chainID][]*logFile{}
	digestRegions := g.w.regions[:min(g.cfg.DigestRegions, len(g.w.regions))]
	for _, f := range files {
		if f.day.Before(first) {
			first = f.day
		}
		if f.day.After(last) {
			last = f.day
		}
		if f.acct >= g.cfg.DigestAccounts || !slices.Contains(digestRegions, f.region) {
			continue
		}
		chains[chainID{f.org, f.acct, f.region}] = append(chains[chainID{f.org, f.acct, f.region}], f)
	}
	ids := make([]chainID, 0, len(chains))
	for id := range chains {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool {
		a, b := ids[i], ids[j]
		if a.org != b.org {
			return a.org
		}
		if a.acct != b.acct {
			return a.acct < b.acct
		}
		return a.region < b.region
	})
	end := last.Add(24 * time.Hour)
	var objs []Object
	for _, id := range ids {
		fs := chains[id]
		sort.Slice(fs, func(i, j int) bool {
			if !fs[i].at.Equal(fs[j].at) {
				return fs[i].at.Before(fs[j].at)
			}
			return fs[i].key < fs[j].key
		})
		var backfill *logFile
		if g.cfg.DigestBackfill {
			backfill = fs[0]
		}
		a := &g.w.accounts[id.acct]
		trailName := accountTrailName
		if id.org {
			trailName = orgTrailName
		}
		var prevKey, prevHash, prevSig string
		next := 0 // the first file of fs not yet in a digest
		for h := first; h.Before(end); h = h.Add(time.Hour) {
			hEnd := h.Add(time.Hour)
			var in []*logFile
			for ; next < len(fs) && fs[next].at.Before(hEnd); next++ {
				in = append(in, fs[next])
			}
			key := g.prefix(id.org, id.acct, folderDigest, id.region, hEnd) + a.id + "_CloudTrail-Digest_" + id.region + "_" +
				trailName + "_" + homeRegion + "_" + hEnd.Format("20060102T150405Z")
			var hourly, late []*logFile
			for _, f := range in {
				if f == backfill {
					late = append(late, f)
				} else {
					hourly = append(hourly, f)
				}
			}
			o, hash, sig, err := g.writeDigest(id.org, id.acct, id.region, h, hEnd, key+".json.gz", hourly, prevKey, prevHash, prevSig)
			if err != nil {
				return nil, err
			}
			objs = append(objs, o)
			prevKey, prevHash, prevSig = o.Key, hash, sig
			if len(late) > 0 {
				o, _, _, err := g.writeDigest(id.org, id.acct, id.region, h, hEnd, key+"_backfill.json.gz", late, "", "", "")
				if err != nil {
					return nil, err
				}
				objs = append(objs, o)
			}
		}
	}
	return objs, nil
}

// writeDigest writes one signed digest of the hour [start, end) at key, listing files, and
// returns its manifest entry, content hash and signature.
func (g *generator) writeDigest(org bool, acct int, region string, start, end time.Time, key string, files []*logFile,
	prevKey, prevHash, prevSig string) (Object, string, string, error) {
	logs, ot, nt := g.digestEntries(files)
	var newest, oldest any
	for _, f := range files {
		f.digestedBy = key
	}
	if len(files) > 0 {
		newest, oldest = nt.UTC().Format(eventTimeLayout), ot.UTC().Format(eventTimeLayout)
	}
	var pBucket, pKey, pHash, pAlg, pSig any
	if prevKey != "" {
		pBucket, pKey, pHash, pAlg, pSig = g.w.bucket, prevKey, prevHash, "SHA-256", prevSig
	}
	d := obj{
		{"awsAccountId", g.w.accounts[acct].id},
		{"digestStartTime", start.UTC().Format(eventTimeLayout)},
		{"digestEndTime", end.UTC().Format(eventTimeLayout)},
		{"digestS3Bucket", g.w.bucket},
		{"digestS3Object", key},
		{"digestPublicKeyFingerprint", DigestKeyFingerprint()},
		{"digestSignatureAlgorithm", "SHA256withRSA"},
		{"newestEventTime", newest},
		{"oldestEventTime", oldest},
		{"previousDigestS3Bucket", pBucket},
		{"previousDigestS3Object", pKey},
		{"previousDigestHashValue", pHash},
		{"previousDigestHashAlgorithm", pAlg},
		{"previousDigestSignature", pSig},
		{"logFiles", logs},
	}
	data := appendJSON(nil, d)
	sum := sha256.Sum256(data)
	sig, err := g.signDigest(end, key, data, prevSig)
	if err != nil {
		return Object{}, "", "", err
	}
	if g.keys[key] {
		return Object{}, "", "", fmt.Errorf("gentrail: duplicate key %s", key)
	}
	g.keys[key] = true
	if err := g.writeObject(key, data, true); err != nil {
		return Object{}, "", "", err
	}
	o := g.object(key, KindDigest, org, acct, region, end.Truncate(24*time.Hour), true, 0, 0, len(data))
	o.Signature, o.PreviousDigest = sig, prevKey
	if strings.HasSuffix(key, "_backfill.json.gz") {
		o.Backfill = true
	}
	return o, hex.EncodeToString(sum[:]), sig, nil
}

// digestEntries returns the logFiles entries of a digest listing files, and the oldest and
// newest event times among them (zero for no files).
func (g *generator) digestEntries(files []*logFile) (logs arr, oldest, newest time.Time) {
	logs = arr{}
	for i, f := range files {
		if i == 0 || f.oldest.Before(oldest) {
			oldest = f.oldest
		}
		if i == 0 || f.newest.After(newest) {
			newest = f.newest
		}
		logs = append(logs, obj{
			{"s3Bucket", g.w.bucket},
			{"s3Object", f.key},
			{"hashValue", f.sha},
			{"hashAlgorithm", "SHA-256"},
			{"newestEventTime", f.newest.UTC().Format(eventTimeLayout)},
			{"oldestEventTime", f.oldest.UTC().Format(eventTimeLayout)},
		})
	}
	return logs, oldest, newest
}
