package events

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSubscribeSinceNoGapNoDuplicate: a subscriber that resubscribes with
// since while events keep being published gets every event after since
// that its filter accepts, once, in order: the replay and the live events
// meet exactly.
func TestSubscribeSinceNoGapNoDuplicate(t *testing.T) {
	b := New()
	const total = 4000
	var wg sync.WaitGroup
	published := make(chan struct{})
	wg.Go(func() {
		defer close(published)
		for i := range total {
			b.Publish(Event{Type: NodeCreated, Space: []string{"a", "b"}[i%2], Path: fmt.Sprint(i)})
			time.Sleep(10 * time.Microsecond)
		}
	})
	for b.Seq() < 1000 {
		time.Sleep(100 * time.Microsecond)
	}
	since := b.Seq() // the publisher goes on
	// A slow check, so that live events come while the replay is checked.
	slow := func(*Event) bool { time.Sleep(20 * time.Microsecond); return true }
	s, err := b.SubscribeSince(SubscribeOptions{Filter: mustFilter(t, `{"space":"a"}`), Buffer: total, Allow: slow}, since)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	<-published
	var want []uint64
	for seq := since + 1; seq <= total; seq++ {
		if seq%2 == 1 { // space a
			want = append(want, seq)
		}
	}
	var got []uint64
	for len(s.C()) > 0 {
		got = append(got, (<-s.C()).Seq)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("since #%d: got %d events, want %d (first %v, want %v)", since, len(got), len(want), got[:min(3, len(got))], want[:min(3, len(want))])
	}
	wg.Wait()
}

// TestSubscribeSinceReplay: the replay applies the authorization check
// and the filter, skips transient events, is not bounded by Buffer, and
// comes before the live events.
func TestSubscribeSinceReplay(t *testing.T) {
	b := New()
	b.Publish(Event{Type: NodeCreated, Space: "a", Path: "before"})
	since := b.Seq()
	b.Publish(Event{Type: NodeCreated, Space: "a", Path: "1"})
	b.Publish(Event{Type: UploadProgress, Space: "a", Path: "p"})
	b.Publish(Event{Type: ProcessingStep, Space: "a", Path: "p"})
	b.Publish(Event{Type: NodeCreated, Space: "secret", Path: "s"})
	b.Publish(Event{Type: NodeDeleted, Space: "a", Path: "2"})
	b.Publish(Event{Type: NodeCreated, Space: "a", Path: "3"})
	s, err := b.SubscribeSince(SubscribeOptions{Filter: mustFilter(t, `{"type":"node.*"}`), Buffer: 1, CloseOnOverflow: true,
		Allow: func(e *Event) bool { return e.Space != "secret" }}, since)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b.Publish(Event{Type: NodeCreated, Space: "a", Path: "live"})
	var got []string
	for range 4 {
		select {
		case <-s.Ready():
		case <-time.After(5 * time.Second):
			t.Fatal("no events")
		}
		evs, _ := s.Take(nil)
		for _, e := range evs {
			got = append(got, e.Path)
		}
		if len(got) >= 4 {
			break
		}
	}
	if strings.Join(got, " ") != "1 2 3 live" || s.Overflowed() {
		t.Errorf("got %q (overflowed %v), want 1 2 3 live", got, s.Overflowed())
	}
	// The replay's room is given back once taken: the buffer is 1 again.
	b.Publish(Event{Type: NodeCreated, Space: "a", Path: "x"})
	b.Publish(Event{Type: NodeCreated, Space: "a", Path: "y"})
	if !s.Overflowed() {
		t.Error("the buffer stayed larger than asked after the replay was taken")
	}
}

// TestSubscribeSinceTooOld: a since whose next events left the log, one
// beyond the last seq and one from before FirstSeq (a previous run) are
// refused; the latest seq and the one before the first kept are not.
func TestSubscribeSinceTooOld(t *testing.T) {
	b := NewBus(Config{FirstSeq: 1000, LogEvents: 3})
	for i := range 5 {
		b.Publish(Event{Type: NodeCreated, Path: fmt.Sprint(i)}) // 1000..1004; 1002..1004 kept
	}
	for _, since := range []uint64{0, 998, 999, 1000, 1005, 1 << 40} {
		if s, err := b.SubscribeSince(SubscribeOptions{}, since); !errors.Is(err, ErrSinceTooOld) {
			t.Errorf("since %d: %v, want ErrSinceTooOld", since, err)
			if s != nil {
				s.Close()
			}
		}
	}
	for since, want := range map[uint64]int{1001: 3, 1003: 1, 1004: 0} {
		s, err := b.SubscribeSince(SubscribeOptions{Buffer: 1}, since)
		if err != nil {
			t.Fatalf("since %d: %v", since, err)
		}
		if got := len(s.C()); got != want {
			t.Errorf("since %d: %d events replayed, want %d", since, got, want)
		}
		s.Close()
	}
	if b.Len() != 0 {
		t.Errorf("%d subscriptions left open by refusals", b.Len())
	}
	// Transient events do not take room in the log.
	b.Publish(Event{Type: UploadProgress})
	if _, err := b.SubscribeSince(SubscribeOptions{}, 1001); err != nil {
		t.Errorf("a transient event pushed an event out of the log: %v", err)
	}
	// No log: only the latest seq is a since.
	n := NewBus(Config{LogEvents: -1})
	n.Publish(Event{Type: NodeCreated})
	n.Publish(Event{Type: NodeCreated})
	if _, err := n.SubscribeSince(SubscribeOptions{}, 1); !errors.Is(err, ErrSinceTooOld) {
		t.Errorf("without a log, since 1 of 2: %v", err)
	}
	if s, err := n.SubscribeSince(SubscribeOptions{}, 2); err != nil {
		t.Errorf("without a log, since the latest: %v", err)
	} else {
		s.Close()
	}
}

// TestLogBytes: the log keeps about LogBytes bytes of events.
func TestLogBytes(t *testing.T) {
	b := NewBus(Config{LogBytes: 64 << 10})
	big := map[string]any{"metadata": map[string]any{"comment": strings.Repeat("x", 4000)}}
	for range 100 {
		b.Publish(Event{Type: ProcessingFinished, Data: big})
	}
	if b.logBytes > 64<<10 || b.logN > 16 || b.logN < 10 {
		t.Errorf("log holds %d events, %d bytes; want about 15 in 64 KiB", b.logN, b.logBytes)
	}
	if _, err := b.SubscribeSince(SubscribeOptions{}, 50); !errors.Is(err, ErrSinceTooOld) {
		t.Errorf("since 50: %v, want ErrSinceTooOld", err)
	}
}

// TestScopeOut: an event whose item leaves what a subscription watches
// (Before matched, the event does not) is delivered to it marked "out";
// to a subscriber who may not see where the item went, it says only
// where it was. Scope selects in, out, both or none.
func TestScopeOut(t *testing.T) {
	b := New()
	folder := `{"space":"files","prefix":{"field":"path","value":"photos/"}}`
	sub := func(filter, scope string, allow func(*Event) bool) *Subscription {
		s := b.SubscribeWith(SubscribeOptions{Filter: mustFilter(t, filter), Scope: scope, Buffer: 16, Allow: allow})
		t.Cleanup(s.Close)
		return s
	}
	all := sub(folder, "", nil)
	in := sub(folder, ScopeIn, nil)
	out := sub(folder, ScopeOut, nil)
	none := sub(folder, ScopeNone, nil)
	narrow := sub(folder, ScopeAll, func(e *Event) bool { return strings.HasPrefix(e.Path, "photos/") })
	other := sub(`{"space":"media"}`, "", nil) // indexed under the space the item left
	unpinned := sub(`{"range":{"field":"size","gte":100}}`, "", nil)

	moved := func(from, to string, size int64) {
		b.Publish(Event{Type: NodeMoved, Space: "files", Path: to, Size: size, Data: map[string]any{"from": from, "id": 7, "dir": false},
			Before: &State{Space: "files", Path: from, Size: size}})
	}
	moved("photos/a.jpg", "photos/b.jpg", 10)  // stays in: in
	moved("photos/b.jpg", "private/b.jpg", 10) // leaves: out
	moved("private/b.jpg", "other/b.jpg", 10)  // never in: nothing
	moved("other/b.jpg", "photos/c.jpg", 200)  // comes in: in
	b.Publish(Event{Type: NodeMoved, Space: "files", Path: "x.jpg", Size: 200,
		Before: &State{Space: "media", Path: "x.jpg", Size: 50}}) // from another space, grown past 100

	got := func(s *Subscription) string {
		var l []string
		for len(s.C()) > 0 {
			e := <-s.C()
			l = append(l, fmt.Sprintf("%s:%s", e.Path, cmpOr(e.Scope, "in")))
			if e.Scope == ScopeOut && e.Path == "photos/b.jpg" && (e.Data["from"] != nil || e.Data["id"] != 7) {
				t.Errorf("redacted out event has data %v, want the id and kind only", e.Data)
			}
		}
		return strings.Join(l, " ")
	}
	for name, tt := range map[string]struct {
		s    *Subscription
		want string
	}{
		"all":      {all, "photos/b.jpg:in private/b.jpg:out photos/c.jpg:in"},
		"in":       {in, "photos/b.jpg:in photos/c.jpg:in"},
		"out":      {out, "private/b.jpg:out"},
		"none":     {none, ""},
		"narrow":   {narrow, "photos/b.jpg:in photos/b.jpg:out photos/c.jpg:in"},
		"other":    {other, "x.jpg:out"},
		"unpinned": {unpinned, "photos/c.jpg:in x.jpg:in"},
	} {
		if g := got(tt.s); g != tt.want {
			t.Errorf("%s: got %q, want %q", name, g, tt.want)
		}
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
