package pipeline

import "github.com/marketrail/marketrail/pkg/marketplace"

// selectsMarketplace reports whether a run with these event sources keeps the AWS
// Marketplace sources, as extract.NewFilter decides: none given (nil or only empty names).
// Only such a run counts unknown operations; with --event-source the table of Marketplace
// operations says nothing about what is kept.
func selectsMarketplace(sources []string) bool {
	for _, s := range sources {
		if s != "" {
			return false
		}
	}
	return true
}

// unknownOperations counts the events of Marketplace sources whose operation
// marketplace.KnownOperation does not know, by event source and event name; nil when there
// are none. (A run counts them on a day's index, dayRows.notes; its tests compare with
// this.)
func unknownOperations(events []marketplace.Event) map[string]map[string]int64 {
	var out map[string]map[string]int64
	for i := range events {
		e := &events[i]
		if !marketplace.IsMarketplaceSource(e.EventSource) || marketplace.KnownOperation(e.EventSource, e.EventName) {
			continue
		}
		if out == nil {
			out = map[string]map[string]int64{}
		}
		if out[e.EventSource] == nil {
			out[e.EventSource] = map[string]int64{}
		}
		out[e.EventSource][e.EventName]++
	}
	return out
}
