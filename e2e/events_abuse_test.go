package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
)

// TestEventsAbuseIsCapped replays the abuse of the events socket that made
// a server grow from 86 MB to 1.57 GB and other users' PUTs 30 times
// slower: a user with no role in any space opens 20 sockets and 32
// subscriptions with the largest filters on each, and keeps asking, while
// another user uploads small files over WebDAV. The server refuses what is
// over the per-user limits (8 sockets, 64 subscriptions, 8 KiB filters,
// 16 KiB messages), every PUT succeeds, and the server stays small.
func TestEventsAbuseIsCapped(t *testing.T) {
	in := davServer(t)
	const olgaPW, evePW = "outsider password 1", "editor password 123"
	mustWharf(t, in.Data, olgaPW+"\n", "user", "add", "olga", "--password-stdin")
	mustWharf(t, in.Data, evePW+"\n", "user", "add", "eve", "--password-stdin")
	mustWharf(t, in.Data, "", "space", "grant", "files", "eve", "editor")
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	pid := in.cmd.Process.Pid
	rss0 := procStatus(pid, "VmRSS")

	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("olga:"+olgaPW))
	// dial opens a socket as olga: the connection, or the refusal's
	// status and body, or an error (no answer at all).
	dial := func() (*websocket.Conn, int, string, error) {
		c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(in.URL, "http")+"/api/v1/events",
			&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {auth}}})
		if err != nil {
			if resp == nil {
				return nil, 0, "", err
			}
			body, _ := io.ReadAll(resp.Body)
			return nil, resp.StatusCode, string(body), nil
		}
		t.Cleanup(func() { c.CloseNow() })
		return c, http.StatusSwitchingProtocols, "", nil
	}
	type answer struct {
		RequestID string `json:"requestId"`
		Status    int    `json:"status"`
		Error     string `json:"error"`
		Event     any    `json:"event"`
	}
	n := 0
	// request sends a subscription with filter and returns its answer.
	request := func(c *websocket.Conn, filter string) (answer, error) {
		n++
		id := fmt.Sprint("s", n)
		if err := c.Write(ctx, websocket.MessageText, []byte(`{"action":"subscribe","requestId":"`+id+`","filter":`+filter+`}`)); err != nil {
			return answer{}, err
		}
		var a answer
		if err := wsjson.Read(ctx, c, &a); err != nil {
			return answer{}, err
		}
		if a.RequestID != id {
			return a, fmt.Errorf("answer %+v to %s: olga may see no event", a, id)
		}
		return a, nil
	}
	// The most a filter may cost: 256 wildcard patterns in just under
	// 8 KiB (see events' TestMaximalFilterSize).
	pattern := `"` + strings.Repeat("*x", 14) + `"`
	maximal := `{"type":[` + strings.Repeat(pattern+",", 255) + pattern + `]}`
	if len(maximal) > 8<<10 {
		t.Fatalf("the maximal filter is %d bytes", len(maximal))
	}

	// 20 sockets asked, 8 given.
	var conns []*websocket.Conn
	for range 20 {
		c, status, body, err := dial()
		if err != nil {
			t.Fatalf("events socket as olga: %v", err)
		}
		if c == nil {
			if status != http.StatusTooManyRequests || !strings.Contains(body, "too many event sockets: at most 8 per user") {
				t.Fatalf("socket refused with %d %q, want 429 and the limit", status, body)
			}
			continue
		}
		conns = append(conns, c)
	}
	if len(conns) != 8 {
		t.Fatalf("olga holds %d sockets, want 8", len(conns))
	}
	// Larger filters: refused, naming the limit, or, over the message
	// limit (the original attack's 62 KB), the socket is closed, and its
	// place is free again.
	last := conns[len(conns)-1]
	big := `{"type":[` + strings.Repeat(pattern+",", 400) + pattern + `]}`
	if a, err := request(last, big); err != nil || a.Status != 400 || !strings.Contains(a.Error, "more than 8192 bytes") {
		t.Errorf("a %d-byte filter: %+v, %v; want 400 naming the 8 KiB limit", len(big), a, err)
	}
	huge := `{"type":[` + strings.Repeat(pattern+",", 2000) + pattern + `]}`
	werr := last.Write(ctx, websocket.MessageText, []byte(`{"action":"subscribe","requestId":"huge","filter":`+huge+`}`))
	if _, _, rerr := last.Read(ctx); websocket.CloseStatus(rerr) != websocket.StatusMessageTooBig {
		t.Errorf("a %d-byte message: write %v, read %v; want the socket closed with 1009", len(huge), werr, rerr)
	}
	conns = conns[:len(conns)-1]
	for deadline := time.Now().Add(10 * time.Second); len(conns) < 8; time.Sleep(10 * time.Millisecond) {
		c, status, body, err := dial()
		switch {
		case c != nil:
			conns = append(conns, c)
		case err != nil || status != http.StatusTooManyRequests || time.Now().After(deadline):
			t.Fatalf("socket after one was closed: %d %q, %v", status, body, err)
		}
	}

	// 32 maximal subscriptions asked on each, 64 given in all.
	statuses := map[int]int{}
	for _, c := range conns {
		for range 32 {
			a, err := request(c, maximal)
			if err != nil {
				t.Fatal(err)
			}
			statuses[a.Status]++
			if a.Status == 429 && !strings.Contains(a.Error, "too many subscriptions: at most ") {
				t.Errorf("refusal %q", a.Error)
			}
		}
	}
	if statuses[200] != 64 || statuses[429] != 8*32-64 {
		t.Fatalf("subscriptions answered %v, want 64 × 200 and %d × 429", statuses, 8*32-64)
	}
	// eve's PUTs before the abuse, for comparison.
	in.expect(201, davReq{method: "MKCOL", path: "/dav/spaces/files/abuse/"})
	put := func(name string) time.Duration {
		start := time.Now()
		status, _, body := in.send("eve", evePW, davReq{method: "PUT", path: "/dav/spaces/files/abuse/" + name, body: strings.Repeat("x", 1024)})
		if status != http.StatusCreated {
			t.Errorf("PUT %s by eve: %d %s", name, status, body)
		}
		return time.Since(start)
	}
	var quiet []time.Duration
	for i := range 20 {
		quiet = append(quiet, put(fmt.Sprintf("quiet%02d.txt", i)))
	}
	slices.Sort(quiet)

	// While eve uploads, olga keeps asking for more sockets and
	// subscriptions (one request every 2 ms).
	var refusals atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if i%10 == 0 {
				c, status, body, err := dial()
				switch {
				case c != nil:
					conns = append(conns, c) // only this goroutine touches conns now
				case status == http.StatusTooManyRequests:
					refusals.Add(1)
				case ctx.Err() == nil:
					t.Errorf("socket while at the limits: %d %q, %v", status, body, err)
					return
				}
			}
			time.Sleep(2 * time.Millisecond)
			if a, err := request(conns[i%len(conns)], maximal); err == nil && a.Status == 429 {
				refusals.Add(1)
			} else if ctx.Err() == nil {
				t.Errorf("subscription while at the limits: %+v, %v", a, err)
				return
			}
		}
	})
	const puts = 100
	var lat []time.Duration
	for i := range puts {
		lat = append(lat, put(fmt.Sprintf("f%03d.txt", i)))
	}
	close(stop)
	wg.Wait()
	slices.Sort(lat)
	rss := procStatus(pid, "VmRSS")
	t.Logf("eve's PUTs: before the abuse median %v, max %v; during it (%d) median %v, p95 %v, max %v; olga refused %d times meanwhile, holds %d sockets",
		quiet[len(quiet)/2], quiet[len(quiet)-1], puts, lat[puts/2], lat[puts*95/100], lat[puts-1], refusals.Load(), len(conns))
	t.Logf("server VmRSS %d MiB before the abuse, %d MiB after; VmHWM %d MiB", rss0>>10, rss>>10, procStatus(pid, "VmHWM")>>10)
	if refusals.Load() == 0 {
		t.Error("olga was never refused while eve uploaded")
	}
	if len(conns) > 8 {
		t.Errorf("olga holds %d sockets, want at most 8", len(conns))
	}
	if runtime.GOOS == "linux" && rss > 300<<10 {
		t.Errorf("the server's RSS is %d MiB, want under 300", rss>>10)
	}
}
