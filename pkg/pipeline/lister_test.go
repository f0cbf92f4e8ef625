package pipeline

import (
	"testing"

	"github.com/marketrail/marketrail/pkg/lake"
	"github.com/marketrail/marketrail/pkg/source"
	"github.com/marketrail/marketrail/pkg/storage"
)

// TestLacks: a listing made ahead, before the day's lease, is listed again when the day's
// manifest names an object it does not hold (another run saw a newer listing); not when
// the manifest names fewer objects (new log files arrived: the day is written again).
func TestLacks(t *testing.T) {
	listing := func(keys ...string) []source.Object {
		var objs []source.Object
		for _, k := range keys {
			objs = append(objs, source.Object{Entry: storage.Entry{Key: k}})
		}
		return objs
	}
	inputs := func(keys ...string) []lake.Input {
		var in []lake.Input
		for _, k := range keys {
			in = append(in, lake.Input{Key: k})
		}
		return in
	}
	for _, tt := range []struct {
		name    string
		objs    []source.Object
		inputs  []lake.Input
		relists bool
	}{
		{"same", listing("a", "b", "c"), inputs("a", "b", "c"), false},
		{"listing newer", listing("a", "b", "c", "d"), inputs("a", "c"), false},
		{"manifest newer", listing("a", "c"), inputs("a", "b", "c"), true},
		{"manifest newer at the end", listing("a", "b"), inputs("a", "b", "c"), true},
		{"empty listing", nil, inputs("a"), true},
		{"empty manifest", listing("a"), nil, false},
	} {
		if got := lacks(tt.objs, tt.inputs); got != tt.relists {
			t.Errorf("%s: lacks = %v, want %v", tt.name, got, tt.relists)
		}
	}
}
