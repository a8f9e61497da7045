package natsbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/wharfhq/wharf/events"
	"github.com/wharfhq/wharf/internal/testservers"
)

// open opens a Relay ("a replica") on srv for t.
func open(t testing.TB, srv *testservers.NATS, name string) *Relay {
	t.Helper()
	return openTimeout(t, srv, name, time.Second)
}

func openTimeout(t testing.TB, srv *testservers.NATS, name string, timeout time.Duration) *Relay {
	t.Helper()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("replica", name)
	r, err := Open(context.Background(), Config{URL: srv.URL(), Logger: log, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// next reads the next event of s, failing after a while.
func next(t *testing.T, s *events.Subscription) (events.Event, bool) {
	t.Helper()
	select {
	case e, ok := <-s.C():
		return e, ok
	case <-time.After(20 * time.Second):
		t.Fatal("no event within 20 s")
	}
	return events.Event{}, false
}

func node(i int) events.Event {
	return events.Event{Type: events.NodeCreated, Space: "files", Path: fmt.Sprintf("f%03d.txt", i), User: "alice",
		Size: int64(i), Data: map[string]any{"id": int64(1000 + i), "dir": false}}
}

// Events published on either replica reach the subscribers of both, in one
// order, with the same seqs; each replica's own are not Remote.
func TestTwoReplicasShareOneOrder(t *testing.T) {
	srv := testservers.StartNATS(t)
	a, b := open(t, srv, "a"), open(t, srv, "b")
	opts := events.SubscribeOptions{Buffer: 1000, CloseOnOverflow: true}
	sa, sb := a.Bus().SubscribeWith(opts), b.Bus().SubscribeWith(opts)
	defer sa.Close()
	defer sb.Close()
	const n = 200
	var seqs []uint64
	for i := range n {
		bus := a.Bus()
		if i%3 == 2 {
			bus = b.Bus()
		}
		e := bus.Publish(node(i))
		if e.Seq == 0 {
			t.Fatalf("event %d: not stored", i)
		}
		if len(seqs) > 0 && e.Seq != seqs[len(seqs)-1]+1 {
			t.Fatalf("event %d: seq %d after %d", i, e.Seq, seqs[len(seqs)-1])
		}
		seqs = append(seqs, e.Seq)
	}
	for name, s := range map[string]*events.Subscription{"a": sa, "b": sb} {
		for i := range n {
			e, ok := next(t, s)
			if !ok {
				t.Fatalf("%s: subscription ended at %d (overflowed %v)", name, i, s.Overflowed())
			}
			if e.Seq != seqs[i] || e.Path != node(i).Path || e.Size != int64(i) {
				t.Fatalf("%s: event %d: seq %d path %s, want seq %d path %s", name, i, e.Seq, e.Path, seqs[i], node(i).Path)
			}
			if got := fmt.Sprint(e.Data["id"]); got != fmt.Sprint(1000+i) {
				t.Fatalf("%s: event %d: data id %s", name, i, got)
			}
			fromB := i%3 == 2
			if e.Remote != (fromB != (name == "b")) {
				t.Fatalf("%s: event %d: Remote %v", name, i, e.Remote)
			}
		}
	}
	if st := a.Stats(); st.Failed != 0 || st.Published == 0 {
		t.Fatalf("stats of a: %+v", st)
	}
}

// A subscriber that reconnects to another replica with its since is
// replayed what it missed there, with the same seqs; so is one that comes
// to a replica started after the events (it read them from the stream).
func TestReplayOnAnotherReplica(t *testing.T) {
	srv := testservers.StartNATS(t)
	a, b := open(t, srv, "a"), open(t, srv, "b")
	var sent []events.Event
	for i := range 30 {
		sent = append(sent, a.Bus().Publish(node(i)))
		if i%10 == 0 { // transient events take seqs and are not replayed
			a.Bus().Publish(events.Event{Type: events.UploadProgress, Upload: "u1", Space: "files"})
		}
	}
	c := open(t, srv, "c") // joins after the events
	since := sent[9].Seq
	want := sent[10:]
	for _, name := range []string{"b", "c"} {
		r := map[string]*Relay{"b": b, "c": c}[name]
		s, err := r.Bus().SubscribeSince(events.SubscribeOptions{Buffer: 100, CloseOnOverflow: true}, since)
		if err != nil {
			t.Fatalf("%s: since %d: %v", name, since, err)
		}
		for _, want := range want {
			e, ok := next(t, s)
			if !ok || e.Seq != want.Seq || e.Path != want.Path {
				t.Fatalf("%s: replayed seq %d %s (%v), want %d %s", name, e.Seq, e.Path, ok, want.Seq, want.Path)
			}
		}
		live := b.Bus().Publish(node(99))
		if e, ok := next(t, s); !ok || e.Seq != live.Seq {
			t.Fatalf("%s: live seq %d, want %d", name, e.Seq, live.Seq)
		}
		want = append(want, live)
		s.Close()
	}
	// A since from before what the stream and the Bus keep, or from
	// another stream, is too old.
	if _, err := c.Bus().SubscribeSince(events.SubscribeOptions{}, 12345); !errors.Is(err, events.ErrSinceTooOld) {
		t.Fatalf("since from elsewhere: %v", err)
	}
}

// A since one replica gave and another has not delivered yet is waited
// for, not refused.
func TestSinceAheadIsWaitedFor(t *testing.T) {
	srv := testservers.StartNATS(t)
	a, b := open(t, srv, "a"), open(t, srv, "b")
	e := a.Bus().Publish(node(1))
	s, err := b.Bus().SubscribeSince(events.SubscribeOptions{Buffer: 10}, e.Seq)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}

// NATS killed mid-stream: a publish fails within its bound, the event is
// lost and said so: the publisher's subscribers overflow at once, every
// replica's when NATS is back (the marker), and a since from before the
// loss is too old; the events stored before the crash are kept and the
// seqs go on.
func TestNATSDownAndBack(t *testing.T) {
	srv := testservers.StartNATS(t)
	a, b := open(t, srv, "a"), open(t, srv, "b")
	opts := events.SubscribeOptions{Buffer: 100, CloseOnOverflow: true}
	sa, sb := a.Bus().SubscribeWith(opts), b.Bus().SubscribeWith(opts)
	defer sa.Close()
	defer sb.Close()
	before := a.Bus().Publish(node(1))
	if e, _ := next(t, sb); e.Seq != before.Seq {
		t.Fatalf("b: seq %d, want %d", e.Seq, before.Seq)
	}
	next(t, sa)

	srv.Kill()
	t0 := time.Now()
	lost := a.Bus().Publish(node(2))
	if d := time.Since(t0); d > 3*time.Second {
		t.Fatalf("a publish with NATS down took %v", d)
	}
	if lost.Seq != 0 {
		t.Fatalf("a publish with NATS down has seq %d", lost.Seq)
	}
	if a.Bus().LostLocally() != 1 || a.Stats().Failed != 1 {
		t.Fatalf("lost: %d, stats %+v", a.Bus().LostLocally(), a.Stats())
	}
	// A transient event lost is not worth an overflow, and is not counted.
	a.Bus().Publish(events.Event{Type: events.UploadProgress, Upload: "u1"})
	if _, ok := next(t, sa); ok || !sa.Overflowed() {
		t.Fatalf("a's subscriber not told of the loss: ok %v overflowed %v", ok, sa.Overflowed())
	}
	if a.Stats().Failed != 1 {
		t.Fatalf("stats %+v", a.Stats())
	}
	sa2 := a.Bus().SubscribeWith(opts) // a new subscriber while NATS is down
	defer sa2.Close()

	srv.Restart()
	waitConnected(t, a)
	waitConnected(t, b)
	after := b.Bus().Publish(node(3))
	if after.Seq <= before.Seq {
		t.Fatalf("seq after the restart %d, before %d", after.Seq, before.Seq)
	}
	// b's subscriber: the marker of a's loss ends it, before or after
	// the events published since (b's own failed publishes, if it tried
	// while NATS was starting, are losses too).
	for {
		e, ok := next(t, sb)
		if !ok {
			break
		}
		if e.Path != node(3).Path {
			t.Fatalf("b: unexpected event %+v", e)
		}
	}
	if !sb.Overflowed() {
		t.Fatal("b's subscriber ended without overflow")
	}
	if st := b.Stats(); st.LostMarked == 0 {
		t.Fatalf("b read no marker: %+v", st)
	}
	// A since from before the loss cannot be replayed without it.
	for name, r := range map[string]*Relay{"a": a, "b": b} {
		if _, err := r.Bus().SubscribeSince(opts, before.Seq); !errors.Is(err, events.ErrSinceTooOld) {
			t.Fatalf("%s: since before the loss: %v", name, err)
		}
	}
	// New subscribers go on.
	s := b.Bus().SubscribeWith(opts)
	defer s.Close()
	e := a.Bus().Publish(node(4))
	if got, ok := next(t, s); !ok || got.Seq != e.Seq {
		t.Fatalf("after the restart: seq %d (%v), want %d", got.Seq, ok, e.Seq)
	}
}

// waitConnected waits until r is connected to NATS again.
func waitConnected(t *testing.T, r *Relay) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !r.nc.IsConnected() {
		if time.Now().After(deadline) {
			t.Fatal("not reconnected to NATS within 30 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A publish while NATS restarts (away for less than Config.Timeout)
// waits for it rather than losing the event.
func TestPublishWaitsOutAShortOutage(t *testing.T) {
	srv := testservers.StartNATS(t)
	a := openTimeout(t, srv, "a", 20*time.Second)
	srv.Kill()
	done := make(chan events.Event)
	go func() { done <- a.Bus().Publish(node(1)) }()
	time.Sleep(300 * time.Millisecond)
	srv.Restart()
	if e := <-done; e.Seq == 0 || a.Stats().Failed != 0 {
		t.Fatalf("publish during a restart: seq %d, stats %+v", e.Seq, a.Stats())
	}
}

// The stream made again (deleted, or NATS's store lost): its seqs start
// over above the old ones, and the subscribers are told of the gap.
func TestStreamMadeAgain(t *testing.T) {
	srv := testservers.StartNATS(t)
	a := open(t, srv, "a")
	first := a.Bus().Publish(node(1))
	s := a.Bus().SubscribeWith(events.SubscribeOptions{Buffer: 10, CloseOnOverflow: true})
	defer s.Close()
	ctx := context.Background()
	if err := a.js.DeleteStream(ctx, a.stream); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond) // a later creation time
	a.check()
	e := a.Bus().Publish(node(2))
	if e.Seq <= first.Seq {
		t.Fatalf("seq in the new stream %d, in the old %d", e.Seq, first.Seq)
	}
	if _, ok := next(t, s); ok || !s.Overflowed() {
		t.Fatal("subscriber not told of the new stream")
	}
	if a.Stats().Resets != 1 {
		t.Fatalf("stats %+v", a.Stats())
	}
}

func TestParseURL(t *testing.T) {
	for _, c := range []struct{ name, in, err string }{
		{"one", "nats://127.0.0.1:4222", ""},
		{"cluster and options", "nats://a:4222,nats://b:4222?stream=EV&subject=acme.wharf&replicas=3", ""},
		{"credentials", "nats://wharf:pw@127.0.0.1:4222", ""},
		{"scheme", "http://127.0.0.1:4222", "want nats://"},
		{"stream name", "nats://127.0.0.1:4222?stream=a.b", "stream="},
		{"replicas", "nats://127.0.0.1:4222?replicas=9", "replicas="},
		{"unknown option", "nats://127.0.0.1:4222?color=red", "unknown NATS URL option"},
		{"empty", "", "empty"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := &Relay{}
			_, _, err := r.parseURL(c.in)
			if (err == nil) != (c.err == "") || err != nil && !contains(err.Error(), c.err) {
				t.Errorf("%q: %v, want %q", c.in, err, c.err)
			}
		})
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
