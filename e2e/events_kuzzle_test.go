package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
)

// kzMsg is any message of the events socket.
type kzMsg struct {
	RequestID string          `json:"requestId"`
	Status    int             `json:"status"`
	Error     string          `json:"error"`
	Result    json.RawMessage `json:"result"`
	Channel   string          `json:"channel"`
	Scope     string          `json:"scope"`
	Type      string          `json:"type"`
	Event     *struct {
		Seq                     uint64
		Type, Space, Path, User string
		Upload                  string
		Size                    int64
		Data                    map[string]any
	} `json:"event"`
}

// kzSocket is a client of the events socket, as admin.
type kzSocket struct {
	t   *testing.T
	ctx context.Context
	c   *websocket.Conn
	n   int
}

func kzDial(t *testing.T, ctx context.Context, in *instance) *kzSocket {
	t.Helper()
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:"+davPW))
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(in.URL, "http")+"/api/v1/events",
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {auth}}})
	if err != nil {
		t.Fatalf("events socket: %v", err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return &kzSocket{t: t, ctx: ctx, c: c}
}

func (s *kzSocket) read() kzMsg {
	s.t.Helper()
	var m kzMsg
	if err := wsjson.Read(s.ctx, s.c, &m); err != nil {
		s.t.Fatalf("events socket: %v", err)
	}
	return m
}

// subscribe sends a subscribe request with the extra members of req and
// returns the answer (events that come first are a failure: nothing else
// is subscribed).
func (s *kzSocket) subscribe(req map[string]any) kzMsg {
	s.t.Helper()
	s.n++
	req["action"], req["requestId"] = "subscribe", fmt.Sprintf("s%d", s.n)
	if err := wsjson.Write(s.ctx, s.c, req); err != nil {
		s.t.Fatal(err)
	}
	m := s.read()
	if m.RequestID != req["requestId"] {
		s.t.Fatalf("subscribe: got %+v before the answer", m)
	}
	return m
}

// channel subscribes with filter and returns the channel and its seq.
func (s *kzSocket) channel(filter string, extra map[string]any) (string, uint64) {
	s.t.Helper()
	req := map[string]any{"filter": json.RawMessage(filter)}
	for k, v := range extra {
		req[k] = v
	}
	m := s.subscribe(req)
	var res struct {
		Channel string
		Seq     uint64
	}
	if m.Status != 200 || json.Unmarshal(m.Result, &res) != nil || res.Channel == "" {
		s.t.Fatalf("subscribe %s: %+v", filter, m)
	}
	return res.Channel, res.Seq
}

// TestEventsScopeOut: a live view of a folder, subscribed in Koncorde's
// syntax, learns that a file moved out of it (scope "out", with where it
// was), as well as what arrives in it (scope "in"), over the websocket,
// from what WebDAV clients do.
func TestEventsScopeOut(t *testing.T) {
	in := davServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	ws := kzDial(t, ctx, in)
	ch, _ := ws.channel(`{"bool":{"must":[{"equals":{"space":"files"}},{"regexp":{"path":{"value":"^album/"}}}],
		"must_not":[{"in":{"type":["upload.created","upload.progress","upload.completed"]}}]}}`, nil)
	in.expect(201, davReq{method: "MKCOL", path: "/dav/spaces/files/album/"})
	in.expect(201, davReq{method: "MKCOL", path: "/dav/spaces/files/elsewhere/"})
	in.expect(201, davReq{method: "PUT", path: "/dav/spaces/files/album/a.txt", body: "a"})
	in.expect(201, davReq{method: "MOVE", path: "/dav/spaces/files/album/a.txt",
		headers: map[string]string{"Destination": in.URL + "/dav/spaces/files/album/b.txt"}})
	in.expect(201, davReq{method: "MOVE", path: "/dav/spaces/files/album/b.txt",
		headers: map[string]string{"Destination": in.URL + "/dav/spaces/files/elsewhere/b.txt"}})
	in.expect(201, davReq{method: "PUT", path: "/dav/spaces/files/album/end.txt", body: "end"})

	want := []string{
		"in node.created album/a.txt",
		"in node.moved album/b.txt from album/a.txt",
		"out node.moved elsewhere/b.txt from album/b.txt",
		"in node.created album/end.txt",
	}
	var got []string
	for len(got) < len(want) {
		m := ws.read()
		if m.Channel != ch || m.Event == nil {
			t.Fatalf("unexpected message %+v", m)
		}
		g := m.Scope + " " + m.Event.Type + " " + m.Event.Path
		if from, ok := m.Event.Data["from"].(string); ok {
			g += " from " + from
		}
		got = append(got, g)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestEventsSinceReconnect: a client whose socket drops resubscribes with
// the seq of the last event it saw and gets everything it missed, once,
// in order, then the live events; after a restart of the server, its
// since is answered 410 (too old: list again).
func TestEventsSinceReconnect(t *testing.T) {
	data := t.TempDir()
	in := start(t, data, "WHARF_ADMIN_PASSWORD="+davPW)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	filter := `{"equals":{"space":"files"},"type":"node.*"}`
	ws := kzDial(t, ctx, in)
	_, seq := ws.channel(filter, nil)
	in.expect(201, davReq{method: "PUT", path: "/dav/spaces/files/1.txt", body: "1"})
	m := ws.read()
	if m.Event == nil || m.Event.Path != "1.txt" || m.Event.Seq <= seq {
		t.Fatalf("first event %+v, want 1.txt after seq %d", m, seq)
	}
	last := m.Event.Seq
	ws.c.CloseNow() // the connection drops

	// While it is away.
	in.expect(201, davReq{method: "PUT", path: "/dav/spaces/files/2.txt", body: "2"})
	in.expect(201, davReq{method: "MKCOL", path: "/dav/spaces/files/d/"})
	in.expect(201, davReq{method: "MOVE", path: "/dav/spaces/files/2.txt",
		headers: map[string]string{"Destination": in.URL + "/dav/spaces/files/d/2.txt"}})
	in.expect(204, davReq{method: "DELETE", path: "/dav/spaces/files/1.txt"})
	for i := range 20 {
		in.expect(201, davReq{method: "PUT", path: fmt.Sprintf("/dav/spaces/files/d/%d.bin", i), body: strings.Repeat("x", i)})
	}

	ws = kzDial(t, ctx, in)
	ch, _ := ws.channel(filter, map[string]any{"since": last})
	in.expect(201, davReq{method: "PUT", path: "/dav/spaces/files/live.txt", body: "live"})
	want := []string{"node.created 2.txt", "node.created d", "node.moved d/2.txt", "node.deleted 1.txt"}
	for i := range 20 {
		want = append(want, fmt.Sprintf("node.created d/%d.bin", i))
	}
	want = append(want, "node.created live.txt")
	var got []string
	for len(got) < len(want) {
		m := ws.read()
		if m.Channel != ch || m.Event == nil {
			t.Fatalf("unexpected message %+v", m)
		}
		if m.Event.Seq <= last {
			t.Fatalf("event #%d after #%d: duplicated or out of order", m.Event.Seq, last)
		}
		last = m.Event.Seq
		got = append(got, m.Event.Type+" "+m.Event.Path)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("after the reconnection:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Nothing more: no duplicate of the live event.
	quiet, stop := context.WithTimeout(ctx, 500*time.Millisecond)
	defer stop()
	var extra kzMsg
	if err := wsjson.Read(quiet, ws.c, &extra); err == nil {
		t.Errorf("an extra message after the last: %+v", extra)
	}
	ws.c.CloseNow()

	// A restart loses the log: the seq of the previous run is too old.
	if code := in.stop(); code != 0 {
		t.Fatalf("wharf serve exited %d", code)
	}
	in = start(t, data, "WHARF_ADMIN_PASSWORD="+davPW)
	ws = kzDial(t, ctx, in)
	m = ws.subscribe(map[string]any{"filter": json.RawMessage(filter), "since": last})
	if m.Status != http.StatusGone || !strings.Contains(m.Error, "since: the events after seq "+strconv.FormatUint(last, 10)+" are no longer kept") {
		t.Errorf("since from before the restart: %+v, want 410", m)
	}
	if _, seq := ws.channel(filter, nil); seq <= last {
		t.Errorf("the new run starts at seq %d, not above the last of the previous run, %d", seq, last)
	}
}

// slowBody is a request body whose first part is sent at once and the rest
// only when release is closed, so that the test sees events while the
// request is still under way.
func slowBody(first, rest []byte, release <-chan struct{}) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		if _, err := pw.Write(first); err != nil {
			return
		}
		<-release
		pw.Write(rest)
		pw.Close()
	}()
	return pr
}

// TestUploadProgressEvents: upload.progress events arrive while the bytes
// of a tus upload and of a large WebDAV PUT are still coming, with the
// upload's id, space, path, offset and size, and the last byte's one
// before upload.completed (tus) or node.created (PUT).
func TestUploadProgressEvents(t *testing.T) {
	in := davServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	ws := kzDial(t, ctx, in)
	ws.channel(`{"space":"files","or":[{"type":["upload.progress","upload.completed"]},{"equals":{"type":"node.created"}}]}`, nil)
	const size = 6 << 20
	body := make([]byte, size)
	for i := range body {
		body[i] = byte(i * 7)
	}

	// send makes the request on another goroutine with a body that stops
	// after 3 MiB; it returns the status, once release is closed.
	send := func(method, path string, hdr map[string]string, release chan struct{}) <-chan int {
		done := make(chan int, 1)
		r, err := http.NewRequestWithContext(ctx, method, in.URL+path, slowBody(body[:3<<20], body[3<<20:], release))
		if err != nil {
			t.Fatal(err)
		}
		r.ContentLength = size
		r.SetBasicAuth("admin", davPW)
		for k, v := range hdr {
			r.Header.Set(k, v)
		}
		go func() {
			resp, err := http.DefaultClient.Do(r)
			if err != nil {
				done <- 0
				return
			}
			resp.Body.Close()
			done <- resp.StatusCode
		}()
		return done
	}
	// watch reads events until the one that ends the upload at path,
	// releasing the rest of the body at the first progress event.
	watch := func(path, end string, release chan struct{}) []string {
		var got []string
		for {
			m := ws.read()
			if m.Event == nil || m.Event.Path != path {
				continue
			}
			e := m.Event
			if e.Type == "upload.progress" {
				off, _ := e.Data["offset"].(float64)
				if e.Upload == "" || e.User != "admin" || e.Size != size || off <= 0 || off > size {
					t.Errorf("progress event %+v: want the upload id, admin, size %d, an offset", e, size)
				}
				got = append(got, fmt.Sprintf("progress %d", int64(off)))
				select {
				case <-release:
				default:
					if off >= size {
						t.Fatalf("the first progress event came with the last byte: %v", got)
					}
					close(release) // seen while the request is still open
				}
				continue
			}
			got = append(got, e.Type)
			if e.Type == end {
				return got
			}
		}
	}
	check := func(what string, got []string) {
		t.Helper()
		n := len(got)
		if n < 3 || got[n-2] != fmt.Sprintf("progress %d", size) || !strings.HasPrefix(got[0], "progress ") {
			t.Errorf("%s: events %v; want progress during the body, the last byte's, then the end", what, got)
		}
		if n > 2+size/(1<<20)+2 {
			t.Errorf("%s: %d progress events for %d MiB: not rate-limited", what, n-1, size>>20)
		}
		t.Logf("%s: %v", what, got)
	}

	id := tusCreate(t, in, size, map[string]string{"space": "files", "path": "big.tus"})
	release := make(chan struct{})
	status := send("PATCH", "/tus/"+id, map[string]string{"Tus-Resumable": "1.0.0", "Upload-Offset": "0",
		"Content-Type": "application/offset+octet-stream"}, release)
	got := watch("big.tus", "upload.completed", release)
	if s := <-status; s != http.StatusNoContent {
		t.Errorf("tus PATCH: %d", s)
	}
	check("tus", got)

	release = make(chan struct{})
	status = send("PUT", "/dav/spaces/files/big.put", nil, release)
	got = watch("big.put", "node.created", release)
	if s := <-status; s != http.StatusCreated {
		t.Errorf("PUT: %d", s)
	}
	check("PUT", got)

	// A small PUT says nothing of its progress.
	in.expect(201, davReq{method: "PUT", path: "/dav/spaces/files/small.txt", body: "small"})
	for {
		m := ws.read()
		if m.Event != nil && m.Event.Path == "small.txt" {
			if m.Event.Type != "node.created" {
				t.Errorf("a small PUT published %s", m.Event.Type)
			}
			break
		}
	}
}
