package follow

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler serves a follower's Prometheus metrics on /metrics and its health on /healthz:
// 200 while it is well, 503 with the reason after a failed batch or when no receive has
// succeeded for stale (several receive periods).
func Handler(s *Stats, stale time.Duration) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	counter := func(name, help string, v interface{ Load() int64 }) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "marketrail", Subsystem: "follow", Name: name, Help: help},
			func() float64 { return float64(v.Load()) }))
	}
	counter("messages_received_total", "Messages received from the queue (a message received again counts again).", &s.Received)
	counter("messages_deleted_total", "Messages deleted once every log file they announce was published.", &s.Deleted)
	counter("messages_unreadable_total", "Messages not understood: kept raw under _marketrail/messages/ and deleted.", &s.Unreadable)
	counter("test_events_total", "S3 test events received and deleted.", &s.TestEvents)
	counter("files_published_total", "Announced log files that became inputs of a published delivery day.", &s.Files)
	counter("events_written_total", "Rows the batches wrote to the events table (a day written again counts its rows again).", &s.Events)
	counter("files_given_up_total", "Announced log files that could not be read (or were not found on the source) after the maximum receives: their days wait for the nightly run.", &s.GivenUp)
	counter("batches_total", "Batches published.", &s.Batches)
	counter("batch_errors_total", "Batches that failed (their messages are tried again).", &s.BatchErrors)
	skipped := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "marketrail", Subsystem: "follow", Name: "objects_skipped_total",
		Help: "Announced objects that are not log files of the source, by reason."}, []string{"reason"})
	lag := prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "marketrail", Subsystem: "follow", Name: "lag_seconds",
		Help:    "From a message's sending to its deletion, once the log files it announces are published.",
		Buckets: []float64{5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600, 1800}})
	reg.MustRegister(&collectOnScrape{s: s, skipped: skipped, lag: lag})
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if err := s.Health(time.Now(), stale); err != nil {
			http.Error(w, "unhealthy: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return mux
}

// collectOnScrape brings the skipped counts and the lags observed since the last scrape
// into their metrics when Prometheus scrapes.
type collectOnScrape struct {
	s       *Stats
	skipped *prometheus.CounterVec
	lag     prometheus.Histogram
	mu      sync.Mutex // scrapes may come at once
	seen    map[string]int64
}

func (c *collectOnScrape) Describe(ch chan<- *prometheus.Desc) {
	c.skipped.Describe(ch)
	c.lag.Describe(ch)
}

func (c *collectOnScrape) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = map[string]int64{}
	}
	for reason, n := range c.s.Skipped() {
		c.skipped.WithLabelValues(reason).Add(float64(n - c.seen[reason]))
		c.seen[reason] = n
	}
	for _, d := range c.s.Lags() {
		c.lag.Observe(d.Seconds())
	}
	c.skipped.Collect(ch)
	c.lag.Collect(ch)
}

// Serve serves Handler on addr until ctx ends. It returns an error only when addr cannot be
// listened on.
func Serve(ctx context.Context, addr string, s *Stats, stale time.Duration) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics address %s: %w", addr, err)
	}
	srv := &http.Server{Handler: Handler(s, stale), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	go srv.Serve(ln) // ends when Shutdown closes the listener
	return nil
}
