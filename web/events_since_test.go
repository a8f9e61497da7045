package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/wharfhq/wharf/events"
)

// TestSubscribeSinceOverSocket: a client that reconnects with the seq
// it last saw (or the one its subscribe answer gave) gets the events it
// missed that it may see, under the same access rule as live events,
// then the live ones; a since too old, or unknown, is answered 410.
func TestSubscribeSinceOverSocket(t *testing.T) {
	f := newEvFixture(t, EventsConfig{})
	for _, who := range []string{"alice", "tok"} {
		t.Run(who, func(t *testing.T) {
			c := f.dial(t, who)
			m := c.do(map[string]any{"action": "subscribe", "filter": json.RawMessage(`{"type":"node.*"}`)})
			var res struct {
				Channel string
				Seq     uint64
			}
			if m.Status != 200 || json.Unmarshal(m.Result, &res) != nil || res.Seq != f.bus.Seq() {
				t.Fatalf("subscribe: %+v; want the seq %d", m, f.bus.Seq())
			}
			c.c.CloseNow()
			// While it is away.
			for _, e := range []events.Event{
				{Type: events.NodeCreated, Space: "a", Path: "docs/1.txt"},
				{Type: events.NodeCreated, Space: "b", Path: "no/right.txt"},
				{Type: events.UploadProgress, Space: "a", Path: "pub/up.bin"},
				{Type: events.NodeCreated, Space: "a", Path: "pub/2.txt"},
				{Type: events.CommitPushed}, // admins only
				{Type: events.NodeDeleted, Space: "a", Path: "docs/1.txt"},
			} {
				f.bus.Publish(e)
			}
			c = f.dial(t, who)
			m = c.do(map[string]any{"action": "subscribe", "since": res.Seq, "filter": json.RawMessage(`{"type":"node.*"}`)})
			if m.Status != 200 || json.Unmarshal(m.Result, &res) != nil || res.Channel == "" {
				t.Fatalf("subscribe since: %+v", m)
			}
			f.bus.Publish(events.Event{Type: events.NodeCreated, Space: "a", Path: "pub/live.txt"})
			got := paths(c.until(res.Channel, "pub/live.txt"), res.Channel)
			want := map[string]string{
				"alice": "a:docs/1.txt a:pub/2.txt a:docs/1.txt a:pub/live.txt",
				"tok":   "a:pub/2.txt a:pub/live.txt",
			}[who]
			if got != want {
				t.Errorf("replayed and live: %q, want %q", got, want)
			}
		})
	}
	c := f.dial(t, "alice")
	if m := c.do(map[string]any{"action": "subscribe", "since": f.bus.Seq() + 1}); m.Status != http.StatusGone ||
		!strings.Contains(m.Error, "no longer kept: list again, and subscribe without since") {
		t.Errorf("since beyond the last seq: %+v, want 410", m)
	}
	old := f.bus.Seq()
	for i := range 10001 { // the log holds 10,000
		f.bus.Publish(events.Event{Type: events.NodeCreated, Space: "b", Path: fmt.Sprint(i)})
	}
	if m := c.do(map[string]any{"action": "subscribe", "since": old}); m.Status != http.StatusGone ||
		m.Error != fmt.Sprintf("since: the events after seq %d are no longer kept: list again, and subscribe without since", old) {
		t.Errorf("since too old: %+v, want 410", m)
	}
	if m := c.do(map[string]any{"action": "subscribe", "since": old + 1}); m.Status != 200 {
		t.Errorf("since the oldest kept: %+v, want 200", m)
	}
	for _, tt := range []struct {
		req  map[string]any
		want string
	}{
		{map[string]any{"action": "subscribe", "since": -1}, "bad message: since: want a uint64, got number -1"},
		{map[string]any{"action": "subscribe", "since": "12"}, "bad message: since: want a uint64, got string"},
		{map[string]any{"action": "subscribe", "scope": "inside"}, `scope: unknown scope "inside" (use all, in, out or none)`},
	} {
		if m := c.do(tt.req); m.Status != 400 || m.Error != tt.want {
			t.Errorf("%v: %d %q, want 400 %q", tt.req, m.Status, m.Error, tt.want)
		}
	}
	// Refusals take no place: alice holds the one subscription that was made.
	if _, subs := f.h.usageOf(f.users["alice"].User.ID); subs != 1 {
		t.Errorf("alice holds %d subscriptions, want 1", subs)
	}
}

// TestScopeOverSocket: a node moved out of a watched folder comes with
// "scope":"out", the others with "scope":"in"; a token that may not see
// where it went learns only where it was; scope "in" leaves the outs out.
func TestScopeOverSocket(t *testing.T) {
	f := newEvFixture(t, EventsConfig{})
	alice, tok := f.dial(t, "alice"), f.dial(t, "tok")
	folder := `{"space":"a","prefix":{"field":"path","value":"pub/"}}`
	chA := alice.subscribe(folder)
	chIn := alice.do(map[string]any{"action": "subscribe", "scope": "in", "filter": json.RawMessage(folder)})
	var in struct{ Channel string }
	json.Unmarshal(chIn.Result, &in)
	chT := tok.subscribe(folder)
	move := func(from, to string) {
		f.bus.Publish(events.Event{Type: events.NodeMoved, Space: "a", Path: to, User: "bob",
			Data: map[string]any{"from": from, "id": 9, "dir": false}, Before: &events.State{Space: "a", Path: from}})
	}
	move("pub/y.txt", "pub/z.txt")
	move("pub/z.txt", "docs/z.txt")
	f.bus.Publish(events.Event{Type: events.NodeCreated, Space: "a", Path: "pub/end"})

	// read returns what channel ch received up to pub/end, as
	// path:scope:from; the other channels' messages wait in c.events.
	read := func(c *client, ch string) string {
		var out []string
		stash := c.events
		c.events = nil
		for {
			var m message
			if len(stash) > 0 {
				m, stash = stash[0], stash[1:]
			} else {
				m = c.read()
			}
			if m.Channel != ch || m.Event == nil {
				c.events = append(c.events, m)
				continue
			}
			out = append(out, fmt.Sprintf("%s:%s:%v", m.Event.Path, m.Scope, m.Event.Data["from"]))
			if m.Event.Path == "pub/end" {
				c.events = append(c.events, stash...)
				return strings.Join(out, " ")
			}
		}
	}
	if got, want := read(alice, chA), "pub/z.txt:in:pub/y.txt docs/z.txt:out:pub/z.txt pub/end:in:<nil>"; got != want {
		t.Errorf("alice: %q, want %q", got, want)
	}
	if got, want := read(alice, in.Channel), "pub/z.txt:in:pub/y.txt pub/end:in:<nil>"; got != want {
		t.Errorf("alice, scope in: %q, want %q", got, want)
	}
	if got, want := read(tok, chT), "pub/z.txt:in:pub/y.txt pub/z.txt:out:<nil> pub/end:in:<nil>"; got != want {
		t.Errorf("token narrowed to pub/: %q, want %q", got, want)
	}
}
