package pipeline_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/marketrail/marketrail/pkg/lake"
	"github.com/marketrail/marketrail/pkg/report"
	"github.com/marketrail/marketrail/pkg/trail"
)

// Kinds of huge record writeHugeArchive writes (see hugeRecordHead).
const (
	hugeLate    = "late"    // a whole StartChangeSet event whose eventTime is after the day after its delivery day: decoded, then quarantined
	hugeInvalid = "invalid" // a StartChangeSet event with a raw control byte in a string: not JSON, quarantined
	hugeOther   = "other"   // an S3 event: not selected, never decoded
	hugeRow     = "row"     // a StartChangeSet event that becomes a row
)

// hugeAccount is the account of writeHugeArchive's trail.
const hugeAccount = "123456789012"

// hugeRecordHead returns the text of a huge record of the given kind up to its payload, the
// payload's first bytes, and the text after the payload: the record is head, then the
// payload's filler, then tail. Its eventID is huge-i.
func hugeRecordHead(kind string, day trail.Day, i int) (head, tail string) {
	when := day.String() + "T01:00:00Z"
	source, name := "marketplacecatalog.amazonaws.com", "StartChangeSet"
	switch kind {
	case hugeLate:
		when = day.AddDays(3).String() + "T01:00:00Z"
	case hugeOther:
		source, name = "s3.amazonaws.com", "PutObject"
	}
	head = `{"eventVersion":"1.08","userIdentity":{"type":"AssumedRole","accountId":"` + hugeAccount + `"},"eventTime":"` + when +
		`","eventSource":"` + source + `","eventName":"` + name + `","awsRegion":"us-east-1","sourceIPAddress":"192.0.2.1","userAgent":"aws-cli/2",` +
		`"requestParameters":{"catalog":"AWSMarketplace","changeSet":[{"changeType":"UpdateInformation","entity":{"type":"SaaSProduct@1.0","identifier":"prod-huge` +
		fmt.Sprint(i) + `"},"details":"`
	if kind == hugeInvalid {
		head += "\x01"
	}
	tail = `"}]},"responseElements":null,"requestID":"req-huge` + fmt.Sprint(i) + `","eventID":"huge-` + fmt.Sprint(i) +
		`","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"` + hugeAccount + `","eventCategory":"Management"}`
	return head, tail
}

// writeHugeArchive writes, under dir/AWSLogs, one log file per kind in kinds, all of delivery
// day `day`, each {"Records":[one record of about mib MiB]}: a hostile archive whose records
// a worker must buffer whole (they are under the scanner's 64 MiB limit). The payload is a
// JSON string of filler text, written as repeated gzip members (gzip concatenates them), so
// writing even 16 files of 60 MiB takes about a second. It returns the SHA-256 of each
// record's text, in the order of kinds (which is the order of the files' keys).
func writeHugeArchive(t testing.TB, dir string, day trail.Day, mib int, kinds []string) [][]byte {
	t.Helper()
	folder := filepath.Join(dir, "AWSLogs", hugeAccount, "CloudTrail", "us-east-1", filepath.FromSlash(day.Path()))
	if err := os.MkdirAll(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	member := func(s string) []byte { return gzipMember(t, s) }
	// 1 MiB of filler: text that is not one byte repeated, so it is not trivially small.
	var fill strings.Builder
	for fill.Len() < 1<<20 {
		fmt.Fprintf(&fill, "usage-dimension-%07d ", fill.Len())
	}
	filler := member(fill.String()[:1<<20])
	stamp := strings.ReplaceAll(day.String(), "-", "")
	var sums [][]byte
	for i, kind := range kinds {
		head, tail := hugeRecordHead(kind, day, i)
		h := sha256.New()
		io.WriteString(h, head)
		for range mib {
			io.WriteString(h, fill.String()[:1<<20])
		}
		io.WriteString(h, tail)
		sums = append(sums, h.Sum(nil))
		name := fmt.Sprintf("%s_CloudTrail_us-east-1_%sT%02d%02dZ_huge%02d.json.gz", hugeAccount, stamp, i/4, (i%4)*15, i)
		f, err := os.Create(filepath.Join(folder, name))
		if err != nil {
			t.Fatal(err)
		}
		w := bufio.NewWriter(f)
		w.Write(member(`{"Records":[` + head))
		for range mib {
			w.Write(filler)
		}
		w.Write(member(tail + "]}"))
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return sums
}

// TestWriteHugeArchive writes the archive of TestHugeRecordsMemory to the folder named by
// $MARKETRAIL_HUGE_ARCHIVE, for measuring by hand (docs/operations.md, Memory);
// $MARKETRAIL_HUGE_KINDS lists the kinds of the 16 records, comma-separated (default:
// the test's). Without the variable it does nothing.
func TestWriteHugeArchive(t *testing.T) {
	dir := os.Getenv("MARKETRAIL_HUGE_ARCHIVE")
	if dir == "" {
		t.Skip("MARKETRAIL_HUGE_ARCHIVE not set")
	}
	kinds := hugeKinds
	if k := os.Getenv("MARKETRAIL_HUGE_KINDS"); k != "" {
		kinds = strings.Split(k, ",")
		for len(kinds) < 16 {
			kinds = append(kinds, kinds...)
		}
		kinds = kinds[:16]
	}
	writeHugeArchive(t, dir, hugeDay, 60, kinds)
}

// hugeDay is the delivery day of TestHugeRecordsMemory's archive.
var hugeDay = trail.Day{Year: 2024, Month: 3, Dom: 1}

// hugeKinds are the records of TestHugeRecordsMemory's 16 log files: Marketplace records
// that are quarantined, some after a full decode, and records of another service.
var hugeKinds = []string{
	hugeLate, hugeInvalid, hugeOther, hugeLate, hugeInvalid, hugeLate, hugeInvalid, hugeOther,
	hugeLate, hugeInvalid, hugeLate, hugeInvalid, hugeOther, hugeLate, hugeInvalid, hugeOther,
}

// hugeMemoryLimit is what TestHugeRecordsMemory allows the run's peak resident memory: the
// memory limit of the nightly CronJob example (docs/examples/cronjob-nightly.yaml).
const hugeMemoryLimit = 512 << 20

// TestHugeRecordsMemory: 16 log files of one 60 MiB record each, read at default settings
// (as many workers as on any machine of 2 cores or fewer) by the marketrail binary: its peak
// resident memory stays under 512 MiB (it was 1.7 to 2 GiB before the memory budget), and
// every record is quarantined or skipped exactly as it would be alone: each quarantined
// record is a line of the quarantine file, byte for byte, in key order.
func TestHugeRecordsMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: writes 100 MB and reads 1 GB of JSON")
	}
	bin := buildMeasured(t)
	src, dest, scratch := t.TempDir(), t.TempDir(), t.TempDir()
	sums := writeHugeArchive(t, src, hugeDay, 60, hugeKinds)

	// GOMAXPROCS=2 (in measuredRun): the default pool of 8 workers (the machine),
	// whatever this one has.
	rep, kb := measuredRun(t, bin, scratch, src, dest, hugeDay.String(), hugeDay.String())
	t.Logf("peak resident memory: %d MiB", kb>>10)
	if kb<<10 > hugeMemoryLimit {
		t.Errorf("peak resident memory %d MiB, want at most %d MiB", kb>>10, hugeMemoryLimit>>20)
	}

	var wantQ []int
	for i, k := range hugeKinds {
		if k != hugeOther {
			wantQ = append(wantQ, i)
		}
	}
	if rep.ExitCode != report.ExitOK || len(rep.Days) != 1 {
		t.Fatalf("exit %d, %d days; want 0, 1", rep.ExitCode, len(rep.Days))
	}
	d := rep.Days[0]
	if d.LogFilesRead != 16 || d.RecordsScanned != 16 || d.EventsMatched != int64(len(wantQ)) || d.RecordsQuarantined != int64(len(wantQ)) ||
		len(d.RecordsSkipped) != 0 || d.ObjectsFailed != 0 {
		t.Errorf("day %s: %d files read, %d records, %d matched, %d quarantined, skipped %v, %d failed; want 16, 16, %d, %d, none, 0",
			d.DeliveryDay, d.LogFilesRead, d.RecordsScanned, d.EventsMatched, d.RecordsQuarantined, d.RecordsSkipped, d.ObjectsFailed, len(wantQ), len(wantQ))
	}
	for i, q := range d.Quarantined {
		want := "after the day after its delivery day"
		if i < len(wantQ) && hugeKinds[wantQ[i]] == hugeInvalid {
			want = "invalid character"
		}
		if i >= len(wantQ) || !strings.Contains(q.Key, fmt.Sprintf("_huge%02d.json.gz", wantQ[i])) || !strings.Contains(q.Reason, want) {
			t.Errorf("quarantined %d: %s: %s; want file %d, %q", i, q.Key, q.Reason, wantQ[i], want)
		}
	}
	// The quarantine file: each quarantined record's exact text, one per line.
	f, err := os.Open(filepath.Join(dest, filepath.FromSlash(lake.QuarantineKey(hugeDay))))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewReader(zr)
	for n := 0; ; n++ {
		h := sha256.New()
		for {
			chunk, err := lines.ReadSlice('\n')
			if err == bufio.ErrBufferFull {
				h.Write(chunk)
				continue
			}
			if err == io.EOF && len(chunk) == 0 {
				if n != len(wantQ) {
					t.Errorf("the quarantine file has %d lines, want %d", n, len(wantQ))
				}
				if left, _ := os.ReadDir(scratch); len(left) != 0 {
					t.Errorf("the run left %d temporary files behind, %s first", len(left), left[0].Name())
				}
				return
			}
			if err != nil {
				t.Fatalf("line %d of the quarantine file: %v", n, err)
			}
			h.Write(chunk[:len(chunk)-1])
			break
		}
		if n >= len(wantQ) || !bytes.Equal(h.Sum(nil), sums[wantQ[n]]) {
			t.Errorf("line %d of the quarantine file is not the record of file %d", n, wantQ[min(n, len(wantQ)-1)])
		}
	}
}

// tail returns the last n bytes of s.
func tail(s string, n int) string { return s[max(0, len(s)-n):] }

// buildMeasured builds marketrail and perftable's rsswrap (which reports a command's peak
// resident memory) into a temporary folder, and returns it.
func buildMeasured(t *testing.T) string {
	t.Helper()
	bin := t.TempDir()
	for _, cmd := range []string{"marketrail", "perftable/rsswrap"} {
		out, err := exec.Command("go", "build", "-o", bin, "../../cmd/"+cmd).CombinedOutput()
		if err != nil {
			t.Fatalf("go build %s: %v\n%s", cmd, err, out)
		}
	}
	return bin
}

// measuredRun runs the marketrail binary of bin (buildMeasured) from src to dest over the
// delivery days from to to, with $TMPDIR scratch, GOMAXPROCS=2 and the Go runtime's memory
// settings at their defaults, under rsswrap; it returns the run's summary and its peak
// resident memory in KiB. The run must exit (its status is the summary's to check).
func measuredRun(t *testing.T, bin, scratch, src, dest, from, to string) (report.Report, int64) {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, "rsswrap"), filepath.Join(bin, "marketrail"), "run", "--source", src, "--dest", dest,
		"--from", from, "--to", to, "--progress", "off")
	cmd.Env = append(os.Environ(), "TMPDIR="+scratch, "GOMAXPROCS=2", "GOMEMLIMIT=", "GOGC=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("marketrail run: %v\n%s", err, tail(stderr.String(), 2000))
	}
	m := regexp.MustCompile(`rsswrap-maxrss-kb: (\d+)`).FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("no peak memory in the output:\n%s", tail(stderr.String(), 2000))
	}
	kb, _ := strconv.ParseInt(m[1], 10, 64)
	var rep report.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("summary: %v\n%s", err, tail(stdout.String(), 2000))
	}
	return rep, kb
}
