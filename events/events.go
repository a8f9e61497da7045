package events

import (
	"maps"
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
// order; subscribing and unsubscribing do not wait for them. The
// subscriptions are kept in an immutable index that Subscribe and Close
// replace (copy on write) and Publish reads without a lock, so that the
// filters and authorization checks run outside the lock that guards the
// index: a slow filter delays the events, never a Subscribe or a Close.
// Subscriptions whose filter pins the event's space (or, failing that, its
// exact type) are indexed under it, so that a Publish evaluates only the
// subscriptions that may want the event plus those with no pin: see
// BenchmarkPublish10k.
type Bus struct {
	// pub serialises publishers and guards what follows.
	pub   sync.Mutex
	seq   uint64
	gone  []*Subscription // scratch for Publish: subscriptions closed by overflow
	woken []*Subscription // scratch for Publish: readers to wake

	// mu serialises the changes of the index and guards n; Publish takes
	// it only to unindex the subscriptions it ended by overflow.
	mu  sync.Mutex
	idx atomic.Pointer[index]
	n   int // open subscriptions

	// The readers to wake, handed from Publish to a short-lived goroutine
	// (wakeAll), so that a Publish to many idle readers does not pay for
	// rescheduling each of them.
	wakeMu sync.Mutex
	wakeQ  []*Subscription
	waking bool // wakeAll is running
	now    func() time.Time
}

// index is a snapshot of the open subscriptions, never changed once
// published through Bus.idx, except that a slice may grow in place beyond
// the length the snapshots before it see (see appendTo).
type index struct {
	bySpace map[string][]*Subscription
	byType  map[string][]*Subscription
	rest    []*Subscription
}

// New returns an empty Bus.
func New() *Bus {
	b := &Bus{now: time.Now}
	b.idx.Store(&index{bySpace: map[string][]*Subscription{}, byType: map[string][]*Subscription{}})
	return b
}

// Publish sends e to every subscriber whose filter accepts it, and returns
// e as sent (with Seq and Time set). It never blocks on a subscriber: one
// whose buffer is full loses the event (see Subscription.Dropped).
//
// The event is copied once and the subscribers share that copy: queuing it
// for one is a pointer store under that subscription's own lock, and a
// waiting reader is woken only when its queue was empty (see Ready). For
// each subscription the authorization check (SubscribeOptions.Allow) runs
// first and the filter only for the events it allows.
func (b *Bus) Publish(e Event) Event {
	b.pub.Lock()
	defer b.pub.Unlock()
	b.seq++
	e.Seq = b.seq
	if e.Time.IsZero() {
		e.Time = b.now().UTC()
	}
	shared := new(Event)
	*shared = e
	x := b.idx.Load()
	for _, s := range x.bySpace[e.Space] {
		b.offer(s, shared)
	}
	for _, s := range x.byType[e.Type] {
		b.offer(s, shared)
	}
	for _, s := range x.rest {
		b.offer(s, shared)
	}
	if len(b.gone) > 0 {
		b.mu.Lock()
		for i, s := range b.gone {
			b.unindex(s)
			b.gone[i] = nil
		}
		b.mu.Unlock()
		b.gone = b.gone[:0]
	}
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

// offer queues e for s if s may and wants to have it; b.pub is held, b.mu
// is not. The authorization check runs before the filter: it is the cheap
// one (a map lookup), and it spares the filters of subscribers who may not
// see the event at all.
func (b *Bus) offer(s *Subscription, e *Event) {
	if s.ended.Load() || (s.allow != nil && !s.allow(e)) || (s.match != nil && !s.match(e)) {
		return
	}
	s.mu.Lock()
	if s.ended.Load() { // closed while the filter ran
		s.mu.Unlock()
		return
	}
	queued, wake := s.push(e)
	overflow := !queued && s.closeOnOverflow
	if overflow {
		s.overflowed.Store(true)
		s.end() // delivers nothing more; unindexed after the loop
	}
	s.mu.Unlock()
	switch {
	case overflow:
		s.dropped.Add(1)
		s.signal()
		b.gone = append(b.gone, s)
	case !queued:
		s.dropped.Add(1)
	case wake:
		b.woken = append(b.woken, s)
	}
}

// Subscribe registers a subscriber for the events filter accepts (all if
// filter is nil), buffering up to buf of them (at least 1). The caller must
// Close it. The filter runs in Publish, which it delays: it must be fast
// and must not Publish. A subscription with a func filter is evaluated on
// every Publish; prefer SubscribeWith and a Filter, which the bus can
// index.
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
	// (an authorization check, say). It runs before Filter, for every
	// event the index hands to the subscription, in Publish: it must be
	// fast, must not keep e and must not Publish.
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
	x := b.idx.Load()
	y := *x
	switch {
	case s.spaces != nil:
		y.bySpace = maps.Clone(x.bySpace)
		for _, k := range s.spaces {
			y.bySpace[k] = appendTo(x.bySpace[k], s)
		}
	case s.types != nil:
		y.byType = maps.Clone(x.byType)
		for _, k := range s.types {
			y.byType[k] = appendTo(x.byType[k], s)
		}
	default:
		y.rest = appendTo(x.rest, s)
	}
	b.idx.Store(&y)
	s.indexed = true
	b.n++
	return s
}

// appendTo appends s to l, the latest version of an index slice; b.mu is
// held. Growing in place is safe: the snapshots that share l's array see
// only its first len(l) elements, and only the latest version of a slice
// is ever appended to (a removal makes a new array).
func appendTo(l []*Subscription, s *Subscription) []*Subscription {
	return append(l, s)
}

// unindex takes s out of the index, once; b.mu is held.
func (b *Bus) unindex(s *Subscription) {
	if !s.indexed {
		return
	}
	s.indexed = false
	b.n--
	x := b.idx.Load()
	y := *x
	switch {
	case s.spaces != nil:
		y.bySpace = maps.Clone(x.bySpace)
		for _, k := range s.spaces {
			if l := without(x.bySpace[k], s); len(l) > 0 {
				y.bySpace[k] = l
			} else {
				delete(y.bySpace, k)
			}
		}
	case s.types != nil:
		y.byType = maps.Clone(x.byType)
		for _, k := range s.types {
			if l := without(x.byType[k], s); len(l) > 0 {
				y.byType[k] = l
			} else {
				delete(y.byType, k)
			}
		}
	default:
		y.rest = without(x.rest, s)
	}
	b.idx.Store(&y)
}

// without returns a copy of l without s, in a new array (Publish may be
// reading l).
func without(l []*Subscription, s *Subscription) []*Subscription {
	out := make([]*Subscription, 0, max(len(l)-1, 0))
	for _, x := range l {
		if x != s {
			out = append(out, x)
		}
	}
	return out
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
	indexed         bool // guarded by bus.mu
	once            sync.Once
	wake            chan struct{}              // 1 slot: events queued, or the end
	c               atomic.Pointer[chan Event] // set by C (under mu): events go there instead of ring
	// ended is set (under mu) when the subscription is closed or
	// overflowed: nothing more is queued. Read without mu, it is a hint.
	ended atomic.Bool

	mu   sync.Mutex // guards what follows
	size int        // the queue's bound
	ring []*Event   // the queue, from head, n long; allocated at the first event
	head int
	n    int
}

// end marks s ended and closes its channel, once; s.mu is held. The
// caller signals the reader after unlocking.
func (s *Subscription) end() {
	if s.ended.Load() {
		return
	}
	s.ended.Store(true)
	if c := s.c.Load(); c != nil {
		close(*c) // sends happen under s.mu, for subscriptions not ended
	}
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
	if c := s.c.Load(); c != nil {
		// Read through C: a copy on its channel.
		select {
		case *c <- *e:
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
	ended := s.ended.Load()
	if ended && len(dst) > n0 {
		// The end's signal may have been one with the signal for these
		// events: the reader must come back for the end.
		s.signal()
	}
	return dst, len(dst) > n0 || !ended
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
	if s.ended.Load() {
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
		b.unindex(s) // unless an overflow has
		b.mu.Unlock()
		s.mu.Lock()
		s.end()
		s.mu.Unlock()
		s.signal()
	})
}
