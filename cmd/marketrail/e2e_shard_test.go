package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"testing"

	"github.com/marketrail/marketrail/internal/gentrail"
	"github.com/marketrail/marketrail/internal/s3test"
)

// TestShardsAsProcesses runs three shards at once, as separate processes writing to one
// destination on the S3 server (the shard index from JOB_COMPLETION_INDEX, as a Kubernetes
// Indexed Job sets it), and checks their union is one unsharded run, file for file and row
// for row, with each day done by exactly one shard.
func TestShardsAsProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	c, srv := s3test.Client(t)
	bucket := s3test.Bucket(t, c)
	cfg := gentrail.Large(200)
	dir, m := generate(t, cfg)
	upload(t, c, dir, bucket, "logs/")
	args := func(dest string, extra ...string) []string {
		return append([]string{"run", "--source", "s3://" + bucket + "/logs", "--dest", "s3://" + bucket + "/" + dest,
			"--from", m.Window.From, "--to", m.Window.To}, extra...)
	}
	if r := marketrail(t, srv.Env(), args("whole")...); r.code != 0 {
		t.Fatalf("unsharded run: exit %d\n%s", r.code, r.stderr)
	}
	var cmds []*exec.Cmd
	var outs []*bytes.Buffer
	for i := range 3 {
		cmd := exec.Command(binary, args("sharded", "--shards", "3")...)
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "JOB_COMPLETION_INDEX=" + strconv.Itoa(i)}, srv.Env()...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, outs = append(cmds, cmd), append(outs, &out)
	}
	days := map[string]string{}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("shard %d: %v", i, err)
		}
		var rep struct {
			Shard string `json:"shard"`
			Days  []struct {
				DeliveryDay string `json:"delivery_day"`
			} `json:"days"`
		}
		if err := json.Unmarshal(outs[i].Bytes(), &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Shard != fmt.Sprintf("%d/3", i) || len(rep.Days) == 0 {
			t.Errorf("shard %d reports shard %q and %d days", i, rep.Shard, len(rep.Days))
		}
		for _, d := range rep.Days {
			if other, dup := days[d.DeliveryDay]; dup {
				t.Errorf("day %s done by shards %s and %d", d.DeliveryDay, other, i)
			}
			days[d.DeliveryDay] = strconv.Itoa(i)
		}
	}
	if len(days) != cfg.Days {
		t.Errorf("the shards did %d days, want %d", len(days), cfg.Days)
	}
	whole, sharded := download(t, c, bucket, "whole/"), download(t, c, bucket, "sharded/")
	if !slices.Equal(parquetFiles(t, whole), parquetFiles(t, sharded)) {
		t.Errorf("the shards wrote other files than one run")
	}
	wantRows, wantFull := written(t, whole)
	gotRows, gotFull := written(t, sharded)
	diff(t, "union of shards", gotRows, wantRows)
	if !slices.Equal(gotFull, wantFull) {
		t.Errorf("the shards wrote other rows than one run")
	}
	diff(t, "unsharded", wantRows, m.expected(m.Window.From, m.Window.To))
}

// TestDryRunWritesNothing: --dry-run through the binary lists the window and writes nothing,
// not even the destination marker.
func TestDryRunWritesNothing(t *testing.T) {
	m := readManifest(t, sampleManifest)
	dest := t.TempDir()
	r := marketrail(t, nil, "run", "--dry-run", "--source", sampleTrail, "--dest", dest, "--from", m.Window.From, "--to", m.Window.To)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if ents, _ := os.ReadDir(dest); len(ents) != 0 {
		t.Errorf("a dry run wrote into the destination")
	}
	rep := runReport(t, r)
	if rep["dry_run"] != true || rep["days_planned"].(float64) != 3 || totals(rep)["planned_reads"].(float64) == 0 {
		t.Errorf("dry-run summary: %v", r.stdout)
	}
}
