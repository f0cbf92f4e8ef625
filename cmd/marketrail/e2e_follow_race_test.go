package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/marketrail/marketrail/internal/sqstest"
)

// TestFollowBesideNightlyRun: follow draining the queue while a nightly run writes the same
// days into the same destination, again and again, always ends with the tables of one run,
// which a run afterwards finds unchanged. The two take turns on each day through its lease.
func TestFollowBesideNightlyRun(t *testing.T) {
	rounds := 4
	if testing.Short() {
		rounds = 1
	}
	fx := newFollowFixture(t)
	fx.run(t, "reference")
	for i := range rounds {
		prefix := fmt.Sprintf("lake%d", i)
		announceAll(t, fx.qc, fx.queueURL, fx.bucket, "logs/", fx.keys)
		f := fx.follow(t, prefix)
		// The nightly run starts a little after follow, at a different moment each round.
		time.Sleep(time.Duration(i) * 300 * time.Millisecond)
		fx.run(t, prefix)
		drained(t, fx.qc, fx.queueURL, f, time.Minute)
		if code := f.stop(t); code != 0 {
			t.Fatalf("round %d: follow exited %d\n%s", i, code, f.log())
		}
		fx.run(t, prefix) // a day the first run found held is written now
		sameLakes(t, fx.sc, fx.bucket, prefix+"/", "reference/")
		fx.unchanged(t, prefix)
	}
}

// TestFollowLateSmallerKey: a log file announced late whose key sorts before the copy of an
// event already published makes its copy the one kept, as in a run over the same files.
func TestFollowLateSmallerKey(t *testing.T) {
	fx := newFollowFixture(t)
	announceAll(t, fx.qc, fx.queueURL, fx.bucket, "logs/", fx.keys)
	f := fx.follow(t, "follow")
	drained(t, fx.qc, fx.queueURL, f, time.Minute)

	// A copy of a log file of the window's second day holding Marketplace events, named
	// with the day's first minute: its events' copies now sort first.
	m := readManifest(t, sampleManifest)
	var orig string
	for _, c := range m.Copies {
		if c.DeliveryDay > fx.from && strings.HasSuffix(c.SourceKey, ".json.gz") {
			orig = c.SourceKey
			break
		}
	}
	if orig == "" {
		t.Fatal("the sample has no Marketplace event after its first day")
	}
	dir, name := path.Split(orig)
	parts := strings.Split(name, "_") // ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHMMZ_RANDOM.json.gz
	if len(parts) < 5 || len(parts[3]) != len("20240301T0000Z") {
		t.Fatalf("%s is not named as CloudTrail names its files", orig)
	}
	parts[3] = parts[3][:9] + "0000Z"
	late := dir + strings.Join(parts, "_")
	if late >= orig {
		t.Fatalf("the late copy %s does not sort before %s", late, orig)
	}
	b, err := os.ReadFile(filepath.Join(sampleTrail, filepath.FromSlash(orig)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fx.sc.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &fx.bucket, Key: aws.String("logs/" + late), Body: strings.NewReader(string(b))}); err != nil {
		t.Fatal(err)
	}
	sqstest.Send(t, fx.qc, fx.queueURL, s3Event(fx.bucket, "logs/"+late))
	drained(t, fx.qc, fx.queueURL, f, time.Minute)
	if code := f.stop(t); code != 0 {
		t.Fatalf("follow exited %d\n%s", code, f.log())
	}
	fx.run(t, "reference")
	got := sameLakes(t, fx.sc, fx.bucket, "follow/", "reference/")
	moved := 0
	for _, r := range got {
		if strings.HasSuffix(r, "| "+late) {
			moved++
		}
	}
	if moved == 0 {
		t.Errorf("no row comes from the late copy %s: the earlier copies still win", late)
	}
	fx.unchanged(t, "follow")
}

// TestFollowKilled: follow killed (SIGKILL) at the lake's dangerous moments and at random
// moments of its batches, then started again on the same queue, loses nothing and doubles
// nothing: the tables are those of one run, which a run afterwards finds unchanged.
func TestFollowKilled(t *testing.T) {
	points := []string{"upload:1", "upload:3", "published:1", "published:4", "between-days:2", "random", "random", "random"}
	if testing.Short() {
		points = points[:2]
	}
	fx := newFollowFixture(t)
	fx.run(t, "reference")
	for i, point := range points {
		prefix := fmt.Sprintf("lake%d", i)
		announceAll(t, fx.qc, fx.queueURL, fx.bucket, "logs/", fx.keys)
		var f *follower
		if point == "random" {
			f = fx.follow(t, prefix)
			time.Sleep(time.Duration(rand.IntN(2500)) * time.Millisecond)
			f.cmd.Process.Signal(syscall.SIGKILL)
			f.cmd.Wait()
		} else {
			f = fx.follow(t, prefix, crashEnv+"="+point)
			if err := f.cmd.Wait(); err == nil || f.cmd.ProcessState.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("%s: follow was not killed at its crash point (%v)\n%s", point, err, f.log())
			}
		}
		again := fx.follow(t, prefix)
		drained(t, fx.qc, fx.queueURL, again, 2*time.Minute)
		if code := again.stop(t); code != 0 {
			t.Fatalf("%s: follow exited %d (%v)\n%s", point, code, again.cmd.ProcessState, again.log())
		}
		sameLakes(t, fx.sc, fx.bucket, prefix+"/", "reference/")
		fx.unchanged(t, prefix)
	}
}

// TestFollowLostNotification: two log files of a day written before arrive, and the
// notification of one of them is lost; follow publishes the day with the other, and the
// nightly run afterwards finds the day's listing different from its manifest, reads it again,
// and the tables end as one run's.
func TestFollowLostNotification(t *testing.T) {
	fx := newFollowFixture(t)
	fx.run(t, "reference")
	// Two log files of one day, both with Marketplace events, arrive late.
	m := readManifest(t, sampleManifest)
	var late []string
	for _, c := range m.Copies {
		if c.DeliveryDay == m.Window.To && !slices.Contains(late, c.SourceKey) && (len(late) == 0 || path.Dir(late[0]) != path.Dir(c.SourceKey)) {
			late = append(late, c.SourceKey)
		}
	}
	if len(late) < 2 {
		t.Fatalf("the sample has no two log files of %s with Marketplace events", m.Window.To)
	}
	late = late[:2]
	for _, k := range late {
		if _, err := fx.sc.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: &fx.bucket, Key: aws.String("logs/" + k)}); err != nil {
			t.Fatal(err)
		}
	}
	fx.run(t, "follow") // the nightly run before they arrived
	for _, k := range late {
		b, err := os.ReadFile(filepath.Join(sampleTrail, filepath.FromSlash(k)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fx.sc.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &fx.bucket, Key: aws.String("logs/" + k), Body: strings.NewReader(string(b))}); err != nil {
			t.Fatal(err)
		}
	}
	sqstest.Send(t, fx.qc, fx.queueURL, s3Event(fx.bucket, "logs/"+late[1])) // late[0]'s is lost
	f := fx.follow(t, "follow")
	drained(t, fx.qc, fx.queueURL, f, time.Minute)
	if code := f.stop(t); code != 0 {
		t.Fatalf("follow exited %d\n%s", code, f.log())
	}
	r := fx.run(t, "follow")
	reread := map[string]string{}
	for _, d := range runReport(t, r)["days"].([]any) {
		day := d.(map[string]any)
		if day["action"] != "unchanged" {
			reread[day["delivery_day"].(string)] = fmt.Sprint(day["reason"])
		}
	}
	want := map[string]string{m.Window.To: "inputs_changed"}
	if name := path.Base(late[0]); strings.Contains(name, "T23") {
		// The lost file is in its day's tail (23:00Z on): the next day drops its events'
		// copies, so it is read again too.
		d, _ := time.Parse(time.DateOnly, m.Window.To)
		want[d.AddDate(0, 0, 1).Format(time.DateOnly)] = "neighbour_changed"
	}
	if fmt.Sprint(reread) != fmt.Sprint(want) {
		t.Errorf("the nightly run read again %v, want %v", reread, want)
	}
	sameLakes(t, fx.sc, fx.bucket, "follow/", "reference/")
	fx.unchanged(t, "follow")
}
