package events

import (
	"sync"
	"testing"
)

func TestPublishFilterAndDrop(t *testing.T) {
	b := New()
	all := b.Subscribe(nil, 10)
	defer all.Close()
	nodes := b.Subscribe(func(e Event) bool { return e.Type == NodeCreated }, 1)
	defer nodes.Close()

	first := b.Publish(Event{Type: UploadCreated, Upload: "u1"})
	b.Publish(Event{Type: NodeCreated, Path: "a"})
	b.Publish(Event{Type: NodeCreated, Path: "b"}) // nodes' buffer is full: dropped

	if first.Seq != 1 || first.Time.IsZero() {
		t.Errorf("Publish returned %+v, want Seq 1 and a time", first)
	}
	for i, want := range []string{UploadCreated, NodeCreated, NodeCreated} {
		if e := <-all.C(); e.Type != want || e.Seq != uint64(i+1) {
			t.Errorf("event %d = %s #%d, want %s #%d", i, e.Type, e.Seq, want, i+1)
		}
	}
	if e := <-nodes.C(); e.Path != "a" {
		t.Errorf("filtered subscriber got %+v, want node a", e)
	}
	if nodes.Dropped() != 1 || all.Dropped() != 0 {
		t.Errorf("dropped = %d and %d, want 1 and 0", nodes.Dropped(), all.Dropped())
	}
}

func TestCloseWhilePublishing(t *testing.T) {
	b := New()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				b.Publish(Event{Type: NodeUpdated})
			}
		}
	}()
	for range 100 {
		s := b.Subscribe(nil, 1)
		s.Close()
		s.Close() // idempotent
		if _, ok := <-s.C(); ok {
			// a buffered event may remain; the channel must then be closed
			if _, ok := <-s.C(); ok {
				t.Fatal("C not closed after Close")
			}
		}
	}
	close(stop)
	wg.Wait()
}
