package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/events"
	"github.com/wharfhq/wharf/internal/testenv"
	"github.com/wharfhq/wharf/space"
)

// fixture is a real Handler on a real SQLite file and data directory, with
// spaces "a" and "b", behind a stand-in for the server's authentication
// that takes the principal named by the X-Who header. alice is a viewer of
// a, bob an editor of a and b, root an admin, and "tok" alice through a
// token narrowed to a/pub. Space a holds docs/, docs/x.txt, pub/, pub/y.txt.
type evFixture struct {
	h     *Events
	bus   *events.Bus
	tree  *space.Tree
	auth  *auth.Service
	srv   *httptest.Server
	users map[string]*auth.Principal
}

func newEvFixture(t *testing.T, cfg EventsConfig) *evFixture {
	t.Helper()
	ctx := t.Context()
	env := testenv.New(t, testenv.Options{})
	tree, a := env.Tree, env.Auth
	f := &evFixture{bus: events.New(), tree: tree, auth: a, users: map[string]*auth.Principal{}}
	for _, id := range []string{"a", "b"} {
		env.Space(t, id, "Space "+id, 0)
	}
	for _, u := range []struct {
		name  string
		admin bool
		roles map[string]auth.Role
	}{
		{"alice", false, map[string]auth.Role{"a": auth.Viewer}},
		{"bob", false, map[string]auth.Role{"a": auth.Editor, "b": auth.Editor}},
		{"root", true, nil},
	} {
		user := env.User(t, u.name, "correct horse battery staple", u.admin)
		for sp, r := range u.roles {
			env.Grant(t, sp, u.name, r)
		}
		f.users[u.name] = &auth.Principal{User: user, Via: auth.ViaPassword}
	}
	_, secret, err := a.CreateToken(ctx, "alice", auth.TokenOptions{SpaceID: "a", Prefix: "pub"})
	if err != nil {
		t.Fatal(err)
	}
	if f.users["tok"], err = a.AuthenticateToken(ctx, "127.0.0.1:1", secret); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"docs", "pub"} {
		if _, err := tree.Mkdir(ctx, "a", d); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"docs/x.txt", "pub/y.txt"} {
		if _, _, err := tree.Put(ctx, "a", p, strings.NewReader("content of "+p), space.PutOptions{ExpectedSize: -1}); err != nil {
			t.Fatal(err)
		}
	}
	cfg.Bus, cfg.Auth, cfg.Tree = f.bus, a, tree
	h, err := NewEvents(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.h = h
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := f.users[r.Header.Get("X-Who")]; p != nil {
			r = r.WithContext(auth.NewContext(r.Context(), p))
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// message is any message from the server.
type message struct {
	RequestID string          `json:"requestId"`
	Status    int             `json:"status"`
	Result    json.RawMessage `json:"result"`
	Error     string          `json:"error"`
	Channel   string          `json:"channel"`
	Type      string          `json:"type"`
	Scope     string          `json:"scope"`
	Event     *events.Event   `json:"event"`
}

type client struct {
	t      *testing.T
	c      *websocket.Conn
	events []message // events and notices received while waiting for answers
	n      int
}

func (f *evFixture) dial(t *testing.T, who string) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(f.srv.URL, "http")+"/api/v1/events",
		&websocket.DialOptions{HTTPHeader: http.Header{"X-Who": {who}}})
	if err != nil {
		t.Fatalf("dial as %s: %v", who, err)
	}
	c.SetReadLimit(16 << 20)
	t.Cleanup(func() { c.CloseNow() })
	return &client{t: t, c: c}
}

func (c *client) read() message {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.t.Context(), 5*time.Second)
	defer cancel()
	var m message
	if err := wsjson.Read(ctx, c.c, &m); err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return m
}

// do sends req with a fresh requestId and returns the answer, keeping the
// events that arrive before it.
func (c *client) do(req map[string]any) message {
	c.t.Helper()
	c.n++
	id := fmt.Sprintf("r%d", c.n)
	req["requestId"] = id
	if err := wsjson.Write(c.t.Context(), c.c, req); err != nil {
		c.t.Fatalf("write: %v", err)
	}
	for {
		m := c.read()
		if m.RequestID == id {
			return m
		}
		if m.RequestID != "" || m.Status != 0 {
			c.t.Fatalf("answer %+v to another request than %s", m, id)
		}
		c.events = append(c.events, m)
	}
}

func (c *client) subscribe(filter string) string {
	c.t.Helper()
	m := c.do(map[string]any{"action": "subscribe", "filter": json.RawMessage(filter)})
	var res struct{ Channel string }
	if m.Status != 200 || json.Unmarshal(m.Result, &res) != nil || res.Channel == "" {
		c.t.Fatalf("subscribe %s: %+v", filter, m)
	}
	return res.Channel
}

// until reads events until one of channel ch has path p, and returns all
// those received (kept ones first).
func (c *client) until(ch, p string) []message {
	c.t.Helper()
	got := c.events
	c.events = nil
	for _, m := range got {
		if m.Channel == ch && m.Event != nil && m.Event.Path == p {
			return got
		}
	}
	for {
		m := c.read()
		got = append(got, m)
		if m.Channel == ch && m.Event != nil && m.Event.Path == p {
			return got
		}
	}
}

func paths(ms []message, ch string) string {
	var out []string
	for _, m := range ms {
		if m.Channel == ch && m.Event != nil {
			out = append(out, m.Event.Space+":"+m.Event.Path)
		}
	}
	return strings.Join(out, " ")
}

func TestSubscribeAuthorization(t *testing.T) {
	f := newEvFixture(t, EventsConfig{})
	tests := []struct {
		who, filter string
		want        string // the events received, before the sentinel
	}{
		{"alice", `{}`, "a:1 a:pub/2 a:4"},
		{"alice", `{"space":"b"}`, ""},
		{"alice", `{"or":[{"space":"b"},{"not":{"space":"a"}}]}`, ""},
		{"alice", `{"type":"node.*"}`, "a:1 a:pub/2"},
		{"bob", `{}`, "a:1 a:pub/2 b:3 a:4"},
		{"bob", `{"space":["b","c"]}`, "b:3"},
		{"root", `{}`, "a:1 a:pub/2 b:3 :spaceless a:4"},
		{"tok", `{}`, "a:pub/2"},
	}
	var clients []*client
	var chans []string
	for _, tt := range tests {
		c := f.dial(t, tt.who)
		clients = append(clients, c)
		chans = append(chans, c.subscribe(tt.filter))
	}
	f.bus.Publish(events.Event{Type: events.NodeCreated, Space: "a", Path: "1"})
	f.bus.Publish(events.Event{Type: events.NodeCreated, Space: "a", Path: "pub/2"})
	f.bus.Publish(events.Event{Type: events.NodeCreated, Space: "b", Path: "3"})
	f.bus.Publish(events.Event{Type: events.CommitPushed, Path: "spaceless"})
	f.bus.Publish(events.Event{Type: events.UploadCompleted, Space: "a", Path: "4"})
	// The sentinel reaches every subscriber (a pub/ path in space a, of
	// every type their filters ask), and comes last.
	for _, sp := range []string{"a", "b"} {
		f.bus.Publish(events.Event{Type: events.NodeDeleted, Space: sp, Path: "pub/end"})
	}
	for i, tt := range tests {
		t.Run(tt.who+" "+tt.filter, func(t *testing.T) {
			sentinel := "a:pub/end"
			if tt.filter == `{"space":["b","c"]}` || tt.filter == `{"space":"b"}` || strings.Contains(tt.filter, `"not"`) {
				sentinel = "b:pub/end"
			}
			var got []message
			if tt.who == "alice" && sentinel == "b:pub/end" {
				// Nothing may come: check that the socket stays silent
				// while a newer event reaches a parallel subscriber.
				got = clients[i].silence()
			} else {
				sp, p, _ := strings.Cut(sentinel, ":")
				got = clients[i].until(chans[i], p)
				if last := got[len(got)-1].Event; last.Space != sp {
					t.Errorf("sentinel from %q, want %q", last.Space, sp)
				}
				got = got[:len(got)-1]
			}
			if p := paths(got, chans[i]); p != tt.want {
				t.Errorf("%s with %s received %q, want %q", tt.who, tt.filter, p, tt.want)
			}
			for _, m := range got {
				if m.Channel != chans[i] || m.Event == nil || m.Event.Seq == 0 || m.Event.Type == "" {
					t.Errorf("bad event message %+v", m)
				}
			}
		})
	}
}

// silence returns what the socket receives within 200 ms; it is used where
// nothing may arrive.
func (c *client) silence() []message {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.t.Context(), 200*time.Millisecond)
	defer cancel()
	var got []message
	for {
		var m message
		if err := wsjson.Read(ctx, c.c, &m); err != nil {
			return got
		}
		got = append(got, m)
	}
}

func TestRevokedRoleStopsEvents(t *testing.T) {
	f := newEvFixture(t, EventsConfig{RolesEvery: 20 * time.Millisecond})
	c := f.dial(t, "bob")
	ch := c.subscribe(`{}`)
	f.bus.Publish(events.Event{Type: events.NodeCreated, Space: "b", Path: "before"})
	c.until(ch, "before")
	if err := f.auth.Revoke(t.Context(), "b", "bob"); err != nil {
		t.Fatal(err)
	}
	// Within a few role readings, b's events stop; a's go on.
	deadline := time.Now().Add(5 * time.Second)
	for i := 0; ; i++ {
		f.bus.Publish(events.Event{Type: events.NodeCreated, Space: "b", Path: fmt.Sprint("b", i)})
		f.bus.Publish(events.Event{Type: events.NodeCreated, Space: "a", Path: fmt.Sprint("a", i)})
		got := c.until(ch, fmt.Sprint("a", i))
		if len(got) == 1 {
			break // b's was not delivered
		}
		if time.Now().After(deadline) {
			t.Fatal("events of a revoked space still delivered after 5 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// And then never again.
	f.bus.Publish(events.Event{Type: events.NodeCreated, Space: "b", Path: "after"})
	f.bus.Publish(events.Event{Type: events.NodeCreated, Space: "a", Path: "sentinel"})
	if got := c.until(ch, "sentinel"); len(got) != 1 {
		t.Errorf("received %q after the revocation", paths(got, ch))
	}

	// A deleted account closes the socket.
	if err := f.auth.RemoveUser(t.Context(), "bob"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, _, err := c.c.Read(ctx)
	if s := websocket.CloseStatus(err); s != websocket.StatusPolicyViolation {
		t.Errorf("after the account was removed: %v (status %d), want close %d", err, s, websocket.StatusPolicyViolation)
	}
}

func TestUnsubscribe(t *testing.T) {
	f := newEvFixture(t, EventsConfig{})
	c := f.dial(t, "alice")
	c1, c2 := c.subscribe(`{}`), c.subscribe(`{"type":"node.created"}`)
	if c1 == c2 {
		t.Fatalf("two subscriptions on channel %s", c1)
	}
	f.bus.Publish(events.Event{Type: events.NodeCreated, Space: "a", Path: "x"})
	got := c.until(c2, "x")
	if paths(got, c1) == "" {
		got = append(got, c.until(c1, "x")...)
	}
	if paths(got, c1) != "a:x" || paths(got, c2) != "a:x" {
		t.Fatalf("got %+v", got)
	}
	if m := c.do(map[string]any{"action": "unsubscribe", "channel": c2}); m.Status != 200 {
		t.Fatalf("unsubscribe: %+v", m)
	}
	if m := c.do(map[string]any{"action": "unsubscribe", "channel": c2}); m.Status != 404 || m.Error != `channel: no channel "c2"` {
		t.Errorf("second unsubscribe: %+v", m)
	}
	f.bus.Publish(events.Event{Type: events.NodeCreated, Space: "a", Path: "y"})
	if got := c.until(c1, "y"); paths(got, c2) != "" {
		t.Errorf("unsubscribed channel got %q", paths(got, c2))
	}
	if n := f.bus.Len(); n != 1 {
		t.Errorf("bus has %d subscriptions, want 1", n)
	}
	c.c.Close(websocket.StatusNormalClosure, "")
	waitFor(t, func() bool { return f.bus.Len() == 0 }, "subscriptions closed with the socket")
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestOverflow(t *testing.T) {
	f := newEvFixture(t, EventsConfig{QueueSize: 4})
	c := f.dial(t, "alice")
	slow := c.subscribe(`{"space":"a"}`)
	// The client reads nothing while thousands of events are published:
	// the socket's buffers fill, then the queue.
	const n = 20000
	big := strings.Repeat("x", 1000)
	for i := range n {
		f.bus.Publish(events.Event{Type: events.NodeUpdated, Space: "a", Path: fmt.Sprint(i), Data: map[string]any{"pad": big}})
	}
	var seqs []uint64
	for {
		m := c.read()
		if m.Type == "overflow" {
			if m.Channel != slow {
				t.Errorf("overflow of channel %q, want %q", m.Channel, slow)
			}
			break
		}
		if m.Channel != slow || m.Event == nil {
			t.Fatalf("unexpected %+v", m)
		}
		seqs = append(seqs, m.Event.Seq)
	}
	if len(seqs) == 0 || len(seqs) >= n {
		t.Fatalf("%d events before the overflow, want some and not all", len(seqs))
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			t.Fatalf("gap before the overflow: #%d after #%d", seqs[i], seqs[i-1])
		}
	}
	// The subscription is gone; the client may subscribe again.
	if m := c.do(map[string]any{"action": "unsubscribe", "channel": slow}); m.Status != 404 {
		t.Errorf("unsubscribe after overflow: %+v", m)
	}
	again := c.subscribe(`{"space":"a"}`)
	f.bus.Publish(events.Event{Type: events.NodeUpdated, Space: "a", Path: "fresh"})
	if got := c.until(again, "fresh"); paths(got, slow) != "" {
		t.Errorf("overflowed channel still delivers: %q", paths(got, slow))
	}
}

func TestRequests(t *testing.T) {
	f := newEvFixture(t, EventsConfig{MaxSubscriptions: 3})
	long := strings.Repeat("x", 2000)
	tests := []struct {
		name, who string
		req       string
		status    int
		want      string // in the error, or in the result
	}{
		{"get file", "alice", `{"action":"get","space":"a","path":"docs/x.txt"}`, 200,
			`"space":"a","path":"docs/x.txt","name":"x.txt","isDir":false,"size":21,`},
		{"get file, leading slash", "alice", `{"action":"get","space":"a","path":"/docs/x.txt"}`, 200, `"name":"x.txt"`},
		{"get root", "alice", `{"action":"get","space":"a"}`, 200, `"path":"","name":"","isDir":true`},
		{"list root", "alice", `{"action":"list","space":"a","path":""}`, 200, `"path":"docs","name":"docs","isDir":true`},
		{"list dir", "bob", `{"action":"list","space":"a","path":"docs"}`, 200, `[{"id":`},
		{"list empty", "bob", `{"action":"list","space":"b","path":"/"}`, 200, `[]`},
		{"admin anywhere", "root", `{"action":"get","space":"a","path":"pub/y.txt"}`, 200, `"mime":"text/plain`},
		{"hidden space", "alice", `{"action":"list","space":"b","path":""}`, 404, "not found"},
		{"hidden space get", "alice", `{"action":"get","space":"b","path":""}`, 404, "not found"},
		{"no such space", "root", `{"action":"get","space":"zz","path":""}`, 404, "not found"},
		{"no such node", "alice", `{"action":"get","space":"a","path":"nope"}`, 404, "not found"},
		{"outside token", "tok", `{"action":"get","space":"a","path":"docs/x.txt"}`, 404, "not found"},
		{"inside token", "tok", `{"action":"list","space":"a","path":"pub"}`, 200, `"name":"y.txt"`},
		{"bad path", "alice", `{"action":"get","space":"a","path":"../x"}`, 400, "path: invalid path"},
		{"list a file", "alice", `{"action":"list","space":"a","path":"docs/x.txt"}`, 400, "path: not a directory"},
		{"missing space", "alice", `{"action":"get","path":"x"}`, 400, "space: required"},
		{"unknown action", "alice", `{"action":"watch"}`, 400, `action: unknown action "watch" (use subscribe, unsubscribe, get or list)`},
		{"no action", "alice", `{}`, 400, `action: missing`},
		{"field of wrong type", "alice", `{"action":"get","space":5}`, 400, "bad message: space: want a string, got number"},
		{"not JSON", "alice", `{"action":`, 400, "bad message: "},
		{"bad filter", "alice", `{"action":"subscribe","filter":{"and":[{},{},{"range":{"field":"size","gtt":3}}]}}`, 400,
			`filter: and[2].range: unknown bound "gtt"`},
		{"bad filter field", "alice", `{"action":"subscribe","filter":{"equals":{"field":"colour","value":1}}}`, 400,
			`filter: equals.field: unknown field "colour"`},
		{"long filter string", "alice", `{"action":"subscribe","filter":{"path":"` + long + `"}}`, 400,
			`filter: path: string longer than 1024 bytes`},
	}
	clients := map[string]*client{}
	outer := t
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := clients[tt.who]
			if c == nil {
				c = f.dial(outer, tt.who)
				clients[tt.who] = c
			}
			c.t = t
			var req map[string]any
			if err := json.Unmarshal([]byte(tt.req), &req); err != nil {
				// Sent as is: the server must answer the broken message.
				c.n++
				if err := c.c.Write(t.Context(), websocket.MessageText, []byte(tt.req)); err != nil {
					t.Fatal(err)
				}
				m := c.read()
				if m.Status != tt.status || !strings.Contains(m.Error, tt.want) {
					t.Errorf("got %+v, want %d %q", m, tt.status, tt.want)
				}
				return
			}
			m := c.do(req)
			if m.Status != tt.status {
				t.Fatalf("status %d (%s %s), want %d", m.Status, m.Error, m.Result, tt.status)
			}
			got := m.Error
			if tt.status == 200 {
				got = string(m.Result)
			}
			if !strings.Contains(got, tt.want) {
				t.Errorf("got %s\nwant it to hold %s", got, tt.want)
			}
		})
	}

	t.Run("node JSON", func(t *testing.T) {
		c := f.dial(t, "alice")
		m := c.do(map[string]any{"action": "get", "space": "a", "path": "docs/x.txt"})
		var n map[string]any
		if err := json.Unmarshal(m.Result, &n); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"id", "path", "name", "isDir", "size", "mtime", "etag", "mime", "sha256"} {
			if _, ok := n[k]; !ok {
				t.Errorf("node JSON %s has no %q", m.Result, k)
			}
		}
	})

	t.Run("subscription limit", func(t *testing.T) {
		c := f.dial(t, "alice")
		for range 3 {
			c.subscribe(`{}`)
		}
		m := c.do(map[string]any{"action": "subscribe", "filter": map[string]any{}})
		if m.Status != 429 || m.Error != "too many subscriptions: at most 3 per socket" {
			t.Errorf("4th subscription: %+v", m)
		}
		if m := c.do(map[string]any{"action": "unsubscribe", "channel": "c2"}); m.Status != 200 {
			t.Fatalf("unsubscribe: %+v", m)
		}
		if ch := c.subscribe(`{}`); ch != "c4" {
			t.Errorf("new channel %q, want c4 (ids are not reused)", ch)
		}
	})

	t.Run("binary message", func(t *testing.T) {
		c := f.dial(t, "alice")
		if err := c.c.Write(t.Context(), websocket.MessageBinary, []byte(`{"action":"list"}`)); err != nil {
			t.Fatal(err)
		}
		if m := c.read(); m.Status != 400 || m.Error != "messages are JSON text" {
			t.Errorf("got %+v", m)
		}
	})

	t.Run("requestId echoed as given", func(t *testing.T) {
		c := f.dial(t, "alice")
		if err := c.c.Write(t.Context(), websocket.MessageText, []byte(`{"action":"get","requestId":42,"space":"a"}`)); err != nil {
			t.Fatal(err)
		}
		_, data, err := c.c.Read(t.Context())
		if err != nil || !strings.HasPrefix(string(data), `{"requestId":42,"status":200,`) {
			t.Errorf("got %s, %v", data, err)
		}
	})
}

func TestMessageTooBig(t *testing.T) {
	f := newEvFixture(t, EventsConfig{ReadLimit: 1024})
	c := f.dial(t, "alice")
	big := `{"action":"subscribe","filter":{"path":"` + strings.Repeat("x", 2000) + `"}}`
	c.c.Write(t.Context(), websocket.MessageText, []byte(big)) // may fail as the server closes
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, _, err := c.c.Read(ctx)
	if s := websocket.CloseStatus(err); s != websocket.StatusMessageTooBig {
		t.Errorf("got %v (status %d), want close %d", err, s, websocket.StatusMessageTooBig)
	}
}

func TestPing(t *testing.T) {
	f := newEvFixture(t, EventsConfig{PingEvery: 10 * time.Millisecond, WriteTimeout: time.Second})
	c := f.dial(t, "alice")
	ch := c.subscribe(`{}`)
	// The client keeps reading (and so answering pings) through many
	// ping periods: the socket stays open.
	time.Sleep(100 * time.Millisecond)
	f.bus.Publish(events.Event{Type: events.NodeCreated, Space: "a", Path: "alive"})
	c.until(ch, "alive")
}

func TestHandlerRefusals(t *testing.T) {
	f := newEvFixture(t, EventsConfig{})
	ctx := t.Context()
	_, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(f.srv.URL, "http"), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without a principal: %v, %v; want 401", err, resp)
	}
	_, resp, err = websocket.Dial(ctx, "ws"+strings.TrimPrefix(f.srv.URL, "http"),
		&websocket.DialOptions{HTTPHeader: http.Header{"X-Who": {"alice"}, "Origin": {"https://evil.example"}}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("from another origin: %v, %v; want 403", err, resp)
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", f.srv.URL, nil)
	req.Header.Set("X-Who", "alice")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired {
		t.Errorf("plain GET: %d, want 426", resp.StatusCode)
	}
	for _, cfg := range []EventsConfig{{}, {Bus: events.New()}, {Bus: events.New(), Auth: f.auth}, {Bus: events.New(), Auth: f.auth, Tree: f.tree, QueueSize: -1},
		{Bus: events.New(), Auth: f.auth, Tree: f.tree, MaxSocketsPerUser: -1}, {Bus: events.New(), Auth: f.auth, Tree: f.tree, MaxSubscriptionsPerUser: -1}} {
		if _, err := NewEvents(cfg); err == nil {
			t.Errorf("NewHandler(%+v) accepted", cfg)
		}
	}
}

// TestManySockets opens sockets concurrently while events flow, for the
// race detector.
func TestManySockets(t *testing.T) {
	f := newEvFixture(t, EventsConfig{})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
				f.bus.Publish(events.Event{Type: events.NodeCreated, Space: "a", Path: fmt.Sprint(i)})
				time.Sleep(100 * time.Microsecond)
			}
		}
	})
	t.Run("sockets", func(t *testing.T) {
		for i := range 8 {
			who := []string{"alice", "bob"}[i%2]
			t.Run(fmt.Sprint(who, i), func(t *testing.T) {
				t.Parallel()
				c := f.dial(t, who)
				ch := c.subscribe(`{"space":"a"}`)
				for range 5 {
					if m := c.read(); m.Channel != ch || m.Event == nil || m.Event.Space != "a" {
						t.Errorf("unexpected %+v", m)
					}
				}
				c.do(map[string]any{"action": "unsubscribe", "channel": ch})
				c.c.Close(websocket.StatusNormalClosure, "")
			})
		}
	})
	close(stop)
	wg.Wait()
	waitFor(t, func() bool { return f.bus.Len() == 0 }, "all subscriptions closed")
}

// tryDial opens a socket as who, or returns the refusal's status and body.
func (f *evFixture) tryDial(t *testing.T, who string) (*websocket.Conn, int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(f.srv.URL, "http")+"/api/v1/events",
		&websocket.DialOptions{HTTPHeader: http.Header{"X-Who": {who}}})
	if err != nil {
		if resp == nil {
			t.Fatalf("dial as %s: %v", who, err)
		}
		body, _ := io.ReadAll(resp.Body)
		return nil, resp.StatusCode, string(body)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c, http.StatusSwitchingProtocols, ""
}

// TestSocketsPerUser: with the default limits, a user holds at most 8
// sockets whatever the credentials (alice's password and her token count
// together); a 9th is refused with 429 before the upgrade while another
// user still connects; a socket that ends, even abruptly, frees its place.
func TestSocketsPerUser(t *testing.T) {
	f := newEvFixture(t, EventsConfig{})
	alice := f.users["alice"].User.ID
	var mine []*websocket.Conn
	for i := range 8 {
		who := []string{"alice", "tok"}[i%2]
		c, status, body := f.tryDial(t, who)
		if c == nil {
			t.Fatalf("socket %d of alice (as %s): %d %s", i+1, who, status, body)
		}
		mine = append(mine, c)
	}
	for _, who := range []string{"alice", "tok"} {
		_, status, body := f.tryDial(t, who)
		if status != http.StatusTooManyRequests || !strings.Contains(body, "too many event sockets: at most 8 per user") {
			t.Errorf("9th socket of alice (as %s): %d %q, want 429 and the limit", who, status, body)
		}
	}
	bob := f.dial(t, "bob")
	bob.subscribe(`{}`)

	// An abrupt end (no close handshake) frees the place.
	mine[3].CloseNow()
	waitFor(t, func() bool { s, _ := f.h.usageOf(alice); return s == 7 }, "the socket uncounted")
	c, status, body := f.tryDial(t, "alice")
	if c == nil {
		t.Fatalf("alice after closing one: %d %s", status, body)
	}
	mine[3] = c
	for _, c := range mine {
		c.Close(websocket.StatusNormalClosure, "")
	}
	waitFor(t, func() bool { s, n := f.h.usageOf(alice); return s == 0 && n == 0 }, "alice's sockets uncounted")
}

// TestSubscriptionsPerUser: with the default limits, a user holds at most
// 64 subscriptions across their sockets (32 on one); one more is answered
// 429 in the protocol's error form, while another user still subscribes.
// Unsubscribing, an overflow and a socket's end free places; a refused
// filter takes none.
func TestSubscriptionsPerUser(t *testing.T) {
	f := newEvFixture(t, EventsConfig{})
	alice := f.users["alice"].User.ID
	c1, c2, c3 := f.dial(t, "alice"), f.dial(t, "alice"), f.dial(t, "tok")
	for range 32 {
		c1.subscribe(`{"space":"b"}`) // none of these see the flood below
	}
	if m := c1.do(map[string]any{"action": "subscribe", "filter": map[string]any{}}); m.Status != 429 ||
		m.Error != "too many subscriptions: at most 32 per socket" {
		t.Errorf("33rd on one socket: %+v", m)
	}
	for range 32 {
		c2.subscribe(`{"type":"commit.pushed"}`)
	}
	tooMany := func(c *client) {
		t.Helper()
		m := c.do(map[string]any{"action": "subscribe", "filter": map[string]any{}})
		if m.Status != 429 || m.Error != "too many subscriptions: at most 64 per user, across their sockets" {
			t.Errorf("65th subscription of alice: %+v, want 429 and the limit", m)
		}
	}
	tooMany(c3)
	if _, subs := f.h.usageOf(alice); subs != 64 {
		t.Errorf("alice holds %d subscriptions, want 64", subs)
	}
	f.dial(t, "bob").subscribe(`{"space":"b"}`)

	// Unsubscribing frees a place; a bad filter takes none.
	if m := c1.do(map[string]any{"action": "unsubscribe", "channel": "c1"}); m.Status != 200 {
		t.Fatalf("unsubscribe: %+v", m)
	}
	if m := c3.do(map[string]any{"action": "subscribe", "filter": map[string]any{"size": "x"}}); m.Status != 400 {
		t.Errorf("bad filter: %+v", m)
	}
	slow := c3.subscribe(`{"space":"a","path":"pub/flood"}`)
	tooMany(c3)

	// An overflow frees one: c3 reads nothing while thousands of events
	// fill the socket's buffers, then the queue (as in TestOverflow).
	big := strings.Repeat("x", 1000)
	for range 20000 {
		f.bus.Publish(events.Event{Type: events.NodeCreated, Space: "a", Path: "pub/flood", Data: map[string]any{"pad": big}})
	}
	for {
		if m := c3.read(); m.Type == "overflow" && m.Channel == slow {
			break
		}
	}
	waitFor(t, func() bool { _, n := f.h.usageOf(alice); return n == 63 }, "the overflowed subscription uncounted")
	c3.subscribe(`{}`)

	// The end of a socket, abrupt, frees its 32.
	c2.c.CloseNow()
	waitFor(t, func() bool { _, n := f.h.usageOf(alice); return n == 32 }, "the closed socket's subscriptions uncounted")
	c3.subscribe(`{}`)
	c1.c.CloseNow()
	c3.c.CloseNow()
	waitFor(t, func() bool { s, n := f.h.usageOf(alice); return s == 0 && n == 0 }, "alice uncounted")
	waitFor(t, func() bool { return f.bus.Len() == 1 }, "only bob's subscription left")
}
