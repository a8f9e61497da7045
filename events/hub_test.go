package events

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func mustFilter(t testing.TB, s string) *Filter {
	t.Helper()
	f, err := ParseFilter([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestOrderPerSubscriber publishes from several goroutines at once and
// checks that every subscriber, indexed or not, gets exactly the events
// its filter accepts, in Seq order.
func TestOrderPerSubscriber(t *testing.T) {
	b := New()
	filters := []string{`{}`, `{"space":"s1"}`, `{"space":["s1","s2"]}`, `{"type":"node.created"}`,
		`{"type":"node.*","prefix":{"field":"path","value":"a/"}}`, `{"not":{"space":"s0"}}`}
	subs := make([]*Subscription, len(filters))
	flts := make([]*Filter, len(filters))
	for i, f := range filters {
		flts[i] = mustFilter(t, f)
		subs[i] = b.SubscribeWith(SubscribeOptions{Filter: flts[i], Buffer: 10000})
		defer subs[i].Close()
	}
	const publishers, each = 4, 500
	var mu sync.Mutex
	var published []Event
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(p), 1))
			types := []string{NodeCreated, NodeDeleted, UploadProgress}
			for i := range each {
				e := b.Publish(Event{Type: types[r.IntN(3)], Space: fmt.Sprintf("s%d", r.IntN(3)),
					Path: fmt.Sprintf("%c/%d", 'a'+r.IntN(2), i)})
				mu.Lock()
				published = append(published, e)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	byseq := make(map[uint64]Event, len(published))
	for _, e := range published {
		byseq[e.Seq] = e
	}
	for i, s := range subs {
		want := 0
		for seq := uint64(1); seq <= publishers*each; seq++ {
			if e := byseq[seq]; flts[i].Match(&e) {
				want++
			}
		}
		if len(s.C()) != want {
			t.Errorf("%s: got %d events, want %d", filters[i], len(s.C()), want)
		}
		var last uint64
		for range len(s.C()) {
			e := <-s.C()
			if e.Seq <= last {
				t.Fatalf("%s: event #%d after #%d", filters[i], e.Seq, last)
			}
			if !flts[i].Match(&e) {
				t.Errorf("%s: got %+v", filters[i], e)
			}
			last = e.Seq
		}
		if s.Dropped() != 0 {
			t.Errorf("%s: dropped %d", filters[i], s.Dropped())
		}
	}
}

func TestOverflowEndsSubscription(t *testing.T) {
	for _, filter := range []string{`{}`, `{"space":["a","b"]}`, `{"type":"node.created"}`} {
		t.Run(filter, func(t *testing.T) {
			b := New()
			s := b.SubscribeWith(SubscribeOptions{Filter: mustFilter(t, filter), Buffer: 2, CloseOnOverflow: true})
			other := b.SubscribeWith(SubscribeOptions{Buffer: 10})
			defer other.Close()
			for i := range 5 {
				b.Publish(Event{Type: NodeCreated, Space: "a", Path: fmt.Sprint(i)})
			}
			var got []string
			for e := range s.C() { // ends: C is closed
				got = append(got, e.Path)
			}
			if fmt.Sprint(got) != "[0 1]" || !s.Overflowed() || s.Dropped() != 1 {
				t.Errorf("got %v, overflowed %v, dropped %d; want [0 1], true, 1", got, s.Overflowed(), s.Dropped())
			}
			if b.Len() != 1 || len(other.C()) != 5 {
				t.Errorf("Len = %d, other got %d; want 1 and 5", b.Len(), len(other.C()))
			}
			s.Close() // after an overflow: no panic, no double close
			if b.Len() != 1 {
				t.Errorf("Len = %d after Close, want 1", b.Len())
			}
		})
	}
}

func TestDropWithoutOverflowClose(t *testing.T) {
	b := New()
	s := b.SubscribeWith(SubscribeOptions{Buffer: 1})
	defer s.Close()
	b.Publish(Event{Type: NodeCreated})
	b.Publish(Event{Type: NodeCreated}) // lost
	<-s.C()
	b.Publish(Event{Type: NodeDeleted})
	if e := <-s.C(); e.Type != NodeDeleted || s.Dropped() != 1 || s.Overflowed() {
		t.Errorf("got %s, dropped %d, overflowed %v; want node.deleted, 1, false", e.Type, s.Dropped(), s.Overflowed())
	}
}

func TestBusUnsubscribe(t *testing.T) {
	b := New()
	subs := []*Subscription{
		b.SubscribeWith(SubscribeOptions{Filter: mustFilter(t, `{"space":["a","b"]}`), Buffer: 10}),
		b.SubscribeWith(SubscribeOptions{Filter: mustFilter(t, `{"type":["node.created","node.deleted"]}`), Buffer: 10}),
		b.SubscribeWith(SubscribeOptions{Buffer: 10}),
		b.Subscribe(func(e Event) bool { return true }, 10),
	}
	keep := b.SubscribeWith(SubscribeOptions{Filter: mustFilter(t, `{"space":"a"}`), Buffer: 10})
	defer keep.Close()
	if b.Len() != 5 {
		t.Fatalf("Len = %d, want 5", b.Len())
	}
	for _, s := range subs {
		s.Close()
	}
	b.Publish(Event{Type: NodeCreated, Space: "a"})
	for i, s := range subs {
		if _, ok := <-s.C(); ok {
			t.Errorf("subscription %d got an event after Close", i)
		}
	}
	if b.Len() != 1 || len(keep.C()) != 1 {
		t.Errorf("Len = %d, kept got %d; want 1 and 1", b.Len(), len(keep.C()))
	}
	if x := b.idx.Load(); len(x.bySpace) != 1 || len(x.byType) != 0 || len(x.rest) != 0 {
		t.Errorf("index not cleaned: %d spaces, %d types, %d rest", len(x.bySpace), len(x.byType), len(x.rest))
	}
}

func TestAllow(t *testing.T) {
	b := New()
	s := b.SubscribeWith(SubscribeOptions{Buffer: 10, Allow: func(e *Event) bool { return e.Space == "mine" }})
	defer s.Close()
	b.Publish(Event{Type: NodeCreated, Space: "theirs"})
	b.Publish(Event{Type: NodeCreated, Space: "mine"})
	b.Publish(Event{Type: NodeCreated})
	if len(s.C()) != 1 || (<-s.C()).Space != "mine" {
		t.Error("Allow not applied")
	}
}

// benchBusDrained returns a bus with n subscriptions shaped like those of
// a busy server: most pinned to one of 500 spaces (a folder view), some to
// types (a dashboard), and one in ten with no pin at all (a prefix, a size
// range), all behind an authorization check. Their buffers are large and
// drained, as a live client would: with Ready and Take, as the websocket
// does, or with C for the shape "all-chan". It returns the bus, a function
// that returns once every subscriber has read what was published, and one
// that closes them all.
func benchBusDrained(tb testing.TB, n int, shape string) (*Bus, func(), func()) {
	b := New()
	readable := map[string]bool{}
	for i := range 500 {
		readable[fmt.Sprintf("space-%d", i)] = i%2 == 0
	}
	allow := func(e *Event) bool { return readable[e.Space] }
	var subs []*Subscription
	for i := range n {
		var f string
		switch {
		case shape == "unpinned":
			f = fmt.Sprintf(`{"type":"node.*","prefix":{"field":"path","value":"dir-%d/"}}`, i)
		case shape == "all" || shape == "all-chan":
			f = `{}`
		case i%10 < 8:
			f = fmt.Sprintf(`{"space":"space-%d","type":"node.*","prefix":{"field":"path","value":"dir-%d/"}}`, i%500, i%7)
		case i%10 == 8:
			f = `{"type":["processing.finished","processing.aborted"],"user":"alice"}`
		default:
			f = fmt.Sprintf(`{"and":[{"prefix":{"field":"path","value":"dir-%d/"}},{"range":{"field":"size","gt":1048576}}]}`, i%7)
		}
		subs = append(subs, b.SubscribeWith(SubscribeOptions{Filter: mustFilter(tb, f), Allow: allow, Buffer: 64}))
	}
	var wg sync.WaitGroup
	for _, s := range subs {
		if shape == "all-chan" {
			c := s.C()
			wg.Go(func() {
				for range c {
				}
			})
			continue
		}
		wg.Go(func() {
			var batch []*Event
			for open := true; open; {
				<-s.Ready()
				batch, open = s.Take(batch[:0])
			}
		})
	}
	drained := func() {
		for _, s := range subs {
			for queued(s) > 0 {
				time.Sleep(100 * time.Microsecond)
			}
		}
	}
	return b, drained, func() {
		for _, s := range subs {
			s.Close()
		}
		wg.Wait()
	}
}

func benchEvents() []Event {
	types := []string{NodeCreated, NodeUpdated, UploadProgress, ProcessingFinished}
	evs := make([]Event, 1024)
	for i := range evs {
		evs[i] = Event{Type: types[i%len(types)], Space: fmt.Sprintf("space-%d", i*7%500),
			Path: fmt.Sprintf("dir-%d/file-%d.jpg", i%7, i), User: "alice", Size: int64(i) << 12}
	}
	return evs
}

// BenchmarkPublish10k is the cost of one Publish with 10,000 subscriptions:
// "mixed" is the realistic shape of benchBus, "unpinned" makes every filter
// run on every event (nothing indexed), "all" makes every subscription
// (behind the authorization check) want every event of a readable space,
// "all-chan" is "all" read through C. The budget is 1 ms per event.
func BenchmarkPublish10k(b *testing.B) {
	for _, shape := range []string{"mixed", "unpinned", "all", "all-chan"} {
		b.Run(shape, func(b *testing.B) {
			bus, drained, done := benchBusDrained(b, 10000, shape)
			defer done()
			evs := benchEvents()
			b.ReportAllocs()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			b.ResetTimer()
			cpu, pub := cpuTime(), threadCPUTime()
			for i := range b.N {
				bus.Publish(evs[i%len(evs)])
			}
			pub = threadCPUTime() - pub
			b.StopTimer()
			// The subscribers' share too: the process's CPU time until
			// they have read everything.
			drained()
			if cpu > 0 {
				b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
				// The publisher's own: what a Publish costs its caller
				// when it has a core to itself.
				b.ReportMetric(float64(pub)/float64(b.N), "pub-cpu-ns/op")
			}
		})
	}
}

// TestReadyTake reads a subscription the websocket's way: the signal, the
// batch in order, the overflow's end after what was queued before it, and
// the end after Close.
func TestReadyTake(t *testing.T) {
	b := New()
	s := b.SubscribeWith(SubscribeOptions{Filter: mustFilter(t, `{"space":"a"}`), Buffer: 3, CloseOnOverflow: true})
	b.Publish(Event{Type: NodeCreated, Space: "a", Path: "1"})
	b.Publish(Event{Type: NodeCreated, Space: "b", Path: "x"})
	b.Publish(Event{Type: NodeCreated, Space: "a", Path: "2"})
	take := func() ([]string, bool) {
		t.Helper()
		select {
		case <-s.Ready():
		case <-time.After(5 * time.Second):
			t.Fatal("no signal")
		}
		evs, open := s.Take(nil)
		var got []string
		for _, e := range evs {
			got = append(got, e.Path)
		}
		return got, open
	}
	if got, open := take(); fmt.Sprint(got) != "[1 2]" || !open {
		t.Fatalf("got %v, open %v; want [1 2], true", got, open)
	}
	for i := 3; i <= 7; i++ { // 3, 4, 5 fit; 6 overflows and ends it
		b.Publish(Event{Type: NodeCreated, Space: "a", Path: fmt.Sprint(i)})
	}
	var all []string
	for {
		got, open := take()
		all = append(all, got...)
		if !open {
			break
		}
	}
	if fmt.Sprint(all) != "[3 4 5]" || !s.Overflowed() || s.Dropped() != 1 || b.Len() != 0 {
		t.Errorf("got %v, overflowed %v, dropped %d, Len %d; want [3 4 5], true, 1, 0", all, s.Overflowed(), s.Dropped(), b.Len())
	}
	s.Close()

	s = b.SubscribeWith(SubscribeOptions{Buffer: 10})
	b.Publish(Event{Type: NodeDeleted, Path: "last"})
	s.Close()
	if got, open := take(); fmt.Sprint(got) != "[last]" {
		t.Errorf("after Close: got %v, open %v; want [last]", got, open)
	} else if open {
		if got, open = take(); len(got) != 0 || open {
			t.Errorf("after Close and the last event: got %v, open %v; want nothing, false", got, open)
		}
	}
}

// TestTakeAfterEndSignalsAgain: when the end of a subscription (an
// overflow) comes while the signal for its last events is still waiting,
// the two signals are one; Take, returning those events, leaves a signal
// for the reader to come back and see the end.
func TestTakeAfterEndSignalsAgain(t *testing.T) {
	b := New()
	s := b.SubscribeWith(SubscribeOptions{Buffer: 1, CloseOnOverflow: true})
	b.Publish(Event{Type: NodeCreated, Path: "1"})
	deadline := time.Now().Add(5 * time.Second)
	for len(s.wake) == 0 && time.Now().Before(deadline) { // the wake-up goroutine has signalled
		time.Sleep(time.Millisecond)
	}
	b.Publish(Event{Type: NodeCreated, Path: "2"}) // overflows: the end, signalled onto the same slot
	<-s.Ready()
	if evs, open := s.Take(nil); len(evs) != 1 || !open {
		t.Fatalf("first Take: %d events, open %v; want 1, true", len(evs), open)
	}
	select {
	case <-s.Ready():
	case <-time.After(time.Second):
		t.Fatal("no signal for the end after the last events were taken")
	}
	if evs, open := s.Take(nil); len(evs) != 0 || open {
		t.Errorf("second Take: %d events, open %v; want 0, false", len(evs), open)
	}
}

// TestAllowBeforeFilter: the authorization check runs first, and the
// filter only for the events it allows, so that the filters of those who
// may not see an event cost nothing.
func TestAllowBeforeFilter(t *testing.T) {
	b := New()
	var evaluated int
	counting := &Filter{match: func(*Event) bool { evaluated++; return true }}
	s := b.SubscribeWith(SubscribeOptions{Filter: counting, Buffer: 10, Allow: func(e *Event) bool { return e.Space == "mine" }})
	defer s.Close()
	for range 5 {
		b.Publish(Event{Type: NodeCreated, Space: "theirs"})
	}
	b.Publish(Event{Type: NodeCreated, Space: "mine"})
	if evaluated != 1 || len(s.C()) != 1 {
		t.Errorf("filter evaluated %d times, %d events delivered; want 1 and 1", evaluated, len(s.C()))
	}
}

// TestFilterRunsOutsideIndexLock: a filter that calls the bus (here
// Subscribe, Close and Len) from inside its evaluation does not deadlock,
// and a filter that blocks holds up neither Subscribe nor Close for
// others: the index lock is not held while filters run. (With the lock
// held, the test fails at the timeout, leaving the blocked goroutines:
// the subscriptions are closed only on success.)
func TestFilterRunsOutsideIndexLock(t *testing.T) {
	within := func(what string, d time.Duration, f func()) {
		t.Helper()
		done := make(chan struct{})
		go func() { defer close(done); f() }()
		select {
		case <-done:
		case <-time.After(d):
			t.Fatalf("%s: still blocked after %v", what, d)
		}
	}
	b := New()
	reentrant := b.Subscribe(func(e Event) bool {
		b.Subscribe(nil, 1).Close()
		return b.Len() > 0
	}, 10)
	within("Publish with a filter that subscribes", 5*time.Second, func() { b.Publish(Event{Type: NodeCreated}) })
	if len(reentrant.C()) != 1 {
		t.Errorf("the reentrant filter's subscriber got %d events, want 1", len(reentrant.C()))
	}
	reentrant.Close()

	entered, release := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() { close(release) })
	var once sync.Once
	slow := b.Subscribe(func(e Event) bool {
		if e.Type == NodeDeleted {
			once.Do(func() { close(entered) })
			<-release
		}
		return true
	}, 10)
	go b.Publish(Event{Type: NodeDeleted})
	<-entered
	within("Subscribe, Close and Len while a filter runs", 5*time.Second, func() {
		other := b.SubscribeWith(SubscribeOptions{Filter: mustFilter(t, `{"space":"x"}`), Buffer: 1})
		other.Close()
		b.Len()
	})
	slow.Close()
}

// TestHeavyFiltersOfOthers: 640 subscriptions with maximal filters (the
// shape of the abuse that this guards against: 20 sockets of 32) and an
// authorization check that refuses every event do not make Publish slow
// for the subscriber who may see the events, and their filters never run.
func TestHeavyFiltersOfOthers(t *testing.T) {
	b := New()
	var evaluated atomic.Int64
	var heavy []*Filter
	for _, src := range maximalFilters() {
		heavy = append(heavy, mustFilter(t, src))
	}
	for i := range 640 {
		f := heavy[i%len(heavy)]
		counting := &Filter{match: func(e *Event) bool { evaluated.Add(1); return f.Match(e) }}
		s := b.SubscribeWith(SubscribeOptions{Filter: counting, Buffer: 64, CloseOnOverflow: true,
			Allow: func(e *Event) bool { return false }})
		defer s.Close()
	}
	mine := b.SubscribeWith(SubscribeOptions{Filter: mustFilter(t, `{"space":"files"}`), Buffer: 1 << 12})
	defer mine.Close()
	const n = 1000
	start := time.Now()
	for i := range n {
		b.Publish(Event{Type: NodeCreated, Space: "files", Path: fmt.Sprintf("dir/%d", i)})
	}
	per := time.Since(start) / n
	t.Logf("Publish with 640 refused heavy subscriptions: %v each", per)
	if evaluated.Load() != 0 || len(mine.C()) != n {
		t.Errorf("heavy filters evaluated %d times, %d events delivered; want 0 and %d", evaluated.Load(), len(mine.C()), n)
	}
	// 640 refusals are a few µs; the bound leaves room for the race
	// detector and a loaded machine.
	if per > 5*time.Millisecond {
		t.Errorf("Publish took %v with 640 refused heavy subscriptions, want under 5ms", per)
	}
}
