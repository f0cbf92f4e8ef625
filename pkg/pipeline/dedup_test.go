package pipeline

import (
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/marketrail/marketrail/pkg/marketplace"
)

func TestDedup(t *testing.T) {
	id := func(s string) *string { return &s }
	ev := func(eventID *string, key string, idx int) marketplace.Event {
		return marketplace.Event{EventID: eventID, SourceKey: key, RecordIndex: idx}
	}
	tests := []struct {
		name    string
		in      []marketplace.Event
		want    []string // source_key/index of the survivors, in order
		dropped int
	}{
		{"org trail and account trail copies: smallest key wins",
			[]marketplace.Event{ev(id("e1"), "AWSLogs/o-x/111/b.json.gz", 0), ev(id("e1"), "AWSLogs/111/a.json.gz", 4)},
			[]string{"AWSLogs/111/a.json.gz/4"}, 1},
		{"same file twice: first record wins",
			[]marketplace.Event{ev(id("e1"), "k", 7), ev(id("e1"), "k", 2), ev(id("e2"), "k", 5)},
			[]string{"k/2", "k/5"}, 1},
		{"no eventID is never merged",
			[]marketplace.Event{ev(nil, "k", 1), ev(nil, "k", 1), ev(nil, "j", 0)},
			[]string{"j/0", "k/1", "k/1"}, 0},
		{"already in order (as publish hands them over): later copies dropped in place",
			[]marketplace.Event{ev(id("e1"), "a", 0), ev(nil, "a", 1), ev(id("e2"), "a", 2), ev(id("e1"), "b", 0), ev(id("e3"), "b", 1), ev(id("e2"), "c", 0)},
			[]string{"a/0", "a/1", "a/2", "b/1"}, 2},
		{"empty", nil, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, dropped := Dedup(tt.in)
			var keys []string
			for _, e := range got {
				keys = append(keys, e.SourceKey+"/"+strconv.Itoa(e.RecordIndex))
			}
			if dropped != tt.dropped || len(keys) != len(tt.want) {
				t.Fatalf("Dedup = %q (dropped %d), want %q (dropped %d)", keys, dropped, tt.want, tt.dropped)
			}
			for i := range keys {
				if keys[i] != tt.want[i] {
					t.Fatalf("Dedup = %q, want %q", keys, tt.want)
				}
			}
		})
	}
}

// TestDedupOrderIndependent: the survivors do not depend on the order results arrived in.
func TestDedupOrderIndependent(t *testing.T) {
	id := func(s string) *string { return &s }
	var base []marketplace.Event
	for i := range 200 {
		base = append(base, marketplace.Event{EventID: id(strconv.Itoa(i % 37)), SourceKey: "k" + strconv.Itoa(i%11), RecordIndex: i})
	}
	first, _ := Dedup(append([]marketplace.Event(nil), base...))
	r := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		shuffled := append([]marketplace.Event(nil), base...)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		got, _ := Dedup(shuffled)
		if len(got) != len(first) || len(got) != 37 {
			t.Fatalf("got %d survivors, want 37", len(got))
		}
		for i := range got {
			if got[i].SourceKey != first[i].SourceKey || got[i].RecordIndex != first[i].RecordIndex {
				t.Fatalf("survivor %d differs after shuffling", i)
			}
		}
	}
}
