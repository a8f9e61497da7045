// Package natsbus shares an events.Bus between the replicas of a server
// through a NATS JetStream stream: every replica publishes its events to
// the stream, and every replica's Bus delivers the stream's events, all
// replicas' alike, in the stream's order, with the stream's sequence as
// their Seq. A websocket subscriber connected to any replica then sees what
// happens on every replica, with the same seqs everywhere, so that a since
// given to one replica means the same on another.
//
// It imports nothing of Wharf but events. docs/events.md ("Several
// replicas: NATS") is the user's guide; the choices in short:
//
//   - One stream (default WHARF_EVENTS) on the subjects <prefix>.<type>
//     (default prefix wharf.events: wharf.events.node.created), file
//     storage, limits retention (100,000 messages, 64 MiB, 24 hours, the
//     oldest discarded), a two-minute window of duplicate suppression. A
//     stream that exists is used as it is: an operator may tune it.
//   - Seq = the stream's creation time in microseconds + the message's
//     stream sequence: identical on every replica, above the seqs of a run
//     without NATS, and above every seq of an earlier stream of the same
//     name (a stream deleted and made again starts higher).
//   - Publish waits for the stream's acknowledgement (Nats-Msg-Id set, so a
//     retried publish is stored once) and for its own delivery back, at
//     most Config.Timeout and events.Config.Wait. Transient events
//     (upload.progress, processing.step) go through the stream too: they
//     then keep their order with the others; they are rare (two a second
//     per upload at most) and the Bus does not keep them for replay.
//   - NATS unreachable: Publish fails at once (no buffering while
//     disconnected), the event is counted lost, this replica's
//     subscriptions are ended as on an overflow, and once NATS is back a
//     marker (<prefix>._lost) tells every replica, whose subscriptions
//     overflow and whose sinces from before it become too old (410).
//   - A replica starting reads the last events of the stream (as many as
//     its Bus keeps for replay) before it serves, so that a subscriber
//     reconnecting to it with a since from another replica is replayed.
package natsbus

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wharfhq/wharf/events"
)

// Defaults of Config.
const (
	DefaultStream   = "WHARF_EVENTS"
	DefaultSubject  = "wharf.events"
	DefaultMaxMsgs  = 100_000
	DefaultMaxBytes = 64 << 20
	DefaultMaxAge   = 24 * time.Hour
)

// Headers of the stream's messages.
const (
	hdrOrigin = "Wharf-Origin" // the id of the replica that published it
	hdrLost   = "Wharf-Lost"   // on a marker: how many events were lost
)

// Config configures Open.
type Config struct {
	// URL is the NATS server (nats://host:4222, or several separated by
	// commas), with options as a query: stream (the stream's name),
	// subject (the subjects' prefix) and replicas (the stream's replicas
	// in a NATS cluster, when Wharf creates it).
	URL string
	// Bus configures the Bus Open makes (its LogEvents and LogBytes; its
	// FirstSeq and Relay are set by Open).
	Bus events.Config
	// Timeout bounds a publish (the stream's acknowledgement) and the
	// connection to NATS. 0: 2 seconds.
	Timeout time.Duration
	// Logger receives the connection's news. Nil: slog.Default().
	Logger *slog.Logger
	// Stream limits, when Wharf creates the stream. 0: the defaults.
	MaxMsgs  int64
	MaxBytes int64
	MaxAge   time.Duration
}

// Stats counts what a Relay did since Open.
type Stats struct {
	Published  uint64 // events stored in the stream by this replica
	Failed     uint64 // events this replica could not store (lost)
	Delivered  uint64 // events of the stream delivered to its Bus
	LostMarked uint64 // markers of lost events read from the stream
	Resets     uint64 // times the stream was found made again
}

// Relay is an events.Relay on a NATS JetStream stream. Open makes it and
// its Bus; the caller closes it (Close) after the last Publish. Its
// methods are safe for concurrent use.
type Relay struct {
	cfg      Config
	stream   string
	subject  string
	id       string // this replica's, in hdrOrigin
	log      *slog.Logger
	nc       *nats.Conn
	js       jetstream.JetStream
	bus      *events.Bus
	msgID    atomic.Uint64
	replicas int // of the stream, when Wharf makes it

	mu      sync.Mutex // guards what follows
	base    uint64     // Seq = base + stream sequence
	created time.Time  // the stream's creation time, base's source
	cc      jetstream.ConsumeContext
	serial  int // of the consumer, for its handler

	pending atomic.Uint64 // lost events not yet told in a marker
	away    atomic.Int64  // when the connection was lost (Unix ns)
	back    atomic.Int64  // when it came back
	kick    chan struct{} // wakes the supervisor (a reconnect)
	stop    chan struct{} // closed by Close
	closing sync.Once
	done    chan struct{}

	published, failed, delivered, lostMarked, resets atomic.Uint64
}

// Open connects to NATS, makes the stream if it does not exist, and
// returns the Relay with its Bus, filled with the stream's recent events
// and consuming the stream from there on.
func Open(ctx context.Context, cfg Config) (*Relay, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	r := &Relay{cfg: cfg, stream: DefaultStream, subject: DefaultSubject, log: cfg.Logger,
		kick: make(chan struct{}, 1), done: make(chan struct{})}
	servers, replicas, err := r.parseURL(cfg.URL)
	r.replicas = replicas
	if err != nil {
		return nil, err
	}
	var idb [9]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return nil, err
	}
	r.id = base64.RawURLEncoding.EncodeToString(idb[:])
	r.nc, err = nats.Connect(servers, nats.Name("wharf"), nats.Timeout(cfg.Timeout),
		nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond),
		// Nothing is buffered while disconnected: a publish then fails
		// at once (Send), rather than being stored late or never.
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(c *nats.Conn, err error) {
			r.away.Store(time.Now().UnixNano())
			if !c.IsClosed() {
				r.log.Warn("events: disconnected from NATS: reconnecting; events published meanwhile are lost", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			r.back.Store(time.Now().UnixNano())
			r.log.Info("events: reconnected to NATS", "server", c.ConnectedUrlRedacted())
			select {
			case r.kick <- struct{}{}:
			default:
			}
		}))
	if err != nil {
		return nil, fmt.Errorf("events: NATS %s: %w", redact(servers), err)
	}
	r.js, err = jetstream.New(r.nc)
	if err != nil {
		r.nc.Close()
		return nil, err
	}
	octx, cancel := context.WithTimeout(ctx, 4*cfg.Timeout)
	defer cancel()
	info, err := r.ensureStream(octx, replicas)
	if err != nil {
		r.nc.Close()
		return nil, err
	}
	// Start with the events a Bus keeps for replay, so that a since from
	// another replica is found here too.
	keep := uint64(10000)
	if cfg.Bus.LogEvents > 0 {
		keep = uint64(cfg.Bus.LogEvents)
	} else if cfg.Bus.LogEvents < 0 {
		keep = 0
	}
	last, first := info.State.LastSeq, info.State.FirstSeq
	start := last + 1
	if keep > 0 && last > 0 {
		start = max(first, last-min(last, keep-1))
	}
	r.base, r.created = baseOf(info.Created), info.Created
	bc := cfg.Bus
	bc.FirstSeq, bc.Relay = r.base+start, r
	if bc.Wait == 0 {
		bc.Wait = cfg.Timeout // for its own delivery, and a since ahead
	}
	r.bus = events.NewBus(bc)
	r.stop = make(chan struct{})
	if err := r.consume(octx, start); err != nil {
		close(r.stop)
		r.nc.Close()
		return nil, err
	}
	// Wait until what was in the stream is read (bounded: a Bus behind
	// waits for a since, SubscribeSince).
	for r.bus.Seq() < r.base+last && octx.Err() == nil {
		select {
		case <-octx.Done():
		case <-time.After(5 * time.Millisecond):
		}
	}
	go r.supervise()
	r.log.Info("events: shared through NATS JetStream", "server", r.nc.ConnectedUrlRedacted(),
		"stream", r.stream, "subjects", r.subject+".>", "seq", r.bus.Seq())
	return r, nil
}

var _ events.Relay = (*Relay)(nil)

// Bus is the Bus the Relay feeds.
func (r *Relay) Bus() *events.Bus { return r.bus }

// Stats returns the counters of the Relay.
func (r *Relay) Stats() Stats {
	return Stats{Published: r.published.Load(), Failed: r.failed.Load(), Delivered: r.delivered.Load(),
		LostMarked: r.lostMarked.Load(), Resets: r.resets.Load()}
}

// Close stops consuming and closes the connection (after a marker of the
// events lost, if NATS is there to take it).
func (r *Relay) Close() error {
	r.closing.Do(func() {
		close(r.stop)
		<-r.done
		r.mu.Lock()
		if r.cc != nil {
			r.cc.Stop()
		}
		r.mu.Unlock()
		r.tellLost()
		r.nc.Close()
	})
	return nil
}

// parseURL splits the flag's value into the servers and the options.
func (r *Relay) parseURL(raw string) (servers string, replicas int, err error) {
	servers, query, _ := strings.Cut(raw, "?")
	if servers == "" {
		return "", 0, errors.New("events: empty NATS URL")
	}
	for s := range strings.SplitSeq(servers, ",") {
		u, err := url.Parse(strings.TrimSpace(s))
		if err != nil || u.Host == "" || (u.Scheme != "nats" && u.Scheme != "tls" && u.Scheme != "ws" && u.Scheme != "wss") {
			return "", 0, fmt.Errorf("events: %q: want nats://HOST:PORT (or tls://, several separated by commas)", redact(s))
		}
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return "", 0, fmt.Errorf("events: NATS URL options: %w", err)
	}
	replicas = 1
	for k, v := range q {
		switch val := v[len(v)-1]; k {
		case "stream":
			if val == "" || strings.ContainsAny(val, ". *>") {
				return "", 0, fmt.Errorf("events: stream=%q: want a name without dots, spaces, * or >", val)
			}
			r.stream = val
		case "subject":
			if val == "" || strings.ContainsAny(val, " *>") || strings.HasPrefix(val, ".") || strings.HasSuffix(val, ".") {
				return "", 0, fmt.Errorf("events: subject=%q: want a subject prefix such as wharf.events", val)
			}
			r.subject = val
		case "replicas":
			if replicas, err = strconv.Atoi(val); err != nil || replicas < 1 || replicas > 5 {
				return "", 0, fmt.Errorf("events: replicas=%q: want 1 to 5", val)
			}
		default:
			return "", 0, fmt.Errorf("events: unknown NATS URL option %q (stream, subject, replicas)", k)
		}
	}
	return servers, replicas, nil
}

// redact hides a password in a URL for messages.
func redact(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		return u.Redacted()
	}
	return s
}

// baseOf is the Seq of a stream's sequence 0: its creation time in
// microseconds.
func baseOf(created time.Time) uint64 { return uint64(created.UnixMicro()) }

// ensureStream returns the stream's info, making the stream if it does not
// exist.
func (r *Relay) ensureStream(ctx context.Context, replicas int) (*jetstream.StreamInfo, error) {
	s, err := r.js.Stream(ctx, r.stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		sc := jetstream.StreamConfig{Name: r.stream, Subjects: []string{r.subject + ".>"},
			Description: "Wharf's events, shared by its replicas",
			Storage:     jetstream.FileStorage, Retention: jetstream.LimitsPolicy, Discard: jetstream.DiscardOld,
			MaxMsgs: r.cfg.MaxMsgs, MaxBytes: r.cfg.MaxBytes, MaxAge: r.cfg.MaxAge,
			Duplicates: 2 * time.Minute, Replicas: replicas}
		if sc.MaxMsgs == 0 {
			sc.MaxMsgs = DefaultMaxMsgs
		}
		if sc.MaxBytes == 0 {
			sc.MaxBytes = DefaultMaxBytes
		}
		if sc.MaxAge == 0 {
			sc.MaxAge = DefaultMaxAge
		}
		s, err = r.js.CreateStream(ctx, sc)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) { // another replica was first
			s, err = r.js.Stream(ctx, r.stream)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("events: NATS JetStream stream %s: %w", r.stream, err)
	}
	return s.CachedInfo(), nil
}

// consume starts (or starts again) the ordered consumer of the stream from
// its sequence start; it replaces the one before, whose handler then does
// nothing.
func (r *Relay) consume(ctx context.Context, start uint64) error {
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy,
		InactiveThreshold: time.Minute}
	if start > 1 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, start
	}
	c, err := r.js.OrderedConsumer(ctx, r.stream, cfg)
	if err != nil {
		return fmt.Errorf("events: NATS JetStream consumer of %s: %w", r.stream, err)
	}
	r.mu.Lock()
	r.serial++
	serial, base := r.serial, r.base
	old := r.cc
	r.mu.Unlock()
	if old != nil {
		old.Stop()
	}
	cc, err := c.Consume(func(m jetstream.Msg) { r.handle(serial, base, m) },
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			r.log.Debug("events: NATS consumer", "err", err)
		}))
	if err != nil {
		return fmt.Errorf("events: NATS JetStream consumer of %s: %w", r.stream, err)
	}
	r.mu.Lock()
	r.cc = cc
	r.mu.Unlock()
	return nil
}

// handle delivers one message of the stream to the Bus.
func (r *Relay) handle(serial int, base uint64, m jetstream.Msg) {
	r.mu.Lock()
	current := serial == r.serial
	r.mu.Unlock()
	if !current {
		return
	}
	md, err := m.Metadata()
	if err != nil {
		return
	}
	seq := base + md.Sequence.Stream
	if strings.HasSuffix(m.Subject(), "._lost") {
		n := m.Headers().Get(hdrLost)
		r.lostMarked.Add(1)
		r.log.Warn("events: a replica lost events while NATS was out of its reach: subscribers are told to reload",
			"lost", n, "origin", m.Headers().Get(hdrOrigin), "seq", seq)
		r.bus.Lost(seq)
		return
	}
	var w wire
	d := json.NewDecoder(bytes.NewReader(m.Data()))
	d.UseNumber()
	if err := d.Decode(&w); err != nil || w.Type == "" {
		r.log.Error("events: unreadable message in the NATS stream, taken as lost", "subject", m.Subject(),
			"seq", seq, "err", err)
		r.bus.Lost(seq)
		return
	}
	e := w.event()
	e.Seq = seq
	e.Remote = m.Headers().Get(hdrOrigin) != r.id
	if r.bus.Deliver(e) {
		r.delivered.Add(1)
	}
}

// supervise watches the stream: made again (its creation time changed,
// or gone), it is consumed from its start with the new base, which the
// Bus takes as a gap; after a reconnect, it tells the events lost.
func (r *Relay) supervise() {
	defer close(r.done)
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-r.kick:
		case <-t.C:
		}
		if r.nc.Status() != nats.CONNECTED {
			continue
		}
		r.check()
		r.tellLost()
	}
}

// check compares the stream with the one consumed.
func (r *Relay) check() {
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.Timeout)
	defer cancel()
	info, err := r.ensureStream(ctx, r.replicas)
	if err != nil {
		r.log.Warn("events: cannot read the NATS stream", "err", err)
		return
	}
	r.mu.Lock()
	same := info.Created.Equal(r.created)
	r.mu.Unlock()
	if same {
		return
	}
	r.resets.Add(1)
	r.log.Warn("events: the NATS stream was made again: its events start over, subscribers are told to reload",
		"stream", r.stream, "created", info.Created)
	r.mu.Lock()
	r.base, r.created = baseOf(info.Created), info.Created
	r.mu.Unlock()
	if err := r.consume(ctx, 1); err != nil {
		r.log.Error("events: cannot consume the NATS stream", "err", err)
	}
}

// tellLost publishes a marker of the events this replica lost, if any.
func (r *Relay) tellLost() {
	n := r.pending.Load()
	if n == 0 || r.nc.Status() != nats.CONNECTED {
		return
	}
	m := nats.NewMsg(r.subject + "._lost")
	m.Header.Set(hdrOrigin, r.id)
	m.Header.Set(hdrLost, strconv.FormatUint(n, 10))
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.Timeout)
	defer cancel()
	if _, err := r.js.PublishMsg(ctx, m, jetstream.WithExpectStream(r.stream)); err != nil {
		r.log.Warn("events: cannot tell the other replicas of the events lost", "err", err)
		return
	}
	r.pending.Add(^(n - 1))
}

// Send stores e in the stream (events.Relay).
func (r *Relay) Send(e *events.Event) (uint64, error) {
	data, err := json.Marshal(wireOf(e))
	if err != nil {
		return 0, r.lose(e, err)
	}
	m := nats.NewMsg(r.subject + "." + e.Type)
	m.Data = data
	m.Header.Set(hdrOrigin, r.id)
	id := r.id + "." + strconv.FormatUint(r.msgID.Add(1), 10)
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.Timeout)
	defer cancel()
	for {
		if err := r.connected(); err != nil {
			return 0, r.lose(e, err)
		}
		// Each try waits for its acknowledgement a part of the bound
		// only: a request sent just as NATS came back can go unanswered
		// (the stream still recovering, the reply inbox not yet
		// subscribed again), and waiting the whole bound for it would
		// lose an event that the next try stores.
		actx, acancel := context.WithTimeout(ctx, r.attempt())
		ack, err := r.js.PublishMsg(actx, m, jetstream.WithMsgID(id), jetstream.WithExpectStream(r.stream))
		acancel()
		if err == nil {
			r.mu.Lock()
			base := r.base
			r.mu.Unlock()
			r.published.Add(1)
			return base + ack.Sequence, nil
		}
		// Tried again, with the same id (stored once), until the bound:
		// when the connection has just dropped (connected then waits
		// for it), or no one answered (the stream's leader is changing,
		// JetStream is restarting).
		again := r.nc.Status() != nats.CONNECTED || errors.Is(err, nats.ErrReconnectBufExceeded) ||
			errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) ||
			errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout)
		if !again || ctx.Err() != nil {
			return 0, r.lose(e, err)
		}
		select {
		case <-ctx.Done():
			return 0, r.lose(e, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// attempt is how long one try of a publish waits for its
// acknowledgement: a quarter of the bound, at least 250 ms.
func (r *Relay) attempt() time.Duration {
	return max(r.cfg.Timeout/4, 250*time.Millisecond)
}

// connected waits, while NATS has been away for less than Config.Timeout,
// for the connection to come back: a short outage (NATS restarting) costs
// publishers a wait, a long one an error at once.
func (r *Relay) connected() error {
	for {
		st := r.nc.Status()
		if st == nats.CONNECTED {
			return nil
		}
		if st != nats.RECONNECTING && st != nats.CONNECTING {
			return fmt.Errorf("NATS connection %s", st)
		}
		away := r.away.Load()
		if away <= r.back.Load() {
			// The disconnection's handler has not run yet: it is now.
			now := time.Now().UnixNano()
			r.away.CompareAndSwap(away, now)
			away = now
		}
		if time.Since(time.Unix(0, away)) >= r.cfg.Timeout {
			return fmt.Errorf("NATS unreachable for more than %v", r.cfg.Timeout)
		}
		select {
		case <-r.stop:
			return errors.New("closed")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// lose counts e lost and returns the error Send gives.
func (r *Relay) lose(e *events.Event, err error) error {
	if !events.Transient(e.Type) {
		r.failed.Add(1)
		r.pending.Add(1)
		r.log.Error("events: event lost: NATS did not store it", "type", e.Type, "space", e.Space, "path", e.Path, "err", err)
	}
	return fmt.Errorf("events: NATS: %w", err)
}

// wire is an Event as the stream holds it: JSON, Before included.
type wire struct {
	Type   string         `json:"type"`
	Time   time.Time      `json:"time"`
	Space  string         `json:"space,omitempty"`
	Path   string         `json:"path,omitempty"`
	Upload string         `json:"upload,omitempty"`
	User   string         `json:"user,omitempty"`
	MIME   string         `json:"mime,omitempty"`
	Size   int64          `json:"size,omitempty"`
	Data   map[string]any `json:"data,omitempty"`
	Before *events.State  `json:"before,omitempty"`
}

func wireOf(e *events.Event) wire {
	return wire{Type: e.Type, Time: e.Time, Space: e.Space, Path: e.Path, Upload: e.Upload, User: e.User,
		MIME: e.MIME, Size: e.Size, Data: e.Data, Before: e.Before}
}

func (w *wire) event() events.Event {
	return events.Event{Type: w.Type, Time: w.Time, Space: w.Space, Path: w.Path, Upload: w.Upload, User: w.User,
		MIME: w.MIME, Size: w.Size, Data: w.Data, Before: w.Before}
}
