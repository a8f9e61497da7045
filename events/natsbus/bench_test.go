package natsbus

import (
	"testing"

	"github.com/wharfhq/wharf/events"
	"github.com/wharfhq/wharf/internal/testservers"
)

// The cost of a Publish, in-process and through NATS (docs/events.md,
// "Several replicas: NATS", has the figures): one at a time (ns/op is the
// latency a publisher waits), from many goroutines at once (throughput),
// and from one replica to a subscriber of another.

// drain reads s until it ends.
func drain(s *events.Subscription) {
	var buf []*events.Event
	for range s.Ready() {
		var ok bool
		if buf, ok = s.Take(buf[:0]); !ok {
			return
		}
	}
}

func benchPublish(b *testing.B, bus *events.Bus, parallel bool) {
	s := bus.SubscribeWith(events.SubscribeOptions{Buffer: 1 << 16})
	go drain(s)
	defer s.Close()
	e := node(1)
	b.ResetTimer()
	if parallel {
		b.SetParallelism(16) // publishers: uploads and jobs of many users
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if bus.Publish(e).Time.IsZero() {
					b.Error("not published")
				}
			}
		})
		return
	}
	for b.Loop() {
		bus.Publish(e)
	}
}

func BenchmarkPublishInProcess(b *testing.B) { benchPublish(b, events.New(), false) }

func BenchmarkPublishInProcessParallel(b *testing.B) { benchPublish(b, events.New(), true) }

func BenchmarkPublishNATS(b *testing.B) {
	benchPublish(b, open(b, testservers.StartNATS(b), "a").Bus(), false)
}

func BenchmarkPublishNATSParallel(b *testing.B) {
	benchPublish(b, open(b, testservers.StartNATS(b), "a").Bus(), true)
}

// BenchmarkPublishNATSToOtherReplica: from Publish on replica A to the
// event in the hands of a subscriber of replica B.
func BenchmarkPublishNATSToOtherReplica(b *testing.B) {
	srv := testservers.StartNATS(b)
	ra, rb := open(b, srv, "a"), open(b, srv, "b")
	s := rb.Bus().SubscribeWith(events.SubscribeOptions{Buffer: 16})
	defer s.Close()
	c := s.C()
	e := node(1)
	for b.Loop() {
		sent := ra.Bus().Publish(e)
		for got := range c {
			if got.Seq == sent.Seq {
				break
			}
		}
	}
}
