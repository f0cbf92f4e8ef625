package extract

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// randDoc builds random, valid JSON for the randomized tests: nested objects and arrays,
// strings full of escapes (runs of backslashes, escaped quotes, brackets, \u escapes,
// non-ASCII), numbers and literals, with random white space, so that record boundaries fall
// anywhere relative to the Scanner's 64-byte blocks and buffer refills.
type randDoc struct {
	rng *rand.Rand
	b   []byte
}

func (d *randDoc) space() {
	for d.rng.IntN(4) == 0 {
		d.b = append(d.b, " \n\t\r"[d.rng.IntN(4)])
	}
}

func (d *randDoc) str() {
	d.b = append(d.b, '"')
	for n := d.rng.IntN(40); n > 0; n-- {
		switch d.rng.IntN(12) {
		case 0:
			d.b = append(d.b, strings.Repeat(`\\`, 1+d.rng.IntN(3))...)
		case 1:
			d.b = append(d.b, `\"`...)
		case 2:
			d.b = append(d.b, "{}[],:"[d.rng.IntN(6)])
		case 3:
			d.b = fmt.Appendf(d.b, `\u%04x`, d.rng.IntN(0x10000))
		case 4:
			d.b = append(d.b, "é✓😀"...)
		case 5:
			d.b = append(d.b, `\n\t\/`...)
		default:
			d.b = append(d.b, byte('a'+d.rng.IntN(26)))
		}
	}
	d.b = append(d.b, '"')
}

func (d *randDoc) value(depth int) {
	switch k := d.rng.IntN(10); {
	case k < 2 && depth < 12:
		d.object(depth + 1)
	case k < 3 && depth < 12:
		d.b = append(d.b, '[')
		for i, n := 0, d.rng.IntN(5); i < n; i++ {
			if i > 0 {
				d.b = append(d.b, ',')
			}
			d.space()
			d.value(depth + 1)
			d.space()
		}
		d.b = append(d.b, ']')
	case k < 7:
		d.str()
	case k < 8:
		d.b = fmt.Appendf(d.b, "%g", d.rng.NormFloat64()*1e6)
	default:
		d.b = append(d.b, []string{"true", "false", "null", "-0", "12e-3"}[d.rng.IntN(5)]...)
	}
}

func (d *randDoc) object(depth int) {
	d.b = append(d.b, '{')
	for i, n := 0, d.rng.IntN(8); i < n; i++ {
		if i > 0 {
			d.b = append(d.b, ',')
		}
		d.space()
		d.str()
		d.space()
		d.b = append(d.b, ':')
		d.space()
		d.value(depth)
		d.space()
	}
	d.b = append(d.b, '}')
}

// container wraps n random records in one of the three container forms.
func (d *randDoc) container(form, n int) {
	d.space()
	switch form {
	case 0:
		d.b = append(d.b, `{"Records":`...)
		d.space()
		d.b = append(d.b, '[')
	case 1:
		d.b = append(d.b, '[')
	}
	for i := range n {
		if i > 0 && form != 2 {
			d.b = append(d.b, ',')
		}
		d.space()
		d.object(0)
		d.space()
		if form == 2 {
			d.b = append(d.b, '\n')
		}
	}
	switch form {
	case 0:
		d.b = append(d.b, `],"extra":`...)
		d.value(0)
		d.b = append(d.b, '}')
	case 1:
		d.b = append(d.b, ']')
	}
	d.space()
}

// TestScannerRandomDocs compares the Scanner with encoding/json on random documents, read in
// several ways, and checks that every truncation of a {"Records":[...]} or [...] file is
// reported as truncated.
func TestScannerRandomDocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	s := NewScanner(nil)
	for iter := range 300 {
		d := &randDoc{rng: rng}
		form := iter % 3
		d.container(form, 1+rng.IntN(6))
		want, err := jsonRecords(d.b)
		if err != nil {
			t.Fatalf("encoding/json rejects the generated document: %v\n%s", err, d.b)
		}
		for _, rc := range readerCases {
			got, err := scanAll(newTestScanner(rc.buf), rc.open(t, d.b))
			if err != nil {
				t.Fatalf("%s: %v\n%s", rc.name, err, d.b)
			}
			if diff := sameRecords(got, want); diff != "" {
				t.Fatalf("%s: %s\n%s", rc.name, diff, d.b)
			}
		}
		if form == 2 {
			continue
		}
		start := bytes.IndexAny(d.b, "{[") + 1
		end := bytes.LastIndexAny(d.b, "}]")
		for range 30 {
			cut := start + rng.IntN(end-start)
			_, err := scanAll(s, bytes.NewReader(d.b[:cut]))
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("cut at %d: error %v, want one wrapping io.ErrUnexpectedEOF\n%s", cut, err, d.b[:cut])
			}
		}
	}
}
