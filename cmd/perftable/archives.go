package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/marketrail/marketrail/internal/gentrail"
)

// largeConfig is the archive of large log files: a busy account's files of about 3 MB of
// JSON, 1% of their records Marketplace events, compressed at gzip's default level as
// CloudTrail's are.
func largeConfig(quick bool) gentrail.Config {
	c := gentrail.Large(200)
	c.RecordsPerFile = 2500
	if quick {
		c.Files, c.RecordsPerFile = 8, 200
	}
	c.MarketplaceRatio = 0.01
	c.FastGzip = false
	return c
}

// escapedConfig is the archive of large log files whose JSON is about 10 % backslashes:
// largeConfig's, with noise records that log policy documents, templates and settings as
// JSON text (gentrail's EscapedNoise), as a trail busy with IAM, CloudFormation, SSM and
// Lambda calls carries them. Its Marketplace events are largeConfig's.
func escapedConfig(quick bool) gentrail.Config {
	c := largeConfig(quick)
	c.EscapedNoise = gentrail.EscapedNoiseTypical
	return c
}

// tinyConfig is the archive of many tiny objects: about 2 KB of gzip and 5 records each,
// as quiet accounts deliver them.
func tinyConfig(quick bool) gentrail.Config {
	c := gentrail.Large(2000)
	if quick {
		c.Files = 40
	}
	c.RecordsPerFile = 5
	c.FastGzip = false
	return c
}

// trailArchive is a generated archive and what the manifest says of it.
type trailArchive struct {
	dir       string
	from, to  string
	logFiles  []string // paths of the log files (gzipped JSON), sorted
	gzBytes   int64
	jsonBytes int64
	records   int
	copies    int      // Marketplace record copies
	eventIDs  []string // the distinct eventIDs of the copies, sorted
	cfg       gentrail.Config
}

// archive generates cfg into dir, or reuses what an earlier run generated there from the
// same configuration.
func archive(cfg gentrail.Config, dir string) (*trailArchive, error) {
	manifest := dir + ".manifest.json"
	m, err := gentrail.ReadManifest(manifest)
	if err != nil || !sameConfig(m.Config, cfg) {
		logf("generating %s", dir)
		os.RemoveAll(dir)
		began := time.Now()
		if m, err = gentrail.Generate(dir, cfg); err != nil {
			return nil, err
		}
		if err := m.WriteFile(manifest); err != nil {
			return nil, err
		}
		logf("generated %d objects in %s", len(m.Objects), time.Since(began).Round(time.Millisecond))
	}
	a := &trailArchive{dir: dir, from: m.Window.From, to: m.Window.To, copies: len(m.Copies), eventIDs: manifestIDs(m), cfg: cfg}
	for _, o := range m.Objects {
		if o.Kind != gentrail.KindLog || o.DeliveryDay < a.from || o.DeliveryDay > a.to {
			continue
		}
		p := filepath.Join(dir, filepath.FromSlash(o.Key))
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("archive %s is incomplete: %w", dir, err)
		}
		a.logFiles = append(a.logFiles, p)
		a.gzBytes += st.Size()
		a.jsonBytes += int64(o.Bytes)
		a.records += o.Records
	}
	return a, nil
}

func sameConfig(a, b gentrail.Config) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// build builds a command of the repository as a user would (CGO_ENABLED=0, trimmed) into
// work and returns its path.
func build(ctx context.Context, work, pkg string) (string, error) {
	return buildTagged(ctx, work, pkg, filepath.Base(pkg), "")
}

// buildTagged is build with build tags (go build -tags, "" for none) into work/name: -only
// hive-build builds marketrail a second time with -tags noiceberg, under a name of its own.
func buildTagged(ctx context.Context, work, pkg, name, tags string) (string, error) {
	bin := filepath.Join(work, name)
	args := []string{"build", "-trimpath", "-o", bin}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	cmd := exec.CommandContext(ctx, "go", append(args, pkg)...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Dir = moduleRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build %s (tags %q): %v\n%s", pkg, tags, err, out)
	}
	return bin, nil
}

// moduleRoot is the repository's root: the folder above cmd/perftable when run with go run
// from anywhere in it, found by go env GOMOD.
func moduleRoot() string {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "."
	}
	return filepath.Dir(string(trimNL(out)))
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
