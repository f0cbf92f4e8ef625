package gentrail_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/marketrail/marketrail/internal/gentrail"
)

// The committed sample, from this package's folder.
const (
	sampleDir      = "../../testdata/trail"
	sampleManifest = "../../testdata/trail-manifest.json"
	regenerate     = "go run ./cmd/gentrail -sample -clean -out testdata/trail -manifest testdata/trail-manifest.json"
)

// --- an independent reader of the archive -------------------------------------------------

// object is one file of a generated archive, read back without the generator's help.
type object struct {
	key     string
	org     string // o-... or ""
	account string
	folder  string // CloudTrail, CloudTrail-Digest, CloudTrail-Insight
	region  string
	day     string // YYYY-MM-DD of the date folders
	name    string
	data    []byte // decompressed
	records []map[string]any
}

// isLog reports whether a correct tool reads the object as a log file.
func (o *object) isLog() bool {
	return o.folder == "CloudTrail" && (strings.HasSuffix(o.name, ".json.gz") || strings.HasSuffix(o.name, ".json"))
}

// readArchive reads every file under dir, decompressing .gz files and decoding the Records
// of every .json(.gz) file of the CloudTrail and CloudTrail-Insight folders.
func readArchive(t testing.TB, dir string) map[string]*object {
	return readSome(t, dir, func(string) bool { return true })
}

// readSome reads the files under dir whose keys pass keep, as readArchive.
func readSome(t testing.TB, dir string, keep func(key string) bool) map[string]*object {
	t.Helper()
	objs := map[string]*object{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if !keep(key) {
			return nil
		}
		parts := strings.Split(key, "/")
		o := &object{key: key}
		if parts[0] != "AWSLogs" {
			t.Fatalf("%s: not under AWSLogs/", key)
		}
		parts = parts[1:]
		if strings.HasPrefix(parts[0], "o-") {
			o.org, parts = parts[0], parts[1:]
		}
		if len(parts) != 7 {
			t.Fatalf("%s: want ACCOUNT/FOLDER/REGION/YYYY/MM/DD/NAME after AWSLogs/[o-ID/]", key)
		}
		o.account, o.folder, o.region, o.name = parts[0], parts[1], parts[2], parts[6]
		o.day = parts[3] + "-" + parts[4] + "-" + parts[5]
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		o.data = raw
		if strings.HasSuffix(o.name, ".gz") {
			zr, err := gzip.NewReader(bytes.NewReader(raw))
			if err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			if o.data, err = io.ReadAll(zr); err != nil {
				t.Fatalf("%s: %v", key, err)
			}
		}
		if (o.folder == "CloudTrail" || o.folder == "CloudTrail-Insight") && (strings.HasSuffix(o.name, ".json.gz") || strings.HasSuffix(o.name, ".json")) {
			var f struct{ Records []map[string]any }
			dec := json.NewDecoder(bytes.NewReader(o.data))
			dec.UseNumber()
			if err := dec.Decode(&f); err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			if f.Records == nil {
				t.Fatalf("%s: no Records array", key)
			}
			o.records = f.Records
		}
		objs[key] = o
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// isMarketplace is the oracle: an event is a Marketplace event when its eventSource
// contains "marketplace" and ends in ".amazonaws.com".
func isMarketplace(r map[string]any) bool {
	s, _ := r["eventSource"].(string)
	return strings.Contains(s, "marketplace") && strings.HasSuffix(s, ".amazonaws.com")
}

func str(v any, path ...string) string {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[p]
	}
	s, _ := v.(string)
	return s
}

func sortedKeys(objs map[string]*object) []string {
	keys := make([]string, 0, len(objs))
	for k := range objs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// recordCopy is a Marketplace record found by the oracle.
type recordCopy struct {
	key   string
	index int
	rec   map[string]any
	obj   *object
}

// marketplaceRecords returns every Marketplace record of every log file, by key and index.
func marketplaceRecords(objs map[string]*object) []recordCopy {
	var out []recordCopy
	for _, k := range sortedKeys(objs) {
		o := objs[k]
		if !o.isLog() {
			continue
		}
		for i, r := range o.records {
			if isMarketplace(r) {
				out = append(out, recordCopy{key: k, index: i, rec: r, obj: o})
			}
		}
	}
	return out
}

// checkConsistent checks the manifest against the archive as read back: the objects, and
// the copies against the oracle.
func checkConsistent(t *testing.T, objs map[string]*object, m *gentrail.Manifest) {
	t.Helper()
	// Objects: exactly the files, with their kinds and record counts.
	var manifestKeys []string
	for _, mo := range m.Objects {
		manifestKeys = append(manifestKeys, mo.Key)
		o := objs[mo.Key]
		if o == nil {
			t.Errorf("manifest object %s is not in the archive", mo.Key)
			continue
		}
		kind := map[string]string{"CloudTrail-Digest": gentrail.KindDigest, "CloudTrail-Insight": gentrail.KindInsight}[o.folder]
		if o.isLog() {
			kind = gentrail.KindLog
		} else if kind == "" {
			kind = gentrail.KindOther
		}
		if mo.Kind != kind {
			t.Errorf("%s: kind %q, want %q", mo.Key, mo.Kind, kind)
		}
		if mo.DeliveryDay != o.day || mo.Account != o.account || mo.OrgID != o.org || mo.Region != o.region {
			t.Errorf("%s: manifest says day %s account %s org %q region %s", mo.Key, mo.DeliveryDay, mo.Account, mo.OrgID, mo.Region)
		}
		if mo.Bytes != len(o.data) {
			t.Errorf("%s: bytes %d, want %d", mo.Key, mo.Bytes, len(o.data))
		}
		if mo.Compressed != strings.HasSuffix(o.name, ".gz") {
			t.Errorf("%s: compressed %v", mo.Key, mo.Compressed)
		}
		if o.isLog() {
			mp := 0
			for _, r := range o.records {
				if isMarketplace(r) {
					mp++
				}
			}
			if mo.Records != len(o.records) || mo.Marketplace != mp {
				t.Errorf("%s: manifest says %d records, %d Marketplace; the file has %d, %d", mo.Key, mo.Records, mo.Marketplace, len(o.records), mp)
			}
		}
	}
	if !reflect.DeepEqual(manifestKeys, sortedKeys(objs)) {
		t.Errorf("manifest objects (%d) are not the archive's files (%d), in key order", len(manifestKeys), len(objs))
	}

	// Copies: exactly the oracle's Marketplace records, in (key, index) order.
	found := marketplaceRecords(objs)
	if len(found) != len(m.Copies) {
		t.Fatalf("manifest lists %d copies; the oracle finds %d Marketplace records in log files", len(m.Copies), len(found))
	}
	for i, f := range found {
		c := m.Copies[i]
		if c.SourceKey != f.key || c.RecordIndex != f.index {
			t.Fatalf("copy %d is %s[%d]; the oracle's is %s[%d]", i, c.SourceKey, c.RecordIndex, f.key, f.index)
		}
		r := f.rec
		if c.EventID != str(r, "eventID") || c.EventSource != str(r, "eventSource") || c.EventName != str(r, "eventName") ||
			c.EventTime != str(r, "eventTime") || c.EventVersion != str(r, "eventVersion") || c.AWSRegion != str(r, "awsRegion") ||
			c.ErrorCode != str(r, "errorCode") || c.UserIdentityType != str(r, "userIdentity", "type") ||
			c.RecipientAccountID != str(r, "recipientAccountId") {
			t.Errorf("%s[%d]: manifest copy %+v does not match the record", c.SourceKey, c.RecordIndex, c)
		}
		if !c.Marketplace || c.DeliveryDay != f.obj.day || c.EventDate != c.EventTime[:10] {
			t.Errorf("%s[%d]: marketplace %v, delivery day %s (folder %s), event date %s", c.SourceKey, c.RecordIndex, c.Marketplace, c.DeliveryDay, f.obj.day, c.EventDate)
		}
		if want := map[bool]string{true: "organization", false: "account"}[f.obj.org != ""]; c.Trail != want {
			t.Errorf("%s[%d]: trail %q, want %q", c.SourceKey, c.RecordIndex, c.Trail, want)
		}
		checkMetering(t, c, r)
	}

	// Decoys: where the manifest says, not Marketplace events of log files, and mentioning
	// Marketplace.
	for _, d := range m.Decoys {
		o := objs[d.SourceKey]
		if o == nil {
			t.Errorf("decoy in missing object %s", d.SourceKey)
			continue
		}
		var text []byte
		switch {
		case o.records != nil:
			if d.RecordIndex >= len(o.records) {
				t.Errorf("decoy %s[%d]: no such record", d.SourceKey, d.RecordIndex)
				continue
			}
			r := o.records[d.RecordIndex]
			if str(r, "eventID") != d.EventID {
				t.Errorf("decoy %s[%d]: eventID %q, manifest %q", d.SourceKey, d.RecordIndex, str(r, "eventID"), d.EventID)
			}
			if o.isLog() && isMarketplace(r) {
				t.Errorf("decoy %s[%d] is a Marketplace event of a log file", d.SourceKey, d.RecordIndex)
			}
			text, _ = json.Marshal(r)
		default:
			if o.isLog() {
				t.Errorf("decoy %s is in a log file without records", d.SourceKey)
			}
			text = o.data
		}
		if !bytes.Contains(bytes.ToLower(text), []byte("marketplace")) {
			t.Errorf("decoy %s[%d] does not mention Marketplace", d.SourceKey, d.RecordIndex)
		}
	}
}

// checkMetering checks a metering copy's usage records against the request's.
func checkMetering(t *testing.T, c gentrail.Copy, r map[string]any) {
	t.Helper()
	req, _ := r["requestParameters"].(map[string]any)
	switch c.EventName {
	case "BatchMeterUsage":
		usage, _ := req["usageRecords"].([]any)
		if len(usage) != len(c.Metering) || len(usage) == 0 || len(usage) > 25 {
			t.Errorf("%s[%d]: %d usage records, manifest %d", c.SourceKey, c.RecordIndex, len(usage), len(c.Metering))
			return
		}
		// The response lists the results in the request's order, then the unprocessed records.
		var results, unprocessed []any
		if res, ok := r["responseElements"].(map[string]any); ok {
			results, _ = res["results"].([]any)
			unprocessed, _ = res["unprocessedRecords"].([]any)
			if len(results)+len(unprocessed) != len(usage) {
				t.Errorf("%s[%d]: %d results and %d unprocessed for %d usage records", c.SourceKey, c.RecordIndex, len(results), len(unprocessed), len(usage))
				return
			}
		}
		for i, u := range usage {
			um := u.(map[string]any)
			mm := c.Metering[i]
			acct := str(um, "customerAWSAccountID") + str(um, "customerAWSAccountId")
			if mm.CustomerIdentifier != str(um, "customerIdentifier") || mm.CustomerAWSAccountID != acct ||
				mm.Dimension != str(um, "dimension") || string(um["quantity"].(json.Number)) != itoa(mm.Quantity) ||
				mm.ProductCode != str(req, "productCode") || mm.LicenseARN != str(um, "licenseArn") {
				t.Errorf("%s[%d]: usage record %d %v, manifest %+v", c.SourceKey, c.RecordIndex, i, um, mm)
			}
			ts, err := time.Parse("Jan 2, 2006 3:04:05 PM", str(um, "timestamp"))
			if err != nil || ts.Format(time.RFC3339) != mm.Timestamp {
				t.Errorf("%s[%d]: usage record %d timestamp %q, manifest %s", c.SourceKey, c.RecordIndex, i, str(um, "timestamp"), mm.Timestamp)
			}
			status, id, unproc := "", "", false
			switch {
			case i < len(results):
				if !reflect.DeepEqual(results[i].(map[string]any)["usageRecord"], u) {
					t.Errorf("%s[%d]: result %d is not for usage record %d", c.SourceKey, c.RecordIndex, i, i)
				}
				status, id = str(results[i], "status"), str(results[i], "meteringRecordId")
			case results != nil || unprocessed != nil:
				if !reflect.DeepEqual(unprocessed[i-len(results)], u) {
					t.Errorf("%s[%d]: unprocessed record %d is not usage record %d", c.SourceKey, c.RecordIndex, i-len(results), i)
				}
				unproc = true
			}
			if mm.Status != status || mm.MeteringRecordID != id || mm.Unprocessed != unproc {
				t.Errorf("%s[%d]: usage record %d: status %q id %q unprocessed %v, manifest %+v", c.SourceKey, c.RecordIndex, i, status, id, unproc, mm)
			}
		}
	case "MeterUsage":
		if len(c.Metering) != 1 || c.Metering[0].Dimension != str(req, "usageDimension") ||
			itoa(c.Metering[0].Quantity) != string(req["usageQuantity"].(json.Number)) || c.Metering[0].ProductCode != str(req, "productCode") ||
			c.Metering[0].LicenseARN != "" {
			t.Errorf("%s[%d]: MeterUsage %v, manifest %+v", c.SourceKey, c.RecordIndex, req, c.Metering)
		}
	default:
		if len(c.Metering) != 0 {
			t.Errorf("%s[%d]: %s has metering records", c.SourceKey, c.RecordIndex, c.EventName)
		}
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// --- tests ---------------------------------------------------------------------------------

func generate(t testing.TB, cfg gentrail.Config) (string, *gentrail.Manifest) {
	t.Helper()
	dir := t.TempDir()
	m, err := gentrail.Generate(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return dir, m
}

// sameContent compares two archives: the same keys and the same decompressed bytes.
func sameContent(t *testing.T, got, want map[string]*object, hint string) {
	t.Helper()
	gk, wk := sortedKeys(got), sortedKeys(want)
	if !reflect.DeepEqual(gk, wk) {
		var only []string
		for _, k := range gk {
			if want[k] == nil {
				only = append(only, "+"+k)
			}
		}
		for _, k := range wk {
			if got[k] == nil {
				only = append(only, "-"+k)
			}
		}
		if len(only) > 10 {
			only = only[:10]
		}
		t.Fatalf("the files differ (%d vs %d)%s: %s", len(gk), len(wk), hint, strings.Join(only, " "))
	}
	for _, k := range gk {
		if !bytes.Equal(got[k].data, want[k].data) {
			t.Fatalf("%s: content differs%s", k, hint)
		}
	}
}

func TestDeterministic(t *testing.T) {
	small := gentrail.Large(60)
	small.RecordsPerFile = 12
	small.Days = 2
	small.FastGzip = false
	signed := small
	signed.SignedDigests, signed.DigestBackfill = true, true
	for name, cfg := range map[string]gentrail.Config{"sample": gentrail.Sample(), "large-60": small, "signed-digests": signed} {
		t.Run(name, func(t *testing.T) {
			d1, m1 := generate(t, cfg)
			d2, m2 := generate(t, cfg)
			sameContent(t, readArchive(t, d1), readArchive(t, d2), "")
			b1, err := m1.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			b2, _ := m2.Marshal()
			if !bytes.Equal(b1, b2) {
				t.Fatal("the manifests differ")
			}
			if cfg.Seed++; true {
				_, m3 := generate(t, cfg)
				b3, _ := m3.Marshal()
				if bytes.Equal(b1, b3) {
					t.Fatal("another seed gives the same manifest")
				}
			}
		})
	}
}

func TestSampleIsNotStale(t *testing.T) {
	dir, m := generate(t, gentrail.Sample())
	hint := "; regenerate the sample with: " + regenerate
	sameContent(t, readArchive(t, dir), readArchive(t, sampleDir), hint)
	got, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(sampleManifest)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("testdata/trail-manifest.json differs from the generated manifest" + hint)
	}
	read, err := gentrail.ReadManifest(sampleManifest)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(read, m) {
		t.Fatal("ReadManifest does not give back the manifest")
	}
}

// TestSample checks the committed sample against the manifest with the oracle, and that it
// holds every case marketrail's tests rely on.
func TestSample(t *testing.T) {
	objs := readArchive(t, sampleDir)
	m, err := gentrail.ReadManifest(sampleManifest)
	if err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, objs, m)
	found := marketplaceRecords(objs)

	// Size and layout.
	logs, orgLogs, accountLogs := 0, 0, 0
	accounts, regions, days := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, o := range objs {
		if !o.isLog() {
			continue
		}
		logs++
		if o.org != "" {
			orgLogs++
		} else {
			accountLogs++
		}
		accounts[o.account], regions[o.region], days[o.day] = true, true, true
	}
	if logs < 20 || logs > 60 || orgLogs == 0 || accountLogs == 0 {
		t.Errorf("%d log files (%d organization, %d account): want 20-60, both layouts", logs, orgLogs, accountLogs)
	}
	if len(accounts) < 3 || len(regions) < 2 {
		t.Errorf("%d accounts, %d regions: want at least 3 and 2", len(accounts), len(regions))
	}
	if len(m.Copies) < 100 || len(m.Copies) > 300 {
		t.Errorf("%d Marketplace copies: want 100-300", len(m.Copies))
	}
	if m.Window.From != "2024-03-01" || m.Window.To != "2024-03-03" {
		t.Errorf("window %+v", m.Window)
	}
	inWindow := 0
	for d := range days {
		if d >= m.Window.From && d <= m.Window.To {
			inWindow++
		}
	}
	if inWindow < 3 {
		t.Errorf("%d delivery days in the window: want 3", inWindow)
	}
	noise := 0
	for _, o := range objs {
		if o.isLog() {
			noise += len(o.records)
		}
	}
	if noise -= len(found); 2*noise < 3*len(found) {
		t.Errorf("%d other records for %d Marketplace ones: want plenty of noise", noise, len(found))
	}

	// Every documented shape.
	type pair struct{ source, name string }
	have := map[pair]int{}
	for _, f := range found {
		have[pair{str(f.rec, "eventSource"), str(f.rec, "eventName")}]++
	}
	for _, p := range []pair{
		{"metering-marketplace.amazonaws.com", "BatchMeterUsage"},
		{"metering-marketplace.amazonaws.com", "MeterUsage"},
		{"metering-marketplace.amazonaws.com", "RegisterUsage"},
		{"metering-marketplace.amazonaws.com", "ResolveCustomer"},
		{"agreement-marketplace.amazonaws.com", "AcceptAgreementRequest"},
		{"agreement-marketplace.amazonaws.com", "CancelAgreement"},
		{"agreement-marketplace.amazonaws.com", "DescribeAgreement"},
		{"agreement-marketplace.amazonaws.com", "GetAgreementTerms"},
		{"agreement-marketplace.amazonaws.com", "SearchAgreements"},
		{"marketplacecatalog.amazonaws.com", "StartChangeSet"},
		{"marketplacecatalog.amazonaws.com", "DescribeEntity"},
		{"marketplacecatalog.amazonaws.com", "ListEntities"},
		{"marketplacecatalog.amazonaws.com", "DescribeChangeSet"},
		{"discovery-marketplace.amazonaws.com", "SearchListings"},
		{"discovery-marketplace.amazonaws.com", "GetSearchFacets"},
		{"discovery-marketplace.amazonaws.com", "GetListing"},
		{"deployment-marketplace.amazonaws.com", "PutDeploymentParameter"},
		{"aws-marketplace.amazonaws.com", "Subscribe"},
		{"aws-marketplace.amazonaws.com", "Unsubscribe"},
		{"aws-marketplace.amazonaws.com", "StartChangeSet"},
		{"entitlement.marketplace.amazonaws.com", "GetEntitlements"},
		{"marketplacecommerceanalytics.amazonaws.com", "GenerateDataSet"},
		{"reporting-marketplace.amazonaws.com", "GetBuyerDashboard"},
	} {
		if have[p] == 0 {
			t.Errorf("no %s %s event", p.source, p.name)
		}
	}

	// Variants, recognised from the records themselves.
	variants := map[string]bool{}
	customers, dimensions, products := map[string]bool{}, map[string]bool{}, map[string]bool{}
	changeSetCallers := map[string]bool{}
	for _, f := range found {
		r := f.rec
		req, _ := r["requestParameters"].(map[string]any)
		resp, hasResp := r["responseElements"]
		respObj, _ := resp.(map[string]any)
		switch str(r, "eventName") {
		case "BatchMeterUsage":
			switch {
			case !hasResp:
				variants["BatchMeterUsage without responseElements"] = true
			case resp == nil && str(r, "errorCode") == "ThrottlingException":
				variants["BatchMeterUsage throttled, responseElements null"] = true
			case respObj != nil:
				if un, _ := respObj["unprocessedRecords"].([]any); len(un) > 0 {
					variants["BatchMeterUsage with unprocessedRecords"] = true
				}
				for _, x := range respObj["results"].([]any) {
					variants["BatchMeterUsage status "+str(x, "status")] = true
				}
			}
			// Concurrent Agreements: a licence on every requested record and no productCode,
			// a customer account metered under two licences in one hour, licences in results
			// and unprocessed records, and a failed call.
			licensed, licenses := 0, map[string]map[string]bool{}
			for _, u := range req["usageRecords"].([]any) {
				if lic := str(u, "licenseArn"); lic != "" {
					licensed++
					hour := str(u, "customerAWSAccountId") + " " + str(u, "timestamp")[:strings.Index(str(u, "timestamp"), ":")]
					if licenses[hour] == nil {
						licenses[hour] = map[string]bool{}
					}
					licenses[hour][lic] = true
				}
			}
			if licensed > 0 && licensed == len(req["usageRecords"].([]any)) && str(req, "productCode") == "" {
				variants["BatchMeterUsage with licenseArn on every usage record"] = true
				for _, l := range licenses {
					if len(l) > 1 {
						variants["customer account metered under two licences in one hour"] = true
					}
				}
				if str(r, "errorCode") != "" {
					variants["Concurrent Agreements BatchMeterUsage failed"] = true
				}
				if !hasResp {
					variants["Concurrent Agreements BatchMeterUsage without responseElements"] = true
				}
				if respObj != nil {
					if un, _ := respObj["unprocessedRecords"].([]any); len(un) > 0 && str(un[0], "licenseArn") != "" {
						variants["unprocessed record with licenseArn"] = true
					}
					if res, _ := respObj["results"].([]any); len(res) > 0 && str(res[0], "usageRecord", "licenseArn") != "" {
						variants["result with licenseArn"] = true
					}
				}
			}
			for _, u := range req["usageRecords"].([]any) {
				um := u.(map[string]any)
				if _, ok := um["customerAWSAccountID"]; ok {
					variants["usage record with customerAWSAccountID"] = true
				}
				customers[str(um, "customerIdentifier")+str(um, "customerAWSAccountID")+str(um, "customerAWSAccountId")] = true
				dimensions[str(um, "dimension")] = true
			}
			products[str(req, "productCode")] = true
		case "MeterUsage":
			if req["dryRun"] == true && str(r, "errorCode") == "DryRunOperation" {
				variants["MeterUsage dry run"] = true
			}
		case "RegisterUsage":
			if str(r, "userIdentity", "sessionContext", "webIdFederationData", "federatedProvider") != "" {
				variants["RegisterUsage with webIdFederationData"] = true
			}
		case "ResolveCustomer":
			if str(respObj, "customerIdentifier") != "" && str(respObj, "customerAWSAccountId") != "" && str(respObj, "productCode") != "" {
				variants["ResolveCustomer response"] = true
			}
			if str(respObj, "customerIdentifier") == "" && str(respObj, "customerAWSAccountId") != "" && strings.HasPrefix(str(respObj, "licenseArn"), "arn:aws:license-manager::") {
				variants["ResolveCustomer response with licenseArn"] = true
			}
		case "AcceptAgreementRequest":
			if str(req, "agreementRequestId") != "" && str(respObj, "agreementId") != "" && str(r, "userIdentity", "type") == "Unknown" {
				variants["AcceptAgreementRequest"] = true
			}
		case "CancelAgreement":
			if str(req, "agreementId") != "" && hasResp && resp == nil {
				variants["CancelAgreement"] = true
			}
		case "StartChangeSet":
			if cs, _ := req["changeSet"].([]any); len(cs) > 0 && str(req, "catalog") == "AWSMarketplace" && str(cs[0], "entity", "identifier") != "" && str(respObj, "changeSetArn") != "" {
				variants["StartChangeSet "+str(r, "eventSource")] = true
				changeSetCallers[str(r, "userIdentity", "arn")] = true
			}
		case "GetSearchFacets", "SearchListings", "GetListing":
			if str(r, "userAgent") == "AWS Internal" && hasResp && resp == nil {
				variants["discovery from the console"] = true
			}
		case "PutDeploymentParameter":
			if str(req, "deploymentParameter", "secretString") == "***" && str(req, "agreementId") != "" {
				variants["PutDeploymentParameter"] = true
			}
		case "Subscribe":
			if _, ok := r["eventID"]; !ok && str(r, "eventVersion") == "1.0" {
				variants["legacy 1.0 without eventID"] = true
			}
		}
		if c := manifestCopy(m, f.key, f.index); c != nil && c.UnknownOperation {
			variants["unknown operation"] = true
		}
	}
	for _, v := range []string{
		"BatchMeterUsage without responseElements", "BatchMeterUsage throttled, responseElements null",
		"BatchMeterUsage with unprocessedRecords", "BatchMeterUsage status Success", "BatchMeterUsage status CustomerNotSubscribed",
		"BatchMeterUsage status DuplicateRecord", "usage record with customerAWSAccountID", "MeterUsage dry run",
		"RegisterUsage with webIdFederationData", "ResolveCustomer response", "AcceptAgreementRequest", "CancelAgreement",
		"StartChangeSet marketplacecatalog.amazonaws.com", "StartChangeSet aws-marketplace.amazonaws.com",
		"discovery from the console", "PutDeploymentParameter", "legacy 1.0 without eventID",
		"BatchMeterUsage with licenseArn on every usage record", "customer account metered under two licences in one hour",
		"Concurrent Agreements BatchMeterUsage failed", "Concurrent Agreements BatchMeterUsage without responseElements",
		"unprocessed record with licenseArn", "result with licenseArn", "ResolveCustomer response with licenseArn",
		"unknown operation",
	} {
		if !variants[v] {
			t.Errorf("no %s", v)
		}
	}
	if len(customers) < 3 || len(dimensions) < 3 || len(products) < 2 {
		t.Errorf("metering: %d customers, %d dimensions, %d products: want several", len(customers), len(dimensions), len(products))
	}
	if have[pair{"agreement-marketplace.amazonaws.com", "AcceptAgreementRequest"}] < 2 {
		t.Error("want a few agreements accepted")
	}
	if len(changeSetCallers) < 2 {
		t.Errorf("catalog changes by %d principals: want several", len(changeSetCallers))
	}

	// Special cases, found in the records.
	byID := map[string][]recordCopy{}
	cases := map[string]bool{}
	for _, f := range found {
		id := str(f.rec, "eventID")
		if id == "" {
			cases["Marketplace record without eventID"] = true
			continue
		}
		byID[id] = append(byID[id], f)
		if str(f.rec, "eventTime")[:10] < f.obj.day {
			cases["late event"] = true
			if f.obj.name[len(f.obj.account)+len("_CloudTrail_")+len(f.obj.region)+1:][9:13] < "0010" {
				cases["late event in a file delivered just after midnight"] = true
			}
		}
		if f.obj.day < m.Window.From {
			cases["delivered before the window"] = true
		}
		if f.obj.day > m.Window.To {
			cases["delivered after the window"] = true
		}
		if strings.HasSuffix(f.key, ".json") {
			cases["uncompressed log file"] = true
		}
	}
	for _, cs := range byID {
		for i := range cs {
			for j := range cs {
				a, b := cs[i], cs[j]
				if i == j || !reflect.DeepEqual(a.rec, b.rec) {
					continue
				}
				switch {
				case a.obj.day != b.obj.day:
					cases["duplicate on two delivery days"] = true
				case a.obj.org != "" && b.obj.org == "" && a.obj.account == b.obj.account:
					cases["duplicate in the organization and the account trail"] = true
				case path.Dir(a.key) == path.Dir(b.key):
					cases["duplicate in two files of one folder"] = true
				}
			}
		}
	}
	for _, o := range objs {
		switch {
		case o.folder == "CloudTrail" && !o.isLog():
			cases["non-log object in a day folder: "+path.Ext(o.name)] = true
		case o.folder == "CloudTrail-Digest" && strings.Contains(string(o.data), o.account+"/CloudTrail/") || strings.Contains(string(o.data), "/"+o.account+"/CloudTrail/"):
			cases["digest file"] = true
		case o.folder == "CloudTrail-Insight":
			for _, r := range o.records {
				if str(r, "insightDetails", "eventSource") == "metering-marketplace.amazonaws.com" {
					cases["insight about metering"] = true
				}
				if isMarketplace(r) && str(r, "eventType") == "AwsApiCall" {
					cases["Marketplace API record in an Insights file"] = true
				}
			}
		}
	}
	for _, c := range []string{
		"Marketplace record without eventID", "late event", "late event in a file delivered just after midnight",
		"delivered before the window", "delivered after the window", "uncompressed log file",
		"duplicate on two delivery days", "duplicate in the organization and the account trail", "duplicate in two files of one folder",
		"non-log object in a day folder: .txt", "non-log object in a day folder: .DS_Store", "digest file",
		"insight about metering", "Marketplace API record in an Insights file",
	} {
		if !cases[c] {
			t.Errorf("no %s", c)
		}
	}

	// Decoys in log files, found in the records, listed in the manifest and not copies.
	decoys := map[string]string{} // "key#index" -> kind
	for _, o := range objs {
		if !o.isLog() {
			continue
		}
		for i, r := range o.records {
			req, _ := r["requestParameters"].(map[string]any)
			kind := ""
			switch {
			case str(req, "aWSServiceName") == "license-management.marketplace.amazonaws.com":
				kind = "service-linked role"
			case str(r, "userIdentity", "invokedBy") == "metering-marketplace.amazonaws.com" && str(r, "sourceIPAddress") == "metering-marketplace.amazonaws.com":
				kind = "invoked by metering"
			case str(r, "eventName") == "GetObject" && str(req, "key") == "marketplace/report.csv":
				kind = "S3 key"
			case str(req, "eventPattern", "detail", "eventSource") == "aws-marketplace.amazonaws.com":
				kind = "nested eventSource"
			}
			if kind != "" {
				if isMarketplace(r) {
					t.Errorf("%s[%d]: decoy %s is a Marketplace event", o.key, i, kind)
				}
				decoys[o.key+"#"+itoa(i)] = kind
			}
		}
	}
	listed := map[string]bool{}
	for _, d := range m.Decoys {
		listed[d.SourceKey+"#"+itoa(d.RecordIndex)] = true
	}
	kinds := map[string]bool{}
	for k, kind := range decoys {
		kinds[kind] = true
		if !listed[k] {
			t.Errorf("decoy %s (%s) is not in the manifest", k, kind)
		}
	}
	if len(kinds) != 4 {
		t.Errorf("decoy kinds found: %v, want all 4", kinds)
	}

	exp := m.Expected(m.Window.From, m.Window.To)
	checkExpected(t, found, m)
	t.Logf("sample: %d log files, %d objects, %d copies, %d expected in the window %s..%s, %d decoys",
		logs, len(objs), len(m.Copies), len(exp), m.Window.From, m.Window.To, len(m.Decoys))
}

// checkExpected checks Manifest.Expected against the records as read back from the archive.
func checkExpected(t *testing.T, found []recordCopy, m *gentrail.Manifest) {
	t.Helper()
	// Expected, computed again from the records: per delivery day in the window, one
	// record per eventID, plus every record without one, less the records whose eventID
	// the day before delivered in a file stamped 23:00 or later.
	lastStamp := regexp.MustCompile(`.*(\d{8}T\d{4}Z)`)
	tail := map[string]bool{}
	for _, f := range found {
		st := lastStamp.FindStringSubmatch(path.Base(f.key))
		if st == nil || st[1] >= strings.ReplaceAll(f.obj.day, "-", "")+"T2300Z" {
			tail[f.obj.day+str(f.rec, "eventID")] = true
		}
	}
	seen := map[string]bool{}
	want := 0
	for _, f := range found {
		if f.obj.day < m.Window.From || f.obj.day > m.Window.To {
			continue
		}
		id := str(f.rec, "eventID")
		d, _ := time.Parse(time.DateOnly, f.obj.day)
		if id != "" && tail[d.AddDate(0, 0, -1).Format(time.DateOnly)+id] {
			continue
		}
		if id == "" || !seen[f.obj.day+id] {
			want++
		}
		seen[f.obj.day+id] = id != ""
	}
	if exp := m.Expected(m.Window.From, m.Window.To); len(exp) != want {
		t.Errorf("Expected gives %d events; the records give %d", len(exp), want)
	}
}

// TestOtherConfigs checks archives of other shapes with the oracle: the special cases on a
// larger layout, several files per folder, one region.
func TestOtherConfigs(t *testing.T) {
	withSpecials := gentrail.Large(120)
	withSpecials.Specials = true
	withSpecials.DigestRegions = 2
	perFolder := gentrail.Sample()
	perFolder.Specials = false
	perFolder.Files, perFolder.FilesPerFolder, perFolder.RecordsPerFile = 0, 3, 5
	perFolder.Regions, perFolder.Accounts, perFolder.DigestAccounts = 1, 5, 5
	redelivering := gentrail.Large(200)
	redelivering.Redeliveries = 0.5
	for name, cfg := range map[string]gentrail.Config{"large-specials": withSpecials, "per-folder": perFolder, "redeliveries": redelivering} {
		t.Run(name, func(t *testing.T) {
			dir, m := generate(t, cfg)
			objs := readArchive(t, dir)
			checkConsistent(t, objs, m)
			checkExpected(t, marketplaceRecords(objs), m)
			if name == "redeliveries" {
				n := 0
				for _, c := range m.Copies {
					if slices.Contains(c.Tags, "redelivered") {
						n++
					}
				}
				if n < 10 {
					t.Errorf("%d redelivered copies, want some", n)
				}
			}
			if name == "per-folder" && m.LogFiles() != 3*6*3 { // 3 files x (5 accounts + 1 in both) x 3 days
				t.Errorf("%d log files, want 54", m.LogFiles())
			}
		})
	}
}

func TestExpected(t *testing.T) {
	// Keys: k1, k2 and k3 are stamped before 23:00 on their day; t0 and t1 at or after it;
	// n1 has no stamp (so it counts as tail).
	const (
		k1 = "x_20240301T1000Z_k1.json.gz"
		k2 = "x_20240301T1100Z_k2.json.gz"
		k3 = "x_20240302T0005Z_k3.json.gz"
		k5 = "x_20240303T0001Z_k5.json.gz"
		t0 = "x_20240229T2355Z_t0.json.gz"
		t1 = "x_20240301T2300Z_t1.json.gz"
		n1 = "export-n1.json.gz"
	)
	m := &gentrail.Manifest{Copies: []gentrail.Copy{
		{EventID: "a", DeliveryDay: "2024-03-01", SourceKey: k2, RecordIndex: 0},
		{EventID: "a", DeliveryDay: "2024-03-01", SourceKey: k1, RecordIndex: 5},
		{EventID: "a", DeliveryDay: "2024-03-02", SourceKey: k3, RecordIndex: 1}, // a's copies the day before are not in its tail
		{EventID: "", DeliveryDay: "2024-03-01", SourceKey: k1, RecordIndex: 1},
		{EventID: "", DeliveryDay: "2024-03-01", SourceKey: k2, RecordIndex: 1},
		{EventID: "b", DeliveryDay: "2024-03-04", SourceKey: "k4", RecordIndex: 0},
		{EventID: "c", DeliveryDay: "2024-02-29", SourceKey: t0, RecordIndex: 0}, // outside the window,
		{EventID: "c", DeliveryDay: "2024-03-01", SourceKey: k1, RecordIndex: 7}, // yet its tail drops this
		{EventID: "d", DeliveryDay: "2024-03-01", SourceKey: t1, RecordIndex: 0},
		{EventID: "d", DeliveryDay: "2024-03-02", SourceKey: k3, RecordIndex: 3}, // dropped: in 03-01's tail
		{EventID: "e", DeliveryDay: "2024-03-01", SourceKey: n1, RecordIndex: 0},
		{EventID: "e", DeliveryDay: "2024-03-02", SourceKey: k3, RecordIndex: 4}, // dropped: no stamp is tail
		{EventID: "f", DeliveryDay: "2024-03-01", SourceKey: t1, RecordIndex: 1},
		{EventID: "f", DeliveryDay: "2024-03-03", SourceKey: k5, RecordIndex: 0}, // two days apart: kept
		{EventID: "", DeliveryDay: "2024-03-01", SourceKey: t1, RecordIndex: 2},
		{EventID: "", DeliveryDay: "2024-03-02", SourceKey: k3, RecordIndex: 5}, // no eventID: never dropped
	}}
	got := m.Expected("2024-03-01", "2024-03-03")
	var keys []string
	for _, c := range got {
		keys = append(keys, c.EventID+"@"+c.SourceKey[len(c.SourceKey)-10:len(c.SourceKey)-8]+"#"+itoa(c.RecordIndex))
	}
	want := []string{"e@n1#0", "@k1#1", "a@k1#5", "@k2#1", "d@t1#0", "f@t1#1", "@t1#2", "a@k3#1", "@k3#5", "f@k5#0"}
	if !reflect.DeepEqual(keys, want) {
		t.Fatalf("Expected: %v, want %v", keys, want)
	}
}

func TestGenerateRefusesExistingArchive(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "AWSLogs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := gentrail.Generate(dir, gentrail.Sample()); err == nil {
		t.Fatal("Generate wrote over an existing AWSLogs folder")
	}
	bad := gentrail.Sample()
	bad.Accounts = 2
	if _, err := gentrail.Generate(t.TempDir(), bad); err == nil {
		t.Fatal("Generate accepted specials with 2 accounts")
	}
}

func TestLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("large archive: skipped with -short")
	}
	dir := t.TempDir()
	began := time.Now()
	m, err := gentrail.Generate(dir, gentrail.Large(2000))
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(began)
	if n := m.LogFiles(); n < 2000 || n > 2001 {
		t.Errorf("manifest: %d log files, want 2000 (or 2001)", n)
	}
	// Count the log files on disk, and check every 16th object (by key) with the oracle.
	all := readSome(t, dir, func(string) bool { return false })
	var keys []string
	logs := 0
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		key := filepath.ToSlash(rel)
		keys = append(keys, key)
		if strings.Contains(key, "/CloudTrail/") && strings.HasSuffix(key, ".json.gz") {
			logs++
		}
		return nil
	})
	if err != nil || len(all) != 0 {
		t.Fatal(err, len(all))
	}
	if logs < 2000 {
		t.Errorf("%d log files on disk, want at least 2000", logs)
	}
	if len(keys) != len(m.Objects) {
		t.Errorf("%d files on disk, %d objects in the manifest", len(keys), len(m.Objects))
	}
	sort.Strings(keys)
	checked := map[string]bool{}
	for i, k := range keys {
		if i%16 == 0 {
			checked[k] = true
		}
	}
	sub := &gentrail.Manifest{Window: m.Window}
	for _, c := range m.Copies {
		if checked[c.SourceKey] {
			sub.Copies = append(sub.Copies, c)
		}
	}
	for _, d := range m.Decoys {
		if checked[d.SourceKey] {
			sub.Decoys = append(sub.Decoys, d)
		}
	}
	for _, o := range m.Objects {
		if checked[o.Key] {
			sub.Objects = append(sub.Objects, o)
		}
	}
	checkConsistent(t, readSome(t, dir, func(k string) bool { return checked[k] }), sub)
	t.Logf("Large(2000): %d log files, %d objects, %d copies, made in %s; checked %d objects, %d copies",
		logs, len(keys), len(m.Copies), took.Round(time.Millisecond), len(checked), len(sub.Copies))
}

// manifestCopy returns the manifest's copy at key[index], or nil.
func manifestCopy(m *gentrail.Manifest, key string, index int) *gentrail.Copy {
	for i := range m.Copies {
		if m.Copies[i].SourceKey == key && m.Copies[i].RecordIndex == index {
			return &m.Copies[i]
		}
	}
	return nil
}
