package e2e

import (
	"bytes"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharfhq/wharf/internal/clamdtest"
)

// TestKeepAliveOutlivesBodyDeadlines: the deadlines that bound a request's
// body (tusd's network timeout, the server's body guard) end with the
// body. A kept-alive connection that carried a tus creation, a PATCH or a
// PUT still serves any request after those deadlines have passed.
//
// The last tus upload is scanned by a clamd that takes longer than the
// body window: the PATCH that completes it waits for processing after its
// body is in, and must get its 204, and the connection must go on
// serving. tusd's read deadline, left on the connection, once made
// net/http's background read fail during that wait: the PATCH got 202 and
// the connection's context stayed cancelled, so every later request on
// it failed with 500 "context canceled" (hundreds of thousands of errors
// in the 5-minute load run). Without the fix this test fails at that
// PATCH.
func TestKeepAliveOutlivesBodyDeadlines(t *testing.T) {
	const window = time.Second // tusd's read deadline; its write deadline is twice that
	sock := slowClamd(t, 3*window)
	in := start(t, t.TempDir(), "WHARF_ADMIN_PASSWORD="+davPW, "WHARF_BODY_TIMEOUT="+window.String(), "WHARF_CLAMD=unix:"+sock)
	tr := &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var conns, reused int
	do := func(method, path string, body []byte, want int, hdr ...string) http.Header {
		t.Helper()
		var rd io.Reader = http.NoBody
		if body != nil {
			rd = bytes.NewReader(body)
		}
		trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
			conns++
			if i.Reused {
				reused++
			}
		}}
		req, err := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), method, in.URL+path, rd)
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth("admin", davPW)
		for _, h := range hdr {
			k, v, _ := strings.Cut(h, ":")
			req.Header.Set(k, strings.TrimSpace(v))
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, b, want)
		}
		return resp.Header
	}
	pause := func() { time.Sleep(2*window + 500*time.Millisecond) }

	do("PUT", "/dav/spaces/files/put.txt", []byte("put body"), http.StatusCreated)
	pause()
	do("PROPFIND", "/dav/spaces/files/", nil, http.StatusMultiStatus, "Depth: 1")

	meta := "space " + base64.StdEncoding.EncodeToString([]byte("files")) + ",path " + base64.StdEncoding.EncodeToString([]byte("tus.bin"))
	h := do("POST", "/tus/", nil, http.StatusCreated, "Tus-Resumable: 1.0.0", "Upload-Length: 6", "Upload-Metadata: "+meta)
	loc := h.Get("Location")
	pause()
	do("GET", "/dav/spaces/files/put.txt", nil, http.StatusOK)
	do("PATCH", "/tus/"+loc[strings.LastIndex(loc, "/")+1:], []byte("tus ok"), http.StatusNoContent,
		"Tus-Resumable: 1.0.0", "Upload-Offset: 0", "Content-Type: application/offset+octet-stream")
	pause()
	do("PROPFIND", "/dav/spaces/files/tus.bin", nil, http.StatusMultiStatus, "Depth: 0")
	do("GET", "/dav/spaces/files/tus.bin", nil, http.StatusOK)

	if conns != 7 || reused != 6 {
		t.Errorf("%d requests, %d on a reused connection: want all on one connection", conns, reused)
	}
}

// slowClamd is a clamd on a unix socket that answers "stream: OK" to
// every scan after delay.
func slowClamd(t *testing.T, delay time.Duration) string {
	sock := filepath.Join(clamdtest.ShortTempDir(t), "clamd.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	clamdtest.Fake(t, ln, 0, func([]byte) string {
		time.Sleep(delay)
		return "stream: OK"
	})
	return sock
}
