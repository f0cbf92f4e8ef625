package marketplace

import (
	"bufio"
	"bytes"
	"encoding/json"
	stdflag "flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var updateGolden = stdflag.Bool("update-golden", false, "rewrite testdata/golden/rows.jsonl with what Decode makes now (after bumping DecoderVersion)")

// The golden corpus: a fixed set of records (two of each operation and error of the sample
// trail's Marketplace records, and the decoder's corner cases, as they were when it was made; never regenerated, so that a new
// sample does not move it), one Go-quoted string per line, and the rows Decode made of each.
const (
	goldenRecords = "testdata/golden/records.txt"
	goldenRows    = "testdata/golden/rows.jsonl"
)

// goldenRow is what Decode makes of one record, as the golden file keeps it.
type goldenRow struct {
	Error string `json:"error,omitempty"`
	Event *Event `json:"event,omitempty"`
}

// TestDecoderGolden pins DecoderVersion to what Decode makes of the golden corpus. Day
// manifests record DecoderVersion, so days written by an older decoder are written again;
// a change to Decode that does not bump it would leave them as they were. When this test
// fails, bump DecoderVersion and run
//
//	go test ./pkg/marketplace -run TestDecoderGolden -update-golden
func TestDecoderGolden(t *testing.T) {
	recs := readGoldenRecords(t)
	var got []string
	for i, rec := range recs {
		var g goldenRow
		ev, err := Decode(rec, "golden", i)
		if err != nil {
			g.Error = err.Error()
		} else {
			g.Event = &ev
		}
		b, err := json.Marshal(g)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		got = append(got, string(b))
	}
	header := fmt.Sprintf(`{"decoder_version":%d}`, DecoderVersion)
	if *updateGolden {
		out := header + "\n" + strings.Join(got, "\n") + "\n"
		if err := os.WriteFile(goldenRows, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	b, err := os.ReadFile(goldenRows)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	const fix = "go test ./pkg/marketplace -run TestDecoderGolden -update-golden"
	if lines[0] != header {
		t.Fatalf("DecoderVersion is %d, the golden rows say %s: if Decode's output changed on purpose, run %s", DecoderVersion, lines[0], fix)
	}
	if len(lines)-1 != len(got) {
		t.Fatalf("%d golden rows for %d records", len(lines)-1, len(got))
	}
	changed := 0
	for i, g := range got {
		if lines[i+1] != g {
			if changed < 3 {
				t.Errorf("record %d: Decode makes\n  %s\nwhere version %d made\n  %s", i, g, DecoderVersion, lines[i+1])
			}
			changed++
		}
	}
	if changed > 0 {
		t.Fatalf("Decode's output changed for %d of %d golden records: bump DecoderVersion (so lakes written by the old decoder are written again) and run %s", changed, len(got), fix)
	}
}

// readGoldenRecords reads the golden corpus; with -update-golden, it first makes the corpus
// if it does not exist yet.
func readGoldenRecords(t *testing.T) [][]byte {
	t.Helper()
	if _, err := os.Stat(goldenRecords); os.IsNotExist(err) && *updateGolden {
		var b bytes.Buffer
		// Two records of each operation of the sample (its every shape), and the corner cases.
		var recs [][]byte
		seen := map[string]int{}
		for _, r := range sampleRecords(t) {
			var h struct{ EventSource, EventName, ErrorCode string }
			json.Unmarshal(r, &h)
			if k := h.EventSource + h.EventName + h.ErrorCode; seen[k] < 2 {
				seen[k]++
				recs = append(recs, r)
			}
		}
		for _, c := range referenceCases {
			recs = append(recs, []byte(c))
		}
		for _, r := range recs {
			b.WriteString(strconv.Quote(string(r)) + "\n")
		}
		if err := os.MkdirAll(filepath.Dir(goldenRecords), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goldenRecords, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Open(goldenRecords)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var recs [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		s, err := strconv.Unquote(sc.Text())
		if err != nil {
			t.Fatalf("%s: %v", goldenRecords, err)
		}
		recs = append(recs, []byte(s))
	}
	if err := sc.Err(); err != nil || len(recs) < 50 {
		t.Fatalf("%s: %d records (%v)", goldenRecords, len(recs), err)
	}
	return recs
}
