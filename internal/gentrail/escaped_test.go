package gentrail_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/marketrail/marketrail/internal/gentrail"
)

// escapedConfig is a small archive of Large's shape with the escaped noise at its typical
// setting.
func escapedConfig() gentrail.Config {
	cfg := gentrail.Large(120)
	cfg.Days = 2
	cfg.EscapedNoise = gentrail.EscapedNoiseTypical
	return cfg
}

// backslashShare returns the share of backslashes among the bytes of the log files'
// decompressed JSON, and how many records hold a JSON document as text.
func backslashShare(objs map[string]*object) (share float64, docs int) {
	var n, bs int
	for _, o := range objs {
		if !o.isLog() {
			continue
		}
		n += len(o.data)
		bs += bytes.Count(o.data, []byte{'\\'})
		for _, r := range o.records {
			if p, ok := r["requestParameters"].(map[string]any); ok {
				for _, f := range []string{"policyDocument", "assumeRolePolicyDocument", "templateBody", "value", "content", "eventPattern"} {
					if s, ok := p[f].(string); ok && strings.HasPrefix(s, "{") {
						docs++
					}
				}
			}
		}
	}
	return float64(bs) / float64(n), docs
}

// TestEscapedNoise checks that EscapedNoiseTypical gives about 10 % backslashes, that the
// documents carried as text are JSON (some with JSON text inside them in turn), and that the
// Marketplace events and decoys are those of the same archive without escaped noise.
func TestEscapedNoise(t *testing.T) {
	cfg := escapedConfig()
	dir, m := generate(t, cfg)
	objs := readArchive(t, dir)
	checkConsistent(t, objs, m)
	checkExpected(t, marketplaceRecords(objs), m)

	share, docs := backslashShare(objs)
	t.Logf("EscapedNoise %v: %.2f %% backslashes, %d documents as text", cfg.EscapedNoise, 100*share, docs)
	if share < 0.07 || share > 0.13 {
		t.Errorf("%.2f %% backslashes by byte, want 7 to 13 %%", 100*share)
	}
	if docs < 100 {
		t.Errorf("%d documents as text, want many", docs)
	}

	// Every document carried as text is JSON; a template's state machine definition and a
	// parameter's value are JSON text inside it.
	nested := 0
	for _, o := range objs {
		for _, r := range o.records {
			p, _ := r["requestParameters"].(map[string]any)
			for _, f := range []string{"policyDocument", "assumeRolePolicyDocument", "templateBody", "content", "eventPattern"} {
				s, ok := p[f].(string)
				if !ok {
					continue
				}
				var doc map[string]any
				if err := json.Unmarshal([]byte(s), &doc); err != nil {
					t.Fatalf("%s: %s %s: %s is not JSON: %v", o.key, r["eventSource"], r["eventName"], f, err)
				}
				if f != "templateBody" {
					continue
				}
				res, _ := doc["Resources"].(map[string]any)
				props, _ := res["Settings"].(map[string]any)["Properties"].(map[string]any)
				var v map[string]any
				if err := json.Unmarshal([]byte(props["Value"].(string)), &v); err != nil {
					t.Fatalf("%s: a template's parameter value is not JSON: %v", o.key, err)
				}
				nested++
			}
		}
	}
	if nested == 0 {
		t.Error("no template with JSON text inside it")
	}

	// Without escaped noise: the same Marketplace events and decoys, and few backslashes.
	plain := cfg
	plain.EscapedNoise = 0
	pdir, pm := generate(t, plain)
	if len(pm.Copies) != len(m.Copies) || len(pm.Decoys) != len(m.Decoys) {
		t.Fatalf("%d copies and %d decoys without escaped noise, %d and %d with it", len(pm.Copies), len(pm.Decoys), len(m.Copies), len(m.Decoys))
	}
	for i := range m.Copies {
		a, _ := json.Marshal(m.Copies[i])
		b, _ := json.Marshal(pm.Copies[i])
		if !bytes.Equal(a, b) {
			t.Fatalf("copy %d differs with escaped noise:\n%s\n%s", i, a, b)
		}
	}
	for i := range m.Decoys {
		a, _ := json.Marshal(m.Decoys[i])
		b, _ := json.Marshal(pm.Decoys[i])
		if !bytes.Equal(a, b) {
			t.Fatalf("decoy %d differs with escaped noise:\n%s\n%s", i, a, b)
		}
	}
	if s, _ := backslashShare(readArchive(t, pdir)); s > 0.01 {
		t.Errorf("%.2f %% backslashes without escaped noise, want almost none", 100*s)
	}
}

func TestEscapedNoiseValidated(t *testing.T) {
	for _, v := range []float64{-0.1, 1.5} {
		cfg := gentrail.Large(10)
		cfg.EscapedNoise = v
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "EscapedNoise") {
			t.Errorf("EscapedNoise %v: %v, want an error naming it", v, err)
		}
	}
}
