// Package events is Wharf's in-process publish/subscribe: every change
// (an upload created, a processing step done, a node created, a commit
// pushed) is published as an Event, and whoever cares subscribes with a
// filter. Publishing never blocks: a subscriber that falls behind loses
// events and is told so (Subscription.Dropped), it never slows the
// publisher down.
//
// events imports nothing of Wharf; the websocket endpoints that expose the
// bus live with the handlers that serve them.
package events

import (
	"sync"
	"sync/atomic"
	"time"
)

// Event types. The part before the dot is the subject.
const (
	UploadCreated       = "upload.created"
	UploadProgress      = "upload.progress"
	UploadCompleted     = "upload.completed"
	ProcessingStep      = "processing.step"
	ProcessingFinished  = "processing.finished"
	ProcessingAborted   = "processing.aborted"
	NodeCreated         = "node.created"
	NodeUpdated         = "node.updated"
	NodeMoved           = "node.moved"
	NodeDeleted         = "node.deleted"
	CommitCreated       = "commit.created"
	CommitPushed        = "commit.pushed"
	CommitAcknowledged  = "commit.acknowledged"
	CommitFailed        = "commit.failed"
	SubscriptionDropped = "subscription.dropped" // sent to a subscriber that lost events
)

// Event is one thing that happened. The common fields are set where they
// apply; Data carries the rest (a step's name and percent, an error's
// reason), and must hold only JSON-encodable values.
type Event struct {
	Seq    uint64         `json:"seq"`  // set by Publish: increasing, per Bus
	Type   string         `json:"type"` // one of the constants above
	Time   time.Time      `json:"time"` // set by Publish if zero
	Space  string         `json:"space,omitempty"`
	Path   string         `json:"path,omitempty"`
	Upload string         `json:"upload,omitempty"` // upload or processing job id
	User   string         `json:"user,omitempty"`   // user name
	MIME   string         `json:"mime,omitempty"`
	Size   int64          `json:"size,omitempty"`
	Data   map[string]any `json:"data,omitempty"`
}

// Bus delivers events to subscribers. The zero value is not usable: call
// New. It is safe for concurrent use.
type Bus struct {
	mu   sync.RWMutex
	subs map[*Subscription]struct{}
	seq  atomic.Uint64
	now  func() time.Time
}

// New returns an empty Bus.
func New() *Bus {
	return &Bus{subs: map[*Subscription]struct{}{}, now: time.Now}
}

// Publish sends e to every subscriber whose filter accepts it, and returns
// e as sent (with Seq and Time set). It never blocks.
func (b *Bus) Publish(e Event) Event {
	e.Seq = b.seq.Add(1)
	if e.Time.IsZero() {
		e.Time = b.now().UTC()
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	for s := range b.subs {
		if s.filter == nil || s.filter(e) {
			s.deliver(e)
		}
	}
	return e
}

// Subscribe registers a subscriber for the events filter accepts (all if
// filter is nil), buffering up to buf of them (at least 1). The caller must
// Close it.
func (b *Bus) Subscribe(filter func(Event) bool, buf int) *Subscription {
	s := &Subscription{bus: b, filter: filter, c: make(chan Event, max(buf, 1))}
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	return s
}

// Subscription is one subscriber's stream of events.
type Subscription struct {
	bus     *Bus
	filter  func(Event) bool
	c       chan Event
	dropped atomic.Uint64
	once    sync.Once
}

// C delivers the events. It is closed by Close.
func (s *Subscription) C() <-chan Event { return s.c }

// Dropped is the number of events lost because the buffer was full.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Close unsubscribes and closes C. It is idempotent.
func (s *Subscription) Close() {
	s.once.Do(func() {
		s.bus.mu.Lock()
		delete(s.bus.subs, s)
		s.bus.mu.Unlock()
		close(s.c) // no Publish holds the read lock with s in subs any more
	})
}

// deliver is called with the bus's read lock held, so C is not closed.
func (s *Subscription) deliver(e Event) {
	select {
	case s.c <- e:
	default:
		s.dropped.Add(1)
	}
}
