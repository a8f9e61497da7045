// Events serves GET /api/v1/events, the websocket of the event bus (the
// filter language is package events'). Messages are JSON text. The client
// sends requests, each with a requestId that the answer echoes:
//
//	{"action":"subscribe","requestId":"r1","filter":{"space":"files","type":"node.*"}}
//	→ {"requestId":"r1","status":200,"result":{"channel":"c1","seq":41}}
//	{"action":"unsubscribe","requestId":"r2","channel":"c1"}
//	→ {"requestId":"r2","status":200,"result":{"channel":"c1"}}
//	{"action":"get","requestId":"r3","space":"files","path":"photos/a.jpg"}
//	→ {"requestId":"r3","status":200,"result":{"id":7,"space":"files","path":"photos/a.jpg",…}}
//	{"action":"list","requestId":"r4","space":"files","path":"photos"}
//	→ {"requestId":"r4","status":200,"result":[{…},{…}]}
//
// Errors come back as {"requestId":…,"status":400|404|429|500,"error":"…"}.
// A user holds at most EventsConfig.MaxSocketsPerUser sockets (one more is
// refused with 429 before the upgrade) and MaxSubscriptionsPerUser
// subscriptions across them, MaxSubscriptions on one socket (one more is
// answered 429).
// The events of a subscription arrive as
// {"channel":"c1","scope":"in","event":{…}}, in publication order; scope
// is "out" for an item that left what the filter watches (a subscribe may
// ask for "scope": all, in, out or none). A subscribe with "since" (an
// event's seq, or the seq of an earlier subscribe's answer) first replays
// the events after it from the bus's log, under the same access check as
// live events, or is answered 410 when they are no longer all kept. A subscription whose queue overflows ends with
// {"type":"overflow","channel":"c1"}; the client may subscribe again.
//
// Whatever the filter, a socket only receives events of spaces its caller
// may read (within its token's space and path), and events without a space
// only if the caller is an unrestricted admin. The roles are read when the
// socket opens and again every EventsConfig.RolesEvery, and checked both
// when an event is published and when it is sent: a revoked role stops the
// events within that period; a deleted user or expired token closes the
// socket. get and list check the role at each request.
//
// docs/events.md is the user's guide to all this.

package web

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/events"
	"github.com/wharfhq/wharf/internal/api"
	"github.com/wharfhq/wharf/space"
)

// EventsConfig configures the events websocket (see NewEvents).
type EventsConfig struct {
	// Bus is where the events come from. Required.
	Bus *events.Bus
	// Auth tells which spaces a caller may read. Required.
	Auth *auth.Service
	// Tree answers get and list. Required.
	Tree *space.Tree
	// Logger receives connection errors. Nil: discard.
	Logger *slog.Logger
	// MaxSubscriptions is how many subscriptions one socket may hold at
	// once. 0: 32.
	MaxSubscriptions int
	// MaxSocketsPerUser is how many sockets one user may hold open at
	// once, whatever credentials each was opened with (the web UI opens
	// one per tab); one more is refused with 429 before the upgrade.
	// 0: 8.
	MaxSocketsPerUser int
	// MaxSubscriptionsPerUser is how many subscriptions one user may hold
	// across all their sockets; one more is answered 429. With
	// events.MaxFilterSize and the queues, it bounds what one user's
	// subscriptions cost the server. 0: 64.
	MaxSubscriptionsPerUser int
	// QueueSize is how many events may wait for one subscription before it
	// overflows. Each slot holds an Event (about 150 bytes) and is
	// allocated up front. 0: 64.
	QueueSize int
	// ReadLimit is the largest client message, in bytes; a larger one
	// closes the socket (status 1009). A filter is at most
	// events.MaxFilterSize (8 KiB): one between that and ReadLimit is
	// answered 400. 0: 16 KiB.
	ReadLimit int64
	// PingEvery is how often the server pings the client; a client that
	// does not answer within WriteTimeout is gone. 0: 30 s.
	PingEvery time.Duration
	// WriteTimeout bounds each write and ping: a client that stops reading
	// for that long is disconnected. 0: 10 s.
	WriteTimeout time.Duration
	// RolesEvery is how often an open socket re-reads its user and roles,
	// so that a revoked role or a deleted account stops the events within
	// that time. 0: 10 s.
	RolesEvery time.Duration
	// OriginPatterns are the other origins (host patterns, see
	// websocket.AcceptOptions) whose pages may open the socket. Nil: the
	// request's own host only, which is what keeps another site's page
	// from using a visitor's session cookie.
	OriginPatterns []string
}

// Events serves the events websocket, GET /api/v1/events: see the comment
// at the top of this file for the protocol. It is safe for concurrent use.
type Events struct {
	cfg EventsConfig
	log *slog.Logger

	mu    sync.Mutex
	usage map[int64]*wsUsage // by user id; only users with a socket open
}

// wsUsage is what one user holds: sockets and subscriptions in all.
type wsUsage struct {
	sockets, subs int
}

var _ http.Handler = (*Events)(nil)

// Routes is the events websocket, behind the server's authentication.
func (h *Events) Routes() []api.Route {
	return []api.Route{{Pattern: "GET /api/v1/events", Handler: h, Surface: api.SurfaceEvents}}
}

// NewEvents checks cfg, fills its defaults and returns the handler. The
// caller authenticates requests before it (auth.NewContext): a request
// without a principal is answered 401.
func NewEvents(cfg EventsConfig) (*Events, error) {
	switch {
	case cfg.Bus == nil:
		return nil, errors.New("web: events: Bus is required")
	case cfg.Auth == nil:
		return nil, errors.New("web: events: Auth is required")
	case cfg.Tree == nil:
		return nil, errors.New("web: events: Tree is required")
	case cfg.MaxSubscriptions < 0, cfg.MaxSocketsPerUser < 0, cfg.MaxSubscriptionsPerUser < 0,
		cfg.QueueSize < 0, cfg.ReadLimit < 0, cfg.PingEvery < 0, cfg.WriteTimeout < 0, cfg.RolesEvery < 0:
		return nil, errors.New("web: events: negative limit")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.MaxSubscriptions = cmpOr(cfg.MaxSubscriptions, 32)
	cfg.MaxSocketsPerUser = cmpOr(cfg.MaxSocketsPerUser, 8)
	cfg.MaxSubscriptionsPerUser = cmpOr(cfg.MaxSubscriptionsPerUser, 64)
	cfg.QueueSize = cmpOr(cfg.QueueSize, 64)
	cfg.ReadLimit = cmpOr(cfg.ReadLimit, 16<<10)
	cfg.PingEvery = cmpOr(cfg.PingEvery, 30*time.Second)
	cfg.WriteTimeout = cmpOr(cfg.WriteTimeout, 10*time.Second)
	cfg.RolesEvery = cmpOr(cfg.RolesEvery, 10*time.Second)
	return &Events{cfg: cfg, log: cfg.Logger, usage: map[int64]*wsUsage{}}, nil
}

// openSocket counts a socket of user uid, unless they hold the most they
// may; the caller calls closeSocket when it ends.
func (h *Events) openSocket(uid int64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	u := h.usage[uid]
	if u == nil {
		u = &wsUsage{}
		h.usage[uid] = u
	}
	if u.sockets >= h.cfg.MaxSocketsPerUser {
		return false
	}
	u.sockets++
	return true
}

// closeSocket uncounts a socket of uid, after its subscriptions.
func (h *Events) closeSocket(uid int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	u := h.usage[uid]
	if u.sockets--; u.sockets == 0 && u.subs == 0 {
		delete(h.usage, uid)
	}
}

// addSubscription counts a subscription of uid (who has a socket open),
// unless they hold the most they may.
func (h *Events) addSubscription(uid int64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	u := h.usage[uid]
	if u.subs >= h.cfg.MaxSubscriptionsPerUser {
		return false
	}
	u.subs++
	return true
}

// dropSubscriptions uncounts n subscriptions of uid.
func (h *Events) dropSubscriptions(uid int64, n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.usage[uid].subs -= n
}

// usageOf returns the sockets and subscriptions uid holds (for tests).
func (h *Events) usageOf(uid int64) (sockets, subs int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if u := h.usage[uid]; u != nil {
		return u.sockets, u.subs
	}
	return 0, 0
}

func cmpOr[T int | int64 | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// Messages of the protocol.
type (
	wsRequest struct {
		Action    string          `json:"action"`
		RequestID json.RawMessage `json:"requestId"`
		Filter    json.RawMessage `json:"filter"`
		Channel   string          `json:"channel"`
		Space     string          `json:"space"`
		Path      string          `json:"path"`
		Since     *uint64         `json:"since"` // subscribe: replay the events after this seq
		Scope     string          `json:"scope"` // subscribe: all (""), in, out or none
	}
	wsResponse struct {
		RequestID json.RawMessage `json:"requestId,omitempty"`
		Status    int             `json:"status"`
		Result    any             `json:"result,omitempty"`
		Error     string          `json:"error,omitempty"`
	}
	wsEvent struct {
		Channel string        `json:"channel"`
		Scope   string        `json:"scope"` // "in", or "out": the item left what the filter watches
		Event   *events.Event `json:"event"`
	}
	wsOverflow struct {
		Type    string `json:"type"` // "overflow"
		Channel string `json:"channel"`
	}
	wsSubscribed struct {
		Channel string `json:"channel"`
		// Seq, in a subscribe's answer, is where the channel starts: its
		// since, or the last seq published when it was made. A client
		// whose socket drops before any event came resubscribes with it.
		Seq uint64 `json:"seq,omitzero"`
	}
	// EventNode is a node as get and list answer it.
	EventNode struct {
		ID     int64     `json:"id"`
		Space  string    `json:"space"`
		Path   string    `json:"path"`
		Name   string    `json:"name"`
		IsDir  bool      `json:"isDir"`
		Size   int64     `json:"size"`
		MTime  time.Time `json:"mtime"`
		ETag   string    `json:"etag"`
		MIME   string    `json:"mime,omitempty"`
		SHA256 string    `json:"sha256,omitempty"`
	}
)

func eventNode(n space.Node) EventNode {
	return EventNode{ID: n.ID, Space: n.SpaceID, Path: n.Path, Name: n.Name, IsDir: n.IsDir, Size: n.Size,
		MTime: n.MTime, ETag: n.ETag, MIME: n.MIME, SHA256: n.SHA256}
}

// statusError is a request's failure as the client sees it.
type wsError struct {
	status int
	msg    string
}

func (e *wsError) Error() string { return e.msg }

var errNotFound = &wsError{http.StatusNotFound, "not found"}

// errGone ends a socket whose user or token no longer exists.
var errGone = errors.New("credentials revoked")

// access is what a socket's caller may receive, as of its last reading of
// the roles. It is immutable; the session swaps it.
type wsAccess struct {
	p      *auth.Principal     // with the user as last read
	all    bool                // every space, and events without one (an unrestricted admin)
	spaces map[string]struct{} // else the spaces it may read
}

// allows reports whether the caller may see e: an event of a space it may
// read, within its token's path if any.
func (a *wsAccess) allows(e *events.Event) bool {
	if e.Space == "" {
		return a.all
	}
	if !a.all {
		if _, ok := a.spaces[e.Space]; !ok {
			return false
		}
	}
	return a.p.Covers(e.Space, e.Path)
}

// loadAccess reads p's user and roles afresh. It returns errGone when the
// user was deleted (or replaced) or the token expired.
func (h *Events) loadAccess(ctx context.Context, p *auth.Principal) (*wsAccess, error) {
	u, err := h.cfg.Auth.User(ctx, p.User.Name)
	if errors.Is(err, auth.ErrNotFound) || err == nil && u.ID != p.User.ID {
		return nil, errGone
	}
	if err != nil {
		return nil, err
	}
	if p.Token != nil && p.Token.Expired(time.Now()) {
		return nil, errGone
	}
	q := *p
	q.User = u
	roles, err := h.cfg.Auth.SpaceRoles(ctx, &q)
	if err != nil {
		return nil, err
	}
	a := &wsAccess{p: &q, all: u.Admin && (q.Token == nil || q.Token.SpaceID == ""),
		spaces: make(map[string]struct{}, len(roles))}
	for id, r := range roles {
		if r.Allows(auth.Viewer) {
			a.spaces[id] = struct{}{}
		}
	}
	return a, nil
}

// ServeHTTP upgrades to a websocket and serves it until the client goes.
func (h *Events) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := auth.FromContext(ctx)
	if p == nil {
		http.Error(w, "authentication required", http.StatusUnauthorized)
		return
	}
	// Counted first, and released when the socket ends however it ends:
	// a refusal costs no database read.
	uid := p.User.ID
	if !h.openSocket(uid) {
		http.Error(w, fmt.Sprintf("too many event sockets: at most %d per user; close one (a tab of the web UI holds one) and try again",
			h.cfg.MaxSocketsPerUser), http.StatusTooManyRequests)
		return
	}
	defer h.closeSocket(uid)
	a, err := h.loadAccess(ctx, p)
	if err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, errGone) {
			status = http.StatusUnauthorized
		} else {
			h.log.ErrorContext(r.Context(), "read roles", "user", p.User.Name, "err", err)
		}
		http.Error(w, http.StatusText(status), status)
		return
	}
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: h.cfg.OriginPatterns})
	if err != nil {
		return // Accept has answered
	}
	defer c.CloseNow()
	c.SetReadLimit(h.cfg.ReadLimit)
	s := &wsSession{h: h, c: c, uid: uid, out: make(chan any), chans: map[string]*wsChannel{},
		log: h.log.With("user", p.User.Name)}
	s.access.Store(a)
	s.run(ctx)
}

// session is one socket.
type wsSession struct {
	h      *Events
	c      *websocket.Conn
	uid    int64 // the user, whose sockets and subscriptions are counted
	log    *slog.Logger
	access atomic.Pointer[wsAccess]
	out    chan any // messages for the writer, in order
	wg     sync.WaitGroup

	// mu guards what follows. A channel is counted in the user's
	// subscriptions while it is in chans; whoever takes it out uncounts
	// it.
	mu    sync.Mutex
	chans map[string]*wsChannel
	next  int
}

// channel is one subscription of a session.
type wsChannel struct {
	id  string
	sub *events.Subscription
	// mu orders a forwarded event and an unsubscribe: once gone is set
	// under it, no event of the channel is queued any more.
	mu   sync.Mutex
	gone bool
}

func (s *wsSession) run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		s.wg.Wait() // the reader, and the forwarders it started
		s.mu.Lock()
		for _, ch := range s.chans {
			ch.sub.Close()
		}
		n := len(s.chans)
		clear(s.chans)
		s.mu.Unlock()
		s.h.dropSubscriptions(s.uid, n)
	}()
	s.wg.Go(func() {
		defer cancel()
		s.read(ctx)
	})
	code, reason := s.write(ctx)
	if code != 0 {
		s.c.Close(code, reason)
	}
}

// write sends the queued messages, pings and re-reads the roles, until the
// client goes or the roles reading says to close (with that status).
func (s *wsSession) write(ctx context.Context) (websocket.StatusCode, string) {
	ping := time.NewTicker(s.h.cfg.PingEvery)
	defer ping.Stop()
	roles := time.NewTicker(s.h.cfg.RolesEvery)
	defer roles.Stop()
	for {
		select {
		case <-ctx.Done():
			return 0, ""
		case m := <-s.out:
			wctx, cancel := context.WithTimeout(ctx, s.h.cfg.WriteTimeout)
			err := wsjson.Write(wctx, s.c, m)
			cancel()
			if err != nil {
				return 0, ""
			}
		case <-ping.C:
			pctx, cancel := context.WithTimeout(ctx, s.h.cfg.WriteTimeout)
			err := s.c.Ping(pctx)
			cancel()
			if err != nil {
				return 0, ""
			}
		case <-roles.C:
			a, err := s.h.loadAccess(ctx, s.access.Load().p)
			switch {
			case errors.Is(err, errGone):
				return websocket.StatusPolicyViolation, "credentials revoked"
			case ctx.Err() != nil:
				return 0, ""
			case err != nil:
				// Failing closed: better a reconnect than events the
				// caller may no longer see.
				s.log.ErrorContext(ctx, "re-read roles", "err", err)
				return websocket.StatusTryAgainLater, "try again"
			}
			s.access.Store(a)
		}
	}
}

// send queues m for the writer; false if the session is ending.
func (s *wsSession) send(ctx context.Context, m any) bool {
	select {
	case s.out <- m:
		return true
	case <-ctx.Done():
		return false
	}
}

// read serves the client's messages one after the other.
func (s *wsSession) read(ctx context.Context) {
	for {
		typ, data, err := s.c.Read(ctx)
		if err != nil {
			return
		}
		var req wsRequest
		var res wsResponse
		switch {
		case typ != websocket.MessageText:
			res = wsResponse{Status: http.StatusBadRequest, Error: "messages are JSON text"}
		default:
			if err := json.Unmarshal(data, &req); err != nil {
				// A wrong type leaves the other fields decoded: echo the id.
				res = wsResponse{RequestID: req.RequestID, Status: http.StatusBadRequest, Error: "bad message: " + wsDescribe(err)}
				req = wsRequest{}
				break
			}
			res = s.serve(ctx, &req)
		}
		if !s.send(ctx, res) {
			return
		}
		if ch := s.started(&req, &res); ch != nil {
			// After the answer, so that the channel is known before its events.
			s.wg.Go(func() { s.forward(ctx, ch) })
		}
	}
}

// describe turns a message's decoding error into words for the client.
func wsDescribe(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return fmt.Sprintf("%s: want a %s, got %s", te.Field, te.Type, te.Value)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return "invalid JSON: " + se.Error()
	}
	return err.Error()
}

// serve answers one request.
func (s *wsSession) serve(ctx context.Context, req *wsRequest) wsResponse {
	res, err := s.do(ctx, req)
	if err == nil {
		return wsResponse{RequestID: req.RequestID, Status: http.StatusOK, Result: res}
	}
	// The one place where errors become statuses.
	var se *wsError
	var fe *events.FilterError
	switch {
	case errors.As(err, &se):
		return wsResponse{RequestID: req.RequestID, Status: se.status, Error: se.msg}
	case errors.As(err, &fe):
		return wsResponse{RequestID: req.RequestID, Status: http.StatusBadRequest, Error: "filter: " + fe.Error()}
	case errors.Is(err, events.ErrSinceTooOld):
		return wsResponse{RequestID: req.RequestID, Status: http.StatusGone,
			Error: fmt.Sprintf("since: the events after seq %d are no longer kept: list again, and subscribe without since", *req.Since)}
	case errors.Is(err, space.ErrNotFound):
		return wsResponse{RequestID: req.RequestID, Status: http.StatusNotFound, Error: "not found"}
	case errors.Is(err, space.ErrBadPath):
		return wsResponse{RequestID: req.RequestID, Status: http.StatusBadRequest, Error: "path: invalid path"}
	case errors.Is(err, space.ErrNotDir):
		return wsResponse{RequestID: req.RequestID, Status: http.StatusBadRequest, Error: "path: not a directory"}
	}
	s.log.ErrorContext(ctx, "events request", "action", req.Action, "err", err)
	return wsResponse{RequestID: req.RequestID, Status: http.StatusInternalServerError, Error: "internal error"}
}

func (s *wsSession) do(ctx context.Context, req *wsRequest) (any, error) {
	switch req.Action {
	case "subscribe":
		return s.subscribe(req)
	case "unsubscribe":
		return s.unsubscribe(req)
	case "get", "list":
		return s.node(ctx, req)
	case "":
		return nil, &wsError{http.StatusBadRequest, `action: missing (use subscribe, unsubscribe, get or list)`}
	}
	return nil, &wsError{http.StatusBadRequest,
		fmt.Sprintf("action: unknown action %q (use subscribe, unsubscribe, get or list)", truncate(req.Action))}
}

// subscribe opens a channel. The limits are checked before the filter is
// parsed, so that a client at its limit costs no parsing. Only the reader
// adds channels: the count it reads cannot grow before it adds one.
func (s *wsSession) subscribe(req *wsRequest) (any, error) {
	s.mu.Lock()
	n := len(s.chans)
	s.mu.Unlock()
	if n >= s.h.cfg.MaxSubscriptions {
		return nil, &wsError{http.StatusTooManyRequests,
			fmt.Sprintf("too many subscriptions: at most %d per socket", s.h.cfg.MaxSubscriptions)}
	}
	if !s.h.addSubscription(s.uid) {
		return nil, &wsError{http.StatusTooManyRequests,
			fmt.Sprintf("too many subscriptions: at most %d per user, across their sockets", s.h.cfg.MaxSubscriptionsPerUser)}
	}
	switch req.Scope {
	case "", events.ScopeAll, events.ScopeIn, events.ScopeOut, events.ScopeNone:
	default:
		s.h.dropSubscriptions(s.uid, 1)
		return nil, &wsError{http.StatusBadRequest, fmt.Sprintf("scope: unknown scope %q (use all, in, out or none)", truncate(req.Scope))}
	}
	f, err := events.ParseFilter(req.Filter)
	if err != nil {
		s.h.dropSubscriptions(s.uid, 1)
		return nil, err
	}
	// The same check as the live events', for the replayed ones too.
	o := events.SubscribeOptions{Filter: f, Buffer: s.h.cfg.QueueSize, Scope: req.Scope,
		CloseOnOverflow: true, Allow: func(e *events.Event) bool { return s.access.Load().allows(e) }}
	var sub *events.Subscription
	if req.Since != nil {
		if sub, err = s.h.cfg.Bus.SubscribeSince(o, *req.Since); err != nil {
			s.h.dropSubscriptions(s.uid, 1)
			return nil, err
		}
	} else {
		sub = s.h.cfg.Bus.SubscribeWith(o)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	ch := &wsChannel{id: "c" + strconv.Itoa(s.next), sub: sub}
	s.chans[ch.id] = ch
	return wsSubscribed{Channel: ch.id, Seq: sub.Start()}, nil
}

// started returns the channel that res has just announced, if any.
func (s *wsSession) started(req *wsRequest, res *wsResponse) *wsChannel {
	sub, ok := res.Result.(wsSubscribed)
	if !ok || req.Action != "subscribe" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.chans[sub.Channel]
}

func (s *wsSession) unsubscribe(req *wsRequest) (any, error) {
	s.mu.Lock()
	ch := s.chans[req.Channel]
	delete(s.chans, req.Channel)
	s.mu.Unlock()
	if ch == nil {
		return nil, &wsError{http.StatusNotFound, fmt.Sprintf("channel: no channel %q", truncate(req.Channel))}
	}
	s.h.dropSubscriptions(s.uid, 1)
	ch.mu.Lock()
	ch.gone = true
	ch.mu.Unlock()
	ch.sub.Close()
	return wsSubscribed{Channel: ch.id}, nil
}

// forward sends ch's events to the client, then the overflow notice if
// that is why they ended.
func (s *wsSession) forward(ctx context.Context, ch *wsChannel) {
	var batch []*events.Event
	for open := true; open; {
		select {
		case <-ch.sub.Ready():
		case <-ctx.Done():
			return
		}
		batch, open = ch.sub.Take(batch[:0])
		for i, e := range batch {
			batch[i] = nil
			// Checked again: the roles may have been re-read since Publish.
			if !s.access.Load().allows(e) {
				continue
			}
			ch.mu.Lock()
			ok := !ch.gone && s.send(ctx, wsEvent{Channel: ch.id, Scope: cmp.Or(e.Scope, events.ScopeIn), Event: e})
			ch.mu.Unlock()
			if !ok {
				return
			}
		}
	}
	if !ch.sub.Overflowed() {
		return // unsubscribed, or the session is ending
	}
	s.mu.Lock()
	mine := s.chans[ch.id] == ch
	if mine {
		delete(s.chans, ch.id)
	}
	s.mu.Unlock()
	if mine {
		s.h.dropSubscriptions(s.uid, 1)
		s.log.DebugContext(ctx, "subscription overflowed", "channel", ch.id)
		s.send(ctx, wsOverflow{Type: "overflow", Channel: ch.id})
	}
}

// node answers get (the node) and list (its children). A space the caller
// may not read is not found, like a path outside its token.
func (s *wsSession) node(ctx context.Context, req *wsRequest) (any, error) {
	if req.Space == "" {
		return nil, &wsError{http.StatusBadRequest, "space: required"}
	}
	p, err := space.Clean(req.Path)
	if err != nil {
		return nil, err
	}
	prin := s.access.Load().p
	if _, ok, err := s.h.cfg.Auth.RoleIn(ctx, prin, req.Space); err != nil {
		return nil, err
	} else if !ok || !prin.Covers(req.Space, p) {
		return nil, errNotFound
	}
	if req.Action == "get" {
		n, err := s.h.cfg.Tree.Stat(ctx, req.Space, p)
		if err != nil {
			return nil, err
		}
		return eventNode(n), nil
	}
	ns, err := s.h.cfg.Tree.List(ctx, req.Space, p)
	if err != nil {
		return nil, err
	}
	out := make([]EventNode, len(ns))
	for i, n := range ns {
		out[i] = eventNode(n)
	}
	return out, nil
}

// truncate shortens a client's string for an error message.
func truncate(s string) string {
	const n = 64
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
