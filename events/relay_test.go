package events

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// loopRelay is a Relay that stores in memory and delivers back to its Bus
// from a goroutine of its own, as a stream's consumer does; down makes
// Send fail.
type loopRelay struct {
	mu   sync.Mutex
	seq  uint64
	down bool
	bus  *Bus
	q    chan Event
}

func newLoop(t *testing.T, cfg Config) *loopRelay {
	r := &loopRelay{seq: 100, q: make(chan Event, 1000)}
	cfg.Relay, cfg.FirstSeq = r, 101
	r.bus = NewBus(cfg)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for e := range r.q {
			r.bus.Deliver(e)
		}
	}()
	t.Cleanup(func() { close(r.q); <-done })
	return r
}

func (r *loopRelay) Send(e *Event) (uint64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.down {
		return 0, errors.New("down")
	}
	r.seq++
	x := *e
	x.Seq = r.seq
	r.q <- x
	return r.seq, nil
}

func take(t *testing.T, s *Subscription) (Event, bool) {
	t.Helper()
	select {
	case e, ok := <-s.C():
		return e, ok
	case <-time.After(10 * time.Second):
		t.Fatal("nothing within 10 s")
	}
	return Event{}, false
}

// Publish through a Relay returns once the event came back, with the
// Relay's seq; duplicates delivered again are ignored.
func TestRelayPublish(t *testing.T) {
	r := newLoop(t, Config{})
	s := r.bus.SubscribeWith(SubscribeOptions{Buffer: 10, CloseOnOverflow: true})
	defer s.Close()
	e := r.bus.Publish(Event{Type: NodeCreated, Space: "files", Path: "a"})
	if e.Seq != 101 || r.bus.Seq() != 101 {
		t.Fatalf("seq %d, bus at %d", e.Seq, r.bus.Seq())
	}
	if got, ok := take(t, s); !ok || got.Seq != 101 || got.Path != "a" || got.Remote {
		t.Fatalf("got %+v", got)
	}
	if r.bus.Deliver(Event{Seq: 101, Type: NodeCreated}) {
		t.Fatal("a duplicate was delivered")
	}
	if !r.bus.Deliver(Event{Seq: 102, Type: NodeDeleted, Remote: true}) {
		t.Fatal("the next seq was not delivered")
	}
	if got, _ := take(t, s); got.Seq != 102 || !got.Remote {
		t.Fatalf("got %+v", got)
	}
}

// A jump in the delivered seqs is a gap: subscriptions overflow, a since
// before it is too old, one after it replays.
func TestRelayGap(t *testing.T) {
	r := newLoop(t, Config{})
	r.bus.Publish(Event{Type: NodeCreated, Path: "a"})
	s := r.bus.SubscribeWith(SubscribeOptions{Buffer: 10, CloseOnOverflow: true})
	plain := r.bus.SubscribeWith(SubscribeOptions{Buffer: 10})
	defer plain.Close()
	r.bus.Deliver(Event{Seq: 110, Type: NodeCreated, Path: "b"})
	if _, ok := take(t, s); ok || !s.Overflowed() {
		t.Fatal("the gap did not end the subscription")
	}
	if plain.Dropped() != 1 {
		t.Fatalf("dropped %d", plain.Dropped())
	}
	if _, err := r.bus.SubscribeSince(SubscribeOptions{}, 101); !errors.Is(err, ErrSinceTooOld) {
		t.Fatalf("since before the gap: %v", err)
	}
	r.bus.Deliver(Event{Seq: 111, Type: NodeCreated, Path: "c"})
	s2, err := r.bus.SubscribeSince(SubscribeOptions{Buffer: 10}, 109)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	for _, want := range []string{"b", "c"} {
		if got, _ := take(t, s2); got.Path != want {
			t.Fatalf("replayed %q, want %q", got.Path, want)
		}
	}
}

// Lost: the events up to seq are gone; subscribers are told, sinces before
// it refused.
func TestRelayLost(t *testing.T) {
	r := newLoop(t, Config{})
	r.bus.Publish(Event{Type: NodeCreated})
	s := r.bus.SubscribeWith(SubscribeOptions{Buffer: 10, CloseOnOverflow: true})
	r.bus.Lost(105)
	if _, ok := take(t, s); ok || !s.Overflowed() {
		t.Fatal("Lost did not end the subscription")
	}
	if _, err := r.bus.SubscribeSince(SubscribeOptions{}, 101); !errors.Is(err, ErrSinceTooOld) {
		t.Fatalf("since before the loss: %v", err)
	}
	if s, err := r.bus.SubscribeSince(SubscribeOptions{}, 105); err != nil {
		t.Fatalf("since at the loss: %v", err)
	} else {
		s.Close()
	}
}

// A Send that fails: Publish returns Seq 0 at once, counts the loss, and
// tells this Bus's subscribers; a transient event lost tells nobody.
func TestRelayDown(t *testing.T) {
	r := newLoop(t, Config{})
	first := r.bus.Publish(Event{Type: NodeCreated})
	s := r.bus.SubscribeWith(SubscribeOptions{Buffer: 10, CloseOnOverflow: true})
	r.mu.Lock()
	r.down = true
	r.mu.Unlock()
	if e := r.bus.Publish(Event{Type: UploadProgress, Upload: "u"}); e.Seq != 0 {
		t.Fatalf("seq %d", e.Seq)
	}
	if s.Overflowed() || r.bus.LostLocally() != 0 {
		t.Fatal("a transient event lost ended the subscription")
	}
	if e := r.bus.Publish(Event{Type: NodeCreated}); e.Seq != 0 || r.bus.LostLocally() != 1 {
		t.Fatalf("seq %d, lost %d", e.Seq, r.bus.LostLocally())
	}
	if _, ok := take(t, s); ok || !s.Overflowed() {
		t.Fatal("the loss did not end the subscription")
	}
	// The lost event came after the last seq: no since replays without it.
	if _, err := r.bus.SubscribeSince(SubscribeOptions{}, first.Seq); !errors.Is(err, ErrSinceTooOld) {
		t.Fatalf("since before the loss: %v", err)
	}
}

// A since above what the Bus has delivered (given by another process) is
// waited for, at most Config.Wait.
func TestRelaySinceAhead(t *testing.T) {
	r := newLoop(t, Config{Wait: 200 * time.Millisecond})
	go func() {
		time.Sleep(50 * time.Millisecond)
		r.bus.Deliver(Event{Seq: 101, Type: NodeCreated})
	}()
	s, err := r.bus.SubscribeSince(SubscribeOptions{}, 101)
	if err != nil {
		t.Fatalf("since delivered 50 ms later: %v", err)
	}
	s.Close()
	t0 := time.Now()
	if _, err := r.bus.SubscribeSince(SubscribeOptions{}, 500); !errors.Is(err, ErrSinceTooOld) {
		t.Fatalf("since never delivered: %v", err)
	}
	if d := time.Since(t0); d < 200*time.Millisecond || d > 5*time.Second {
		t.Fatalf("waited %v", d)
	}
}
