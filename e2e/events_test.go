package e2e

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
)

// TestEventsSocket: a client subscribed to node events of a folder sees
// what WebDAV clients do there, in order, and nothing outside it; a user
// without a role in the space sees none of it.
func TestEventsSocket(t *testing.T) {
	in := davServer(t)
	mustWharf(t, in.Data, "outsider password 1\n", "user", "add", "olga", "--password-stdin")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	dial := func(user, pw string) *websocket.Conn {
		auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))
		c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(in.URL, "http")+"/api/v1/events",
			&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {auth}}})
		if err != nil {
			t.Fatalf("events socket as %s: %v", user, err)
		}
		t.Cleanup(func() { c.CloseNow() })
		return c
	}
	type answer struct {
		RequestID string `json:"requestId"`
		Status    int    `json:"status"`
		Channel   string `json:"channel"`
		Event     *struct {
			Type, Space, Path, User string
		} `json:"event"`
	}
	subscribe := func(c *websocket.Conn, filter string) {
		if err := c.Write(ctx, websocket.MessageText, []byte(`{"action":"subscribe","requestId":"s","filter":`+filter+`}`)); err != nil {
			t.Fatal(err)
		}
		var a answer
		if err := wsjson.Read(ctx, c, &a); err != nil || a.RequestID != "s" || a.Status != 200 {
			t.Fatalf("subscribe %s: %+v, %v", filter, a, err)
		}
	}
	admin := dial("admin", davPW)
	subscribe(admin, `{"space":"files","type":"node.*","prefix":{"field":"path","value":"album/"}}`)
	olga := dial("olga", "outsider password 1")
	subscribe(olga, `{}`)

	in.expect(201, davReq{method: "MKCOL", path: "/dav/spaces/files/album/"})
	in.expect(201, davReq{method: "PUT", path: "/dav/spaces/files/elsewhere.txt", body: "not in the album"})
	in.expect(201, davReq{method: "PUT", path: "/dav/spaces/files/album/a.txt", body: "a"})
	in.expect(201, davReq{method: "MOVE", path: "/dav/spaces/files/album/a.txt", headers: map[string]string{"Destination": in.URL + "/dav/spaces/files/album/b.txt"}})
	in.expect(204, davReq{method: "DELETE", path: "/dav/spaces/files/album/b.txt"})

	want := []string{"node.created album/a.txt", "node.moved album/b.txt", "node.deleted album/b.txt"}
	for _, w := range want {
		var a answer
		if err := wsjson.Read(ctx, admin, &a); err != nil || a.Event == nil {
			t.Fatalf("waiting for %s: %+v, %v", w, a, err)
		}
		if got := a.Event.Type + " " + a.Event.Path; got != w || a.Event.User != "admin" {
			t.Errorf("event %q by %q, want %q by admin", got, a.Event.User, w)
		}
	}
	// olga has no role in "files": her socket stays silent.
	quiet, stop := context.WithTimeout(ctx, 300*time.Millisecond)
	defer stop()
	var a answer
	if err := wsjson.Read(quiet, olga, &a); err == nil {
		t.Errorf("a user without a role received %+v", a)
	}
}
