package server

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// TestHoldSmallAnswers: on a plain TCP connection, an answer whose
// declared length takes more than net/http's connection buffer, up to
// oneSegment, is written with the socket corked, and the socket is
// uncorked once the answer is sent (the next request on the connection
// finds it so); a HEAD, a short answer, a long one, one of undeclared
// length and one whose handler flushes are handled as the table says.
// Every body arrives whole.
func TestHoldSmallAnswers(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{} // the socket's TCP_CORK while the handler wrote, per path
	a := &app{log: slog.New(slog.DiscardHandler)}
	h := a.withAccessLog(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		size, _ := strconv.Atoi(r.URL.Query().Get("size"))
		if r.URL.Query().Get("declared") != "no" {
			w.Header().Set("Content-Length", strconv.Itoa(size))
		}
		w.WriteHeader(http.StatusOK)
		if r.URL.Query().Get("flush") == "yes" {
			w.(http.Flusher).Flush()
		}
		mu.Lock()
		seen[r.URL.RequestURI()] = corkOf(t, connSocket(r))
		mu.Unlock()
		if r.Method != http.MethodHead {
			w.Write([]byte(strings.Repeat("x", size)))
		}
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ConnContext: connContext}
	go srv.Serve(ln)
	defer srv.Close()
	// One connection for every request: each finds the socket as the
	// answer before it left it.
	cl := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	defer cl.CloseIdleConnections()
	for _, c := range []struct {
		method, query string
		held          int
	}{
		{http.MethodGet, "size=4096", 1},
		{http.MethodGet, "size=10", 0}, // after the held one: uncorked
		{http.MethodGet, "size=40000", 1},
		{http.MethodHead, "size=4096", 0},
		{http.MethodGet, "size=3000", 0}, // header and body fit the buffer
		{http.MethodGet, "size=100000", 0},
		{http.MethodGet, "size=4096&declared=no", 0},
		{http.MethodGet, "size=4096&flush=yes", 0}, // a flush lets it go
		{http.MethodGet, "size=4096", 1},
	} {
		req, _ := http.NewRequest(c.method, "http://"+ln.Addr().String()+"/?"+c.query, nil)
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		size, _ := strconv.Atoi(strings.Split(strings.TrimPrefix(c.query, "size="), "&")[0])
		if c.method == http.MethodHead {
			size = 0
		}
		if err != nil || len(body) != size {
			t.Fatalf("%s %s: %d bytes, %v; want %d", c.method, c.query, len(body), err, size)
		}
		mu.Lock()
		got := seen["/?"+c.query]
		mu.Unlock()
		if got != c.held {
			t.Errorf("%s %s: TCP_CORK %d while written, want %d", c.method, c.query, got, c.held)
		}
	}
}

// corkOf is the TCP_CORK option of a socket.
func corkOf(t *testing.T, rc syscall.RawConn) int {
	if rc == nil {
		t.Error("the request has no socket")
		return -1
	}
	v := -1
	rc.Control(func(fd uintptr) { v, _ = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CORK) })
	return v
}
