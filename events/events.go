package events

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
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

	// Before, if not nil, is the item as it was before the change (a
	// move's old place). A subscriber whose filter matched it, and does
	// not match the event, gets the event all the same, marked Scope
	// "out": the item has left what it watches (see Subscription).
	Before *State `json:"-"`
	// Scope is "out" on an event delivered because its item left the
	// subscription's scope (Before matched, the event does not); "" on
	// the others, which match ("in"). Publish ignores it.
	Scope string `json:"-"`
	// Remote is set on an event that a Relay delivered from another
	// process (Deliver): what only the process where it happened must do
	// (count it in its metrics, say) skips it. Publish clears it.
	Remote bool `json:"-"`
}

// State is what a filter may see of an item before a change: the fields
// of an Event that the change may alter.
type State struct {
	Space, Path, MIME string
	Size              int64
}

// Scopes a subscription may ask for (SubscribeOptions.Scope), as Kuzzle
// names them: the events that match its filter (in), those whose item
// left it (out), both (all, the default) or none.
const (
	ScopeAll  = "all"
	ScopeIn   = "in"
	ScopeOut  = "out"
	ScopeNone = "none"
)

// scope bits of a subscription.
const (
	scopeIn  = 1 << iota
	scopeOut = 1 << iota
)

// previous returns e as it was before its change: the same event with
// Before's fields.
func (e *Event) previous() Event {
	p := *e
	p.Space, p.Path, p.MIME, p.Size = e.Before.Space, e.Before.Path, e.Before.MIME, e.Before.Size
	p.Before = nil
	return p
}

// outOf is the event delivered to a subscriber whose scope e's item left:
// e itself marked out if the subscriber may see where the item went
// (visible), else only where it was (prev) with its id and kind.
func outOf(e, prev *Event, visible bool) *Event {
	var o Event
	if visible {
		o = *e
	} else {
		o = *prev
		o.Data = nil
		for _, k := range []string{"id", "dir"} {
			if v, ok := e.Data[k]; ok {
				if o.Data == nil {
					o.Data = map[string]any{}
				}
				o.Data[k] = v
			}
		}
	}
	o.Before, o.Scope = nil, ScopeOut
	return &o
}

// Transient reports whether events of type typ say how far something has
// gone (upload.progress, processing.step): the next one replaces it, so
// the Bus does not keep them for replay (SubscribeSince).
func Transient(typ string) bool { return typ == UploadProgress || typ == ProcessingStep }

// Config configures a Bus (NewBus).
type Config struct {
	// FirstSeq is the Seq of the first event published. 0: 1. A server
	// starts it from the clock (microseconds since 1970), so that the
	// sequence numbers of one run are above those of the runs before it
	// and a client's since from before a restart is known to be too old.
	FirstSeq uint64
	// LogEvents and LogBytes bound the log of recent events that
	// SubscribeSince replays: at most LogEvents events and about LogBytes
	// bytes of them (an estimate of what they hold). 0: 10,000 events and
	// 16 MiB; negative: no log (every since but the latest is too old).
	LogEvents int
	LogBytes  int64
	// Relay, if not nil, shares the Bus's events with other processes
	// (replicas of a server): Publish hands each event to it instead of
	// delivering it, and the Relay delivers every process's events, its
	// own included, in one order to each Bus with Deliver (see Relay).
	// Nil: the Bus is in-process, and nothing of this applies.
	Relay Relay
	// Wait bounds how long Publish waits for the Relay to deliver an event
	// it has stored, and SubscribeSince for the Relay to deliver up to a
	// since this Bus has not reached yet (one given by another process).
	// 0: 5 seconds. Without a Relay it does not apply.
	Wait time.Duration
}

// Relay carries the events of several Buses, one per process, through a
// shared ordered stream (see events/natsbus). It gives each event its Seq,
// the same in every process, and delivers all the events to each Bus, in
// Seq order, with Deliver; a loss it knows of (events that left the stream
// before a Bus read them, an event some process could not store) it tells
// with Lost.
type Relay interface {
	// Send stores e (Time set, Seq zero) in the stream and returns the Seq
	// it got there. It returns within a bounded time: an error when the
	// event could not be stored (the stream is unreachable), and Publish
	// counts the event lost.
	Send(e *Event) (uint64, error)
}

// ErrSinceTooOld is returned by SubscribeSince when the events after the
// given seq are no longer all in the log (or the seq is not one of this
// Bus): the subscriber must reload what it shows and subscribe without
// since.
var ErrSinceTooOld = errors.New("events: the events after this seq are no longer kept")

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
	last  atomic.Uint64   // seq, for readers without b.pub
	gone  []*Subscription // scratch for Publish: subscriptions closed by overflow
	woken []*Subscription // scratch for Publish: readers to wake
	// The log of recent events, for SubscribeSince: a ring of logCap
	// events from logHead, logN long, of about logBytes bytes. lost is the
	// seq of the last event that left it (FirstSeq-1 at the start): a
	// since below it has missed events.
	log              []*Event
	logCap, logHead  int
	logN             int
	logBytes, logMax int64
	lost             uint64

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

	// The last upload.progress of each upload (see Progress).
	markMu sync.Mutex
	marks  map[string]progressMark

	// With a Relay (see Config.Relay): the relay, the wait bound, and a
	// channel closed (and replaced) when Deliver moves seq, for those
	// who wait for it; guarded by pub. lostLocal counts the events Send
	// could not store.
	relay     Relay
	wait      time.Duration
	moved     chan struct{}
	lostLocal atomic.Uint64
}

// index is a snapshot of the open subscriptions, never changed once
// published through Bus.idx, except that a slice may grow in place beyond
// the length the snapshots before it see (see appendTo).
type index struct {
	bySpace map[string][]*Subscription
	byType  map[string][]*Subscription
	rest    []*Subscription
}

// New returns an empty Bus with the default Config.
func New() *Bus { return NewBus(Config{}) }

// NewBus returns an empty Bus configured by cfg.
func NewBus(cfg Config) *Bus {
	b := &Bus{now: time.Now, logCap: cfg.LogEvents, logMax: cfg.LogBytes, relay: cfg.Relay, wait: cfg.Wait}
	if b.wait <= 0 {
		b.wait = 5 * time.Second
	}
	if cfg.FirstSeq > 0 {
		b.seq = cfg.FirstSeq - 1
		b.last.Store(b.seq)
	}
	b.lost = b.seq
	if b.logCap == 0 {
		b.logCap = 10000
	}
	if b.logMax == 0 {
		b.logMax = 16 << 20
	}
	b.logCap = max(b.logCap, 0)
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
//
// With a Relay (Config.Relay), Publish hands e to it and returns once the
// Relay has stored it and delivered it back to this Bus (see Deliver), or
// after Config.Wait: e then has the Seq it got in the shared stream. An
// event the Relay could not store has Seq 0: it is lost, and the
// subscriptions of this Bus are told so as an overflow would (see Lost),
// unless it is transient.
func (b *Bus) Publish(e Event) Event {
	e.Remote = false
	if b.relay != nil {
		if e.Time.IsZero() {
			e.Time = b.now().UTC()
		}
		return b.publishRelayed(e)
	}
	b.pub.Lock()
	defer b.pub.Unlock()
	b.seq++
	b.last.Store(b.seq)
	e.Seq = b.seq
	if e.Time.IsZero() {
		e.Time = b.now().UTC() // under the lock: times in seq order
	}
	return b.deliver(e)
}

// publishRelayed is Publish through the Relay.
func (b *Bus) publishRelayed(e Event) Event {
	e.Seq, e.Scope = 0, ""
	seq, err := b.relay.Send(&e)
	if err != nil {
		if !Transient(e.Type) {
			b.lostLocal.Add(1)
			b.pub.Lock()
			// No seq up to the next one delivered may be a since: the
			// lost event came after it.
			b.lost = max(b.lost, b.seq+1)
			b.overflowAll()
			b.flush()
			b.pub.Unlock()
		}
		e.Before = nil
		return e
	}
	e.Seq = seq
	b.waitFor(seq)
	e.Before = nil
	return e
}

// LostLocally is the number of events Publish could not hand to the Relay.
func (b *Bus) LostLocally() uint64 { return b.lostLocal.Load() }

// waitFor waits, at most Config.Wait, until the Relay has delivered seq,
// and reports whether it has.
func (b *Bus) waitFor(seq uint64) bool {
	var timer *time.Timer
	for {
		b.pub.Lock()
		if b.seq >= seq {
			b.pub.Unlock()
			return true
		}
		if b.moved == nil {
			b.moved = make(chan struct{})
		}
		moved := b.moved
		b.pub.Unlock()
		if timer == nil {
			timer = time.NewTimer(b.wait)
			defer timer.Stop()
		}
		select {
		case <-moved:
		case <-timer.C:
			return false
		}
	}
}

// Deliver is how a Relay hands this Bus an event from the shared stream
// (this process's own, or another's, marked Remote), with its Seq set,
// in Seq order: the Bus delivers it as Publish does without a Relay. An
// event whose Seq is not above the last one delivered is a duplicate and
// is ignored (false). A jump in Seq (more than one above the last) means
// events this Bus never saw: it tells its subscriptions as Lost does.
func (b *Bus) Deliver(e Event) bool {
	b.pub.Lock()
	defer b.pub.Unlock()
	if e.Seq <= b.seq {
		return false
	}
	if e.Seq > b.seq+1 && b.seq > 0 {
		b.lost = max(b.lost, e.Seq-1)
		b.overflowAll()
	}
	b.seq = e.Seq
	b.last.Store(b.seq)
	if e.Time.IsZero() {
		e.Time = b.now().UTC()
	}
	e.Scope = ""
	b.deliver(e)
	return true
}

// Lost tells the Bus that the events up to seq are lost to it (the Relay
// knows of events that some process could not store, or that left the
// stream unread): a since below seq is too old (SubscribeSince), and every
// open subscription is told as if it had overflowed (CloseOnOverflow ends
// it, others count one Dropped). seq is taken as delivered.
func (b *Bus) Lost(seq uint64) {
	b.pub.Lock()
	defer b.pub.Unlock()
	if seq > b.seq {
		b.seq = seq
		b.last.Store(seq)
	}
	b.lost = max(b.lost, seq)
	b.overflowAll()
	b.flush()
	b.tick()
}

// tick wakes those who wait for seq to move; b.pub is held.
func (b *Bus) tick() {
	if b.moved != nil {
		close(b.moved)
		b.moved = nil
	}
}

// overflowAll tells every open subscription that it lost events: those
// with CloseOnOverflow end, the others count a drop; b.pub is held, the
// caller flushes.
func (b *Bus) overflowAll() {
	x := b.idx.Load()
	seen := map[*Subscription]bool{}
	each := func(l []*Subscription) {
		for _, s := range l {
			if seen[s] {
				continue
			}
			seen[s] = true
			s.mu.Lock()
			if s.ended.Load() {
				s.mu.Unlock()
				continue
			}
			if s.closeOnOverflow {
				s.overflowed.Store(true)
				s.end()
			}
			s.mu.Unlock()
			s.dropped.Add(1)
			if s.closeOnOverflow {
				s.signal()
				b.gone = append(b.gone, s)
			}
		}
	}
	for _, l := range x.bySpace {
		each(l)
	}
	for _, l := range x.byType {
		each(l)
	}
	each(x.rest)
}

// deliver records e (Seq and Time set) and offers it to the subscriptions;
// b.pub is held.
func (b *Bus) deliver(e Event) Event {
	e.Scope = ""
	if e.Before != nil {
		before := *e.Before
		e.Before = &before // the caller's stays the caller's
	}
	shared := new(Event)
	*shared = e
	if !Transient(e.Type) {
		b.record(shared)
	}
	x := b.idx.Load()
	for _, s := range x.bySpace[e.Space] {
		b.offer(s, shared)
	}
	if e.Before != nil && e.Before.Space != e.Space {
		// Those that watch the space the item left, once each.
		for _, s := range x.bySpace[e.Before.Space] {
			if !slices.Contains(s.spaces, e.Space) {
				b.offer(s, shared)
			}
		}
	}
	for _, s := range x.byType[e.Type] {
		b.offer(s, shared)
	}
	for _, s := range x.rest {
		b.offer(s, shared)
	}
	b.flush()
	b.tick()
	e.Before = nil
	return e
}

// flush ends the subscriptions that overflowed and wakes the readers that
// Publish (or a replay) queued events for; b.pub is held.
func (b *Bus) flush() {
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
}

// record appends e to the log, dropping the oldest events beyond its
// bounds; b.pub is held.
func (b *Bus) record(e *Event) {
	if b.logCap == 0 {
		b.lost = e.Seq
		return
	}
	if b.log == nil {
		b.log = make([]*Event, b.logCap)
	}
	size := approxSize(e)
	for b.logN > 0 && (b.logN == b.logCap || b.logBytes+size > b.logMax) {
		old := b.log[b.logHead]
		b.log[b.logHead] = nil
		b.logHead = (b.logHead + 1) % b.logCap
		b.logN--
		b.logBytes -= approxSize(old)
		b.lost = old.Seq
	}
	b.log[(b.logHead+b.logN)%b.logCap] = e
	b.logN++
	b.logBytes += size
}

// approxSize estimates the memory e holds: the struct, its strings and
// what its Data holds.
func approxSize(e *Event) int64 {
	n := int64(unsafe.Sizeof(*e)) + int64(len(e.Type)+len(e.Space)+len(e.Path)+len(e.Upload)+len(e.User)+len(e.MIME))
	if e.Before != nil {
		n += int64(unsafe.Sizeof(*e.Before)) + int64(len(e.Before.Space)+len(e.Before.Path)+len(e.Before.MIME))
	}
	return n + valueSize(e.Data, 0)
}

// valueSize estimates the memory a JSON-like value holds, looking no
// deeper than a few levels (below: a flat guess).
func valueSize(v any, depth int) int64 {
	if depth > 4 {
		return 64
	}
	switch v := v.(type) {
	case string:
		return 16 + int64(len(v))
	case map[string]any:
		n := int64(48)
		for k, x := range v {
			n += 16 + int64(len(k)) + valueSize(x, depth+1)
		}
		return n
	case map[string]string:
		n := int64(48)
		for k, x := range v {
			n += 32 + int64(len(k)+len(x))
		}
		return n
	case []any:
		n := int64(24)
		for _, x := range v {
			n += valueSize(x, depth+1)
		}
		return n
	case []string:
		n := int64(24)
		for _, x := range v {
			n += 16 + int64(len(x))
		}
		return n
	}
	return 16
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
	if s.ended.Load() {
		return
	}
	if e = s.pick(e); e == nil {
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
	// Scope selects, as Kuzzle's subscriptions do, the events that match
	// (ScopeIn), those whose item leaves what the filter and Allow accept
	// (ScopeOut: an Event whose Before they accept and the event itself
	// not, delivered with Scope "out"), or both (ScopeAll). "": all.
	Scope string
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
	s := b.newSubscription(o)
	// Read before the subscription is indexed: the events after it are
	// delivered, or were published while it was being made and are in the
	// log for a SubscribeSince(Start()).
	s.start = b.last.Load()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.index(s)
	return s
}

// SubscribeSince is SubscribeWith for a subscriber who has seen the events
// up to seq since: the subscription starts with the events after it that
// it accepts (Allow and Filter as for live events, out of scope included),
// from the log, then goes on with live events, with neither gap nor
// duplicate between the two. Transient events (see Transient) are not
// kept, so not replayed. The replayed events may exceed o.Buffer: the
// queue holds them all on top of it until the subscriber takes them.
//
// It returns ErrSinceTooOld when some events after since have left the
// log, or since is not a seq of this Bus (beyond the last one, or from
// before FirstSeq). It waits for a Publish under way.
func (b *Bus) SubscribeSince(o SubscribeOptions, since uint64) (*Subscription, error) {
	s := b.newSubscription(o)
	s.start = since
	if b.relay != nil && since > b.last.Load() {
		// A since from another process, which may have delivered it
		// before this one.
		b.waitFor(since)
	}
	b.pub.Lock()
	if since < b.lost || since > b.seq {
		lost, seq := b.lost, b.seq
		b.pub.Unlock()
		return nil, fmt.Errorf("%w: since %d, kept after %d up to %d", ErrSinceTooOld, since, lost, seq)
	}
	// The events after since, from the log (in seq order), and the
	// subscription indexed, under b.pub: the events published from now on
	// are offered live, those before are in the snapshot.
	i := sort.Search(b.logN, func(i int) bool { return b.log[(b.logHead+i)%b.logCap].Seq > since })
	snap := make([]*Event, b.logN-i)
	for j := range snap {
		snap[j] = b.log[(b.logHead+i+j)%b.logCap]
	}
	s.size += len(snap) // room for the replay and the live events meanwhile
	b.mu.Lock()
	b.index(s)
	b.mu.Unlock()
	b.pub.Unlock()
	// The checks and filter run outside the publishers' lock, as in
	// Publish; the live events queued meanwhile come after the replay.
	var replay []*Event
	for _, e := range snap {
		if x := s.pick(e); x != nil {
			replay = append(replay, x)
		}
	}
	if len(replay) == 0 {
		return s, nil
	}
	s.mu.Lock()
	ring := make([]*Event, max(len(replay)+s.n, min(s.size, 16)))
	copy(ring, replay)
	for j := range s.n {
		ring[len(replay)+j] = s.ring[(s.head+j)%len(s.ring)]
	}
	s.ring, s.head, s.n = ring, 0, len(replay)+s.n
	s.mu.Unlock()
	s.signal()
	return s, nil
}

// newSubscription makes the subscription o describes, not yet indexed.
func (b *Bus) newSubscription(o SubscribeOptions) *Subscription {
	s := &Subscription{bus: b, allow: o.Allow, closeOnOverflow: o.CloseOnOverflow,
		size: max(o.Buffer, 1), wake: make(chan struct{}, 1)}
	s.base = s.size
	switch o.Scope {
	case ScopeIn:
		s.scope = scopeIn
	case ScopeOut:
		s.scope = scopeOut
	case ScopeNone:
	default:
		s.scope = scopeIn | scopeOut
	}
	if f := o.Filter; f != nil {
		s.match = f.match
		switch {
		case f.spaces != nil:
			s.spaces = f.spaces
		case f.types != nil:
			s.types = f.types
		}
	}
	return s
}

// index adds s to the index; b.mu is held.
func (b *Bus) index(s *Subscription) {
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

// Seq returns the seq of the last event published (FirstSeq-1 before the
// first).
func (b *Bus) Seq() uint64 {
	b.pub.Lock()
	defer b.pub.Unlock()
	return b.seq
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
	scope           int    // scopeIn, scopeOut
	start           uint64 // see Start
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
	size int        // the queue's bound: base, and a replay's events until taken
	base int
	ring []*Event // the queue, from head, n long; allocated at the first event
	head int
	n    int
}

// pick returns what s is to receive of e: e itself if it matches (scope
// in), its out-of-scope form if its item left what s watches (scope out),
// or nil. The authorization check runs first, then the filter.
func (s *Subscription) pick(e *Event) *Event {
	switch {
	case s.wants(e):
		if s.scope&scopeIn != 0 {
			return e
		}
	case e.Before != nil && s.scope&scopeOut != 0:
		prev := e.previous()
		if s.wants(&prev) {
			return outOf(e, &prev, s.allow == nil || s.allow(e))
		}
	}
	return nil
}

// wants reports whether s accepts e: its authorization check, then its
// filter.
func (s *Subscription) wants(e *Event) bool {
	return (s.allow == nil || s.allow(e)) && (s.match == nil || s.match(e))
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
	s.size = s.base
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

// Start is the seq from which the subscription delivers events: the since
// of SubscribeSince, or the last seq published when SubscribeWith began.
// A subscriber who lost its subscription before any event came may
// resume with SubscribeSince(Start()) and miss nothing (it may receive
// events published while the first subscription was being made).
func (s *Subscription) Start() uint64 { return s.start }

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
