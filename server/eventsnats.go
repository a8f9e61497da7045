package server

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wharfhq/wharf/events"
	"github.com/wharfhq/wharf/events/natsbus"
)

// openBus returns the server's events bus: in-process, its seqs from the
// clock (firstSeq), unless cfg.Events names a NATS server, whose JetStream
// stream the replicas then share (events/natsbus, docs/events.md). close
// ends the relay after the workers that publish are done.
func openBus(ctx context.Context, cfg Config, log *slog.Logger) (bus *events.Bus, relay *natsbus.Relay, err error) {
	if cfg.Events == "" {
		return events.NewBus(events.Config{FirstSeq: firstSeq(time.Now())}), nil, nil
	}
	relay, err = natsbus.Open(ctx, natsbus.Config{URL: cfg.Events, Logger: log.With("component", "events")})
	if err != nil {
		return nil, nil, err
	}
	return relay.Bus(), relay, nil
}

// watchRelay adds the relay's counters to the metrics.
func (m *metrics) watchRelay(r *natsbus.Relay) {
	if r == nil {
		return
	}
	counter := func(name, help string, f func(natsbus.Stats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(f(r.Stats())) })
	}
	m.reg.MustRegister(
		counter("wharf_events_nats_published_total", "Events this replica stored in the NATS stream.",
			func(s natsbus.Stats) uint64 { return s.Published }),
		counter("wharf_events_nats_failed_total", "Events this replica could not store in the NATS stream (lost; subscribers are told to reload).",
			func(s natsbus.Stats) uint64 { return s.Failed }),
		counter("wharf_events_nats_delivered_total", "Events of the NATS stream (every replica's) delivered to this replica's subscribers.",
			func(s natsbus.Stats) uint64 { return s.Delivered }),
		counter("wharf_events_nats_lost_markers_total", "Markers of events lost by some replica read from the NATS stream.",
			func(s natsbus.Stats) uint64 { return s.LostMarked }),
	)
}
