package events

import (
	"sync"
	"sync/atomic"
	"time"
)

// Event types. The part before the dot is the subject.
const (
	UploadCreated      = "upload.created"
	UploadProgress     = "upload.progress"
	UploadCompleted    = "upload.completed"
	ProcessingStep     = "processing.step"
	ProcessingFinished = "processing.finished"
	ProcessingAborted  = "processing.aborted"
	NodeCreated        = "node.created"
	NodeUpdated        = "node.updated"
	NodeMoved          = "node.moved"
	NodeDeleted        = "node.deleted"
	CommitCreated      = "commit.created"
	CommitPushed       = "commit.pushed"
	CommitAcknowledged = "commit.acknowledged"
	CommitFailed       = "commit.failed"
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
//
// Publishers are serialised, so that every subscriber sees events in Seq
// order. Subscriptions whose filter pins the event's space (or, failing
// that, its exact type) are indexed under it, so that a Publish evaluates
// only the subscriptions that may want the event plus those with no pin:
// see BenchmarkPublish10k.
type Bus struct {
	mu      sync.Mutex
	seq     uint64
	bySpace map[string][]*Subscription
	byType  map[string][]*Subscription
	rest    []*Subscription
	gone    []*Subscription // scratch for Publish: subscriptions closed by overflow
	woken   []*Subscription // scratch for Publish: readers to wake

	// The readers to wake, handed from Publish to a short-lived goroutine
	// (wakeAll), so that a Publish to many idle readers does not pay for
	// rescheduling each of them.
	wakeMu sync.Mutex
	wakeQ  []*Subscription
	waking bool // wakeAll is running
	n      int  // open subscriptions
	now    func() time.Time
}

// New returns an empty Bus.
func New() *Bus {
	return &Bus{bySpace: map[string][]*Subscription{}, byType: map[string][]*Subscription{}, now: time.Now}
}

// Publish sends e to every subscriber whose filter accepts it, and returns
// e as sent (with Seq and Time set). It never blocks on a subscriber: one
// whose buffer is full loses the event (see Subscription.Dropped).
//
// The event is copied once and the subscribers share that copy: queuing it
// for one is a pointer store under that subscription's own lock, and a
// waiting reader is woken only when its queue was empty (see Ready).
func (b *Bus) Publish(e Event) Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq++
	e.Seq = b.seq
	if e.Time.IsZero() {
		e.Time = b.now().UTC()
	}
	shared := new(Event)
	*shared = e
	for _, s := range b.bySpace[e.Space] {
		b.offer(s, shared)
	}
	for _, s := range b.byType[e.Type] {
		b.offer(s, shared)
	}
	for _, s := range b.rest {
		b.offer(s, shared)
	}
	for i, s := range b.gone {
		b.remove(s)
		b.gone[i] = nil
	}
	b.gone = b.gone[:0]
	if len(b.woken) > 0 {
		b.wakeMu.Lock()
		if len(b.wakeQ) == 0 {
			b.wakeQ, b.woken = b.woken, b.wakeQ
		} else {
			b.wakeQ = append(b.wakeQ, b.woken...)
			clear(b.woken)
		}
		b.woken = b.woken[:0]
		start := !b.waking
		b.waking = true
		b.wakeMu.Unlock()
		if start {
			go b.wakeAll()
		}
	}
	return e
}

// wakeAll signals the readers queued by Publish until none is left. A
// signal is only a hint (Take finds what there is): one sent late, or
// after the subscription ended, is harmless.
func (b *Bus) wakeAll() {
	var q []*Subscription
	for {
		b.wakeMu.Lock()
		q, b.wakeQ = b.wakeQ, q[:0]
		if len(q) == 0 {
			b.waking = false
			b.wakeMu.Unlock()
			return
		}
		b.wakeMu.Unlock()
		for i, s := range q {
			s.signal()
			q[i] = nil
		}
	}
}

// offer queues e for s if s wants it; b.mu is held.
func (b *Bus) offer(s *Subscription, e *Event) {
	if s.closed || (s.match != nil && !s.match(e)) || (s.allow != nil && !s.allow(e)) {
		return
	}
	var queued bool
	if c := s.c.Load(); c != nil {
		// Read through C: a copy on its channel.
		select {
		case *c <- *e:
			queued = true
		default:
		}
	} else {
		var wake bool
		s.mu.Lock()
		queued, wake = s.push(e)
		s.mu.Unlock()
		if wake {
			b.woken = append(b.woken, s)
		}
	}
	if !queued {
		s.dropped.Add(1)
		if s.closeOnOverflow {
			s.overflowed.Store(true)
			s.closed = true // delivers nothing more; removed after the loop
			b.gone = append(b.gone, s)
		}
	}
}

// Subscribe registers a subscriber for the events filter accepts (all if
// filter is nil), buffering up to buf of them (at least 1). The caller must
// Close it. The filter runs under the bus's lock: it must be fast and must
// not call the bus. A subscription with a func filter is evaluated on every
// Publish; prefer SubscribeWith and a Filter, which the bus can index.
func (b *Bus) Subscribe(filter func(Event) bool, buf int) *Subscription {
	o := SubscribeOptions{Buffer: buf}
	if filter != nil {
		o.Allow = func(e *Event) bool { return filter(*e) }
	}
	return b.SubscribeWith(o)
}

// SubscribeOptions describe a subscription.
type SubscribeOptions struct {
	// Filter selects the events. Nil: all.
	Filter *Filter
	// Allow, if not nil, must also accept an event for it to be delivered
	// (an authorization check, say). It runs under the bus's lock for the
	// events Filter accepts: it must be fast, must not keep e and must not
	// call the bus.
	Allow func(e *Event) bool
	// Buffer is how many events may wait in C. 0: 1.
	Buffer int
	// CloseOnOverflow, when set, ends the subscription at the first event
	// it loses: C is closed after the events buffered before it, and
	// Overflowed reports true. The subscriber then knows that what it
	// received has no gap, and may resubscribe. Otherwise it goes on and
	// only Dropped counts the losses.
	CloseOnOverflow bool
}

// SubscribeWith registers a subscriber described by o. The caller must
// Close it.
func (b *Bus) SubscribeWith(o SubscribeOptions) *Subscription {
	s := &Subscription{bus: b, allow: o.Allow, closeOnOverflow: o.CloseOnOverflow,
		size: max(o.Buffer, 1), wake: make(chan struct{}, 1)}
	if f := o.Filter; f != nil {
		s.match = f.match
		switch {
		case f.spaces != nil:
			s.spaces = f.spaces
		case f.types != nil:
			s.types = f.types
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case s.spaces != nil:
		for _, k := range s.spaces {
			b.bySpace[k] = append(b.bySpace[k], s)
		}
	case s.types != nil:
		for _, k := range s.types {
			b.byType[k] = append(b.byType[k], s)
		}
	default:
		b.rest = append(b.rest, s)
	}
	b.n++
	return s
}

// remove unindexes s and closes its channel; b.mu is held.
func (b *Bus) remove(s *Subscription) {
	switch {
	case s.spaces != nil:
		for _, k := range s.spaces {
			if l := without(b.bySpace[k], s); len(l) > 0 {
				b.bySpace[k] = l
			} else {
				delete(b.bySpace, k)
			}
		}
	case s.types != nil:
		for _, k := range s.types {
			if l := without(b.byType[k], s); len(l) > 0 {
				b.byType[k] = l
			} else {
				delete(b.byType, k)
			}
		}
	default:
		b.rest = without(b.rest, s)
	}
	s.closed = true
	b.n--
	s.mu.Lock()
	s.ended = true
	if c := s.c.Load(); c != nil {
		close(*c) // offer sends on it only under b.mu, for open subscriptions
	}
	s.mu.Unlock()
	s.signal()
}

// without removes s from l, not keeping the order (delivery order across
// subscribers does not matter).
func without(l []*Subscription, s *Subscription) []*Subscription {
	for i, x := range l {
		if x == s {
			last := len(l) - 1
			l[i], l[last] = l[last], nil
			return l[:last]
		}
	}
	return l
}

// Len returns the number of open subscriptions.
func (b *Bus) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.n
}

// Subscription is one subscriber's stream of events. Its events wait in a
// bounded queue of its own; the subscriber reads them either with Ready and
// Take (in batches, no copy: the cheap way, for many subscribers) or with C
// (a channel of copies, for the simple cases), not both.
type Subscription struct {
	bus             *Bus
	match, allow    func(*Event) bool
	spaces, types   []string // the index keys, as in Filter
	closeOnOverflow bool
	dropped         atomic.Uint64
	overflowed      atomic.Bool
	closed          bool // guarded by bus.mu
	once            sync.Once
	wake            chan struct{}              // 1 slot: events queued, or the end
	c               atomic.Pointer[chan Event] // set by C (under mu): events go there instead of ring

	mu    sync.Mutex // guards what follows
	size  int        // the queue's bound
	ring  []*Event   // the queue, from head, n long; allocated at the first event
	head  int
	n     int
	ended bool // closed or overflowed: nothing more is queued
}

// signal wakes the reader waiting on Ready, if it is not already due to
// wake: one slot, so a signal not yet taken needs no second one.
func (s *Subscription) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// push queues e; s.mu is held. It reports whether e was queued (false: the
// queue was full) and whether the reader must be woken (the queue was
// empty).
func (s *Subscription) push(e *Event) (queued, wake bool) {
	if s.c.Load() != nil {
		// C was called since offer looked: the channel takes it.
		select {
		case *s.c.Load() <- *e:
			return true, false
		default:
			return false, false
		}
	}
	if s.n == s.size {
		return false, false
	}
	if s.ring == nil {
		s.ring = make([]*Event, min(s.size, 16))
	}
	if s.n == len(s.ring) {
		// Grow towards size: most subscriptions never hold many.
		r := make([]*Event, min(s.size, 2*len(s.ring)))
		for i := range s.n {
			r[i] = s.ring[(s.head+i)%len(s.ring)]
		}
		s.ring, s.head = r, 0
	}
	s.ring[(s.head+s.n)%len(s.ring)] = e
	s.n++
	return true, s.n == 1
}

// Ready receives a signal when events may be waiting for Take, or the
// subscription has ended (Close, or an overflow with CloseOnOverflow):
// Take then returns what is left and false. Signals are hints: one may
// find nothing to take.
func (s *Subscription) Ready() <-chan struct{} { return s.wake }

// Take appends the queued events to dst, oldest first, empties the queue
// and returns dst, and whether the subscription goes on (false once it
// has ended and nothing is left). The events are shared with the other
// subscribers: read them, never change them (Data included).
func (s *Subscription) Take(dst []*Event) ([]*Event, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n0 := len(dst)
	for s.n > 0 {
		dst = append(dst, s.ring[s.head])
		s.ring[s.head] = nil
		s.head = (s.head + 1) % len(s.ring)
		s.n--
	}
	s.head = 0
	if s.ended && len(dst) > n0 {
		// The end's signal may have been one with the signal for these
		// events: the reader must come back for the end.
		s.signal()
	}
	return dst, len(dst) > n0 || !s.ended
}

// C delivers the events as a channel. It is closed by Close, or on
// overflow (see SubscribeOptions.CloseOnOverflow). The first call moves
// the events already queued into the channel, in order; from then on
// Publish sends to it (a copy per event), and Ready and Take see nothing.
func (s *Subscription) C() <-chan Event {
	if c := s.c.Load(); c != nil {
		return *c
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.c.Load(); c != nil {
		return *c
	}
	c := make(chan Event, s.size)
	for ; s.n > 0; s.n-- {
		c <- *s.ring[s.head]
		s.ring[s.head] = nil
		s.head = (s.head + 1) % len(s.ring)
	}
	s.ring = nil
	if s.ended {
		close(c)
	}
	s.c.Store(&c)
	return c
}

// Dropped is the number of events lost because the buffer was full.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Overflowed reports whether a subscription made with CloseOnOverflow was
// ended because it lost an event.
func (s *Subscription) Overflowed() bool { return s.overflowed.Load() }

// Close unsubscribes and closes C (events already buffered remain
// readable). It is idempotent and safe to call after an overflow.
func (s *Subscription) Close() {
	s.once.Do(func() {
		b := s.bus
		b.mu.Lock()
		defer b.mu.Unlock()
		if !s.closed { // else an overflow has removed it
			b.remove(s)
		}
	})
}
