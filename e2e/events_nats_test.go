package e2e

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/wharfhq/wharf/internal/testservers"
)

// TestEventsAcrossReplicas: two wharf servers sharing one nats-server
// (--events): a subscriber connected to replica B receives, in order, the
// node events of what WebDAV clients do through replica A, with the seqs A
// gave them; one that reconnects to A with the seq of the first of them
// is replayed the others by A with the same seqs; a user without a role in
// the space hears nothing.
//
// Each replica has its own SQLite data directory here (the shared database
// is another matter): the admin, the space "files" and the users are made
// the same on both (first start, then the same CLI commands), so that B's
// check of who may see an event (web.Events: the roles B's database gives
// for the event's space) answers as one database would.
func TestEventsAcrossReplicas(t *testing.T) {
	srv := testservers.StartNATS(t)
	env := []string{"WHARF_ADMIN_PASSWORD=" + davPW, "WHARF_EVENTS=" + srv.URL()}
	a, b := start(t, t.TempDir(), env...), start(t, t.TempDir(), env...)
	for _, in := range []*instance{a, b} {
		mustWharf(t, in.Data, "reader password 1\n", "user", "add", "alice", "--password-stdin")
		mustWharf(t, in.Data, "", "space", "grant", "files", "alice", "viewer")
		mustWharf(t, in.Data, "outsider password 1\n", "user", "add", "olga", "--password-stdin")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	type event struct {
		Seq                     uint64
		Type, Space, Path, User string
	}
	type answer struct {
		RequestID string `json:"requestId"`
		Status    int    `json:"status"`
		Error     string `json:"error"`
		Type      string `json:"type"`
		Event     *event `json:"event"`
	}
	dial := func(in *instance, user, pw string) *websocket.Conn {
		auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))
		c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(in.URL, "http")+"/api/v1/events",
			&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {auth}}})
		if err != nil {
			t.Fatalf("events socket as %s: %v", user, err)
		}
		t.Cleanup(func() { c.CloseNow() })
		return c
	}
	subscribe := func(c *websocket.Conn, filter, since string) {
		t.Helper()
		msg := `{"action":"subscribe","requestId":"s","filter":` + filter + since + `}`
		if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		var ans answer
		if err := wsjson.Read(ctx, c, &ans); err != nil || ans.RequestID != "s" || ans.Status != 200 {
			t.Fatalf("subscribe %s: %+v, %v", msg, ans, err)
		}
	}
	read := func(c *websocket.Conn, n int) []event {
		t.Helper()
		var got []event
		for len(got) < n {
			var ans answer
			if err := wsjson.Read(ctx, c, &ans); err != nil || ans.Event == nil {
				t.Fatalf("after %+v: %+v, %v", got, ans, err)
			}
			got = append(got, *ans.Event)
		}
		return got
	}
	const filter = `{"space":"files","type":"node.*","prefix":{"field":"path","value":"album"}}`
	admin := dial(b, "admin", davPW)
	subscribe(admin, filter, "")
	alice := dial(b, "alice", "reader password 1")
	subscribe(alice, `{"type":"node.*"}`, "")
	olga := dial(b, "olga", "outsider password 1")
	subscribe(olga, `{}`, "")

	a.expect(201, davReq{method: "MKCOL", path: "/dav/spaces/files/album/"})
	a.expect(201, davReq{method: "PUT", path: "/dav/spaces/files/album/a.txt", body: "made through A"})
	a.expect(201, davReq{method: "MOVE", path: "/dav/spaces/files/album/a.txt", headers: map[string]string{"Destination": a.URL + "/dav/spaces/files/album/b.txt"}})
	a.expect(204, davReq{method: "DELETE", path: "/dav/spaces/files/album/b.txt"})

	want := []string{"node.created album", "node.created album/a.txt", "node.moved album/b.txt", "node.deleted album/b.txt"}
	var seqs []uint64
	for name, c := range map[string]*websocket.Conn{"admin": admin, "alice": alice} {
		got := read(c, len(want))
		for i, e := range got {
			if s := e.Type + " " + e.Path; s != want[i] || e.User != "admin" || e.Space != "files" {
				t.Fatalf("%s on B: event %d is %q by %q, want %q by admin (all: %+v)", name, i, s, e.User, want[i], got)
			}
			if i > 0 && e.Seq <= got[i-1].Seq {
				t.Fatalf("%s on B: seqs not increasing: %+v", name, got)
			}
		}
		var mine []uint64
		for _, e := range got {
			mine = append(mine, e.Seq)
		}
		if seqs == nil {
			seqs = mine
		} else if fmt.Sprint(mine) != fmt.Sprint(seqs) { // one stream: the same seqs for all
			t.Fatalf("%s: seqs %v, the other's %v", name, mine, seqs)
		}
	}

	// The subscriber moves to replica A with the seq of the first event:
	// A replays the three others, with the same seqs.
	again := dial(a, "admin", davPW)
	subscribe(again, filter, fmt.Sprintf(`,"since":%d`, seqs[0]))
	for i, e := range read(again, 3) {
		if s := e.Type + " " + e.Path; s != want[i+1] || e.Seq != seqs[i+1] {
			t.Fatalf("replayed by A: %q seq %d, want %q seq %d", s, e.Seq, want[i+1], seqs[i+1])
		}
	}

	// olga has no role in "files": her socket on B stays silent.
	quiet, stop := context.WithTimeout(ctx, 500*time.Millisecond)
	defer stop()
	var ans answer
	if err := wsjson.Read(quiet, olga, &ans); err == nil {
		t.Errorf("a user without a role received %+v", ans)
	}
}

// TestEventsNATSUnreachable: a server told to share its events through a
// NATS server it cannot reach refuses to start, saying why, rather than
// serving events no other replica will see.
func TestEventsNATSUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "serve")
	cmd.Env = append(cleanEnv(), "WHARF_DATA="+t.TempDir(), "WHARF_LISTEN=127.0.0.1:0",
		"WHARF_ADMIN_PASSWORD="+davPW, "WHARF_EVENTS=nats://127.0.0.1:1")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || !strings.Contains(string(out), "events: NATS nats://127.0.0.1:1") {
		t.Fatalf("serve with NATS unreachable: %v\n%s", err, out)
	}
}

// TestEventsNATSRestart: NATS killed while two replicas serve. An upload
// through replica A still succeeds, in bounded time; its events are lost,
// and said so: A's subscriber is told overflow at once, B's once NATS is
// back (A's marker in the stream); then events flow again from A to B.
func TestEventsNATSRestart(t *testing.T) {
	srv := testservers.StartNATS(t)
	env := []string{"WHARF_ADMIN_PASSWORD=" + davPW, "WHARF_EVENTS=" + srv.URL()}
	a, b := start(t, t.TempDir(), env...), start(t, t.TempDir(), env...)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	type answer struct {
		RequestID string `json:"requestId"`
		Status    int    `json:"status"`
		Type      string `json:"type"`
		Event     *struct{ Type, Path string }
	}
	dial := func(in *instance) *websocket.Conn {
		auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:"+davPW))
		c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(in.URL, "http")+"/api/v1/events",
			&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {auth}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.CloseNow() })
		if err := c.Write(ctx, websocket.MessageText, []byte(`{"action":"subscribe","requestId":"s","filter":{"space":"files"}}`)); err != nil {
			t.Fatal(err)
		}
		var ans answer
		if err := wsjson.Read(ctx, c, &ans); err != nil || ans.Status != 200 {
			t.Fatalf("subscribe: %+v, %v", ans, err)
		}
		return c
	}
	// untilOverflow reads c until its overflow, failing on any event of
	// path (one that should have been lost).
	untilOverflow := func(name string, c *websocket.Conn, lostPath string) {
		t.Helper()
		for {
			var ans answer
			if err := wsjson.Read(ctx, c, &ans); err != nil {
				t.Fatalf("%s: no overflow: %v", name, err)
			}
			if ans.Type == "overflow" {
				return
			}
			if ans.Event != nil && ans.Event.Path == lostPath {
				t.Fatalf("%s: received %+v, published while NATS was down", name, ans.Event)
			}
		}
	}
	onA, onB := dial(a), dial(b)

	srv.Kill()
	t0 := time.Now()
	a.expect(201, davReq{method: "PUT", path: "/dav/spaces/files/while-down.txt", body: "NATS is down"})
	if d := time.Since(t0); d > 20*time.Second {
		t.Errorf("a PUT with NATS down took %v", d)
	}
	untilOverflow("A", onA, "while-down.txt")

	srv.Restart()
	untilOverflow("B", onB, "while-down.txt")

	// Events flow again (a publish may still fail while A reconnects,
	// told by an overflow: then subscribe again and retry).
	onB = dial(b)
	for i := 0; ; i++ {
		if i == 10 {
			t.Fatal("no event from A on B after NATS's restart")
		}
		p := fmt.Sprintf("after-%d.txt", i)
		a.expect(201, davReq{method: "PUT", path: "/dav/spaces/files/" + p, body: "NATS is back"})
		if heard(ctx, onB, p) {
			break
		}
		onB.CloseNow()
		onB = dial(b)
	}
}

// heard reads c until the node.created of path (true), an overflow or 10
// seconds (false; c is then unusable).
func heard(ctx context.Context, c *websocket.Conn, path string) bool {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		var ans struct {
			Type  string
			Event *struct{ Type, Path string }
		}
		if err := wsjson.Read(ctx, c, &ans); err != nil || ans.Type == "overflow" {
			return false
		}
		if ans.Event != nil && ans.Event.Type == "node.created" && ans.Event.Path == path {
			return true
		}
	}
}
