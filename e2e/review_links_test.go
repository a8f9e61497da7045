package e2e

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestLinkDropNoOverwrite: a drop link only adds files. A stranger holding
// it cannot replace a file already in the folder (or below it), neither
// by naming it at creation (the upload gets a free name, "name (2).ext",
// which tells nothing of the folder) nor by racing a file of that name in
// before the upload is installed.
func TestLinkDropNoOverwrite(t *testing.T) {
	in := davServer(t)
	in.expect(201, davReq{method: "MKCOL", path: "/dav/spaces/files/inbox"})
	in.expect(201, davReq{method: "MKCOL", path: "/dav/spaces/files/inbox/sub"})
	in.expect(201, davReq{method: "PUT", path: "/dav/spaces/files/inbox/contract.pdf", body: "the real contract"})
	in.expect(201, davReq{method: "PUT", path: "/dav/spaces/files/inbox/sub/deep.txt", body: "deep original"})
	u, _ := linkCreate(t, in, "", "files", "inbox", "--upload-only")

	evil := "forged by a stranger"
	create := func(name string) (int, string, string) {
		t.Helper()
		meta := "filename " + base64.StdEncoding.EncodeToString([]byte(name))
		st, h, body := linkGet(t, "POST", u+"/tus/", nil, "Tus-Resumable: 1.0.0",
			"Upload-Length: "+strconv.Itoa(len(evil)), "Upload-Metadata: "+meta)
		return st, h.Get("Location"), string(body)
	}
	for _, name := range []string{"contract.pdf", "sub/deep.txt"} {
		st, loc, body := create(name)
		if st == 201 {
			st, _, b := linkGet(t, "PATCH", in.URL+loc, strings.NewReader(evil), "Tus-Resumable: 1.0.0",
				"Upload-Offset: 0", "Content-Type: application/offset+octet-stream")
			body = string(b)
			t.Logf("PATCH replacing %s: %d %s", name, st, body)
		} else {
			t.Errorf("creation over %s through a drop link: %d %s, want 201", name, st, body)
		}
	}
	if _, got := in.expect(200, davReq{method: "GET", path: "/dav/spaces/files/inbox/contract%20(2).pdf"}); got != evil {
		t.Errorf("the upload named contract.pdf, renamed, holds %q", got)
	}
	if _, got := in.expect(200, davReq{method: "GET", path: "/dav/spaces/files/inbox/sub/deep%20(2).txt"}); got != evil {
		t.Errorf("the upload named sub/deep.txt, renamed, holds %q", got)
	}
	if _, got := in.expect(200, davReq{method: "GET", path: "/dav/spaces/files/inbox/contract.pdf"}); got != "the real contract" {
		t.Errorf("a drop link replaced contract.pdf: it holds %q", got)
	}
	if _, got := in.expect(200, davReq{method: "GET", path: "/dav/spaces/files/inbox/sub/deep.txt"}); got != "deep original" {
		t.Errorf("a drop link replaced sub/deep.txt: it holds %q", got)
	}

	// A file of the name arriving after the creation is not replaced
	// either: the install itself refuses.
	st, loc, body := create("late.txt")
	if st != 201 {
		t.Fatalf("creation of late.txt: %d %s", st, body)
	}
	in.expect(201, davReq{method: "PUT", path: "/dav/spaces/files/inbox/late.txt", body: "put by a member meanwhile"})
	st, _, b := linkGet(t, "PATCH", in.URL+loc, strings.NewReader(evil), "Tus-Resumable: 1.0.0",
		"Upload-Offset: 0", "Content-Type: application/offset+octet-stream")
	if st < 400 {
		t.Errorf("the upload over late.txt: %d %s, want a refusal", st, b)
	}
	if _, got := in.expect(200, davReq{method: "GET", path: "/dav/spaces/files/inbox/late.txt"}); got != "put by a member meanwhile" {
		t.Errorf("a drop link replaced late.txt: it holds %q", got)
	}
}

// TestLinkDropUploadsInFlight: uploads through a drop link meet the limit
// of uploads in flight per user (--max-uploads-per-user), counted for the
// link's creator, as over /tus/: a stranger holding the link cannot open
// PATCHes without bound.
func TestLinkDropUploadsInFlight(t *testing.T) {
	in := start(t, t.TempDir(), "WHARF_ADMIN_PASSWORD="+davPW, "WHARF_MAX_UPLOADS_PER_USER=1")
	in.expect(201, davReq{method: "MKCOL", path: "/dav/spaces/files/inbox"})
	u, _ := linkCreate(t, in, "", "files", "inbox", "--upload-only")
	const size = 64 << 10
	var locs []string
	for _, name := range []string{"one.bin", "two.bin"} {
		meta := "filename " + base64.StdEncoding.EncodeToString([]byte(name))
		st, h, body := linkGet(t, "POST", u+"/tus/", nil, "Tus-Resumable: 1.0.0",
			"Upload-Length: "+strconv.Itoa(size), "Upload-Metadata: "+meta)
		if st != 201 {
			t.Fatalf("creation of %s: %d %s", name, st, body)
		}
		locs = append(locs, h.Get("Location"))
	}
	// The first PATCH is held open, its body half sent. The creations'
	// slot is given back just after their answers, so this PATCH may come
	// too early and be refused (429) itself: then it is sent again.
	var conn net.Conn
	for try := 1; ; try++ {
		c, err := net.Dial("tcp", strings.TrimPrefix(in.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "PATCH %s HTTP/1.1\r\nHost: %s\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"+
			"Content-Type: application/offset+octet-stream\r\nContent-Length: %d\r\n\r\n%s",
			locs[0], strings.TrimPrefix(in.URL, "http://"), size, strings.Repeat("a", size/2))
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil { // no answer: the PATCH is in, waiting for the rest of its body
			c.SetReadDeadline(time.Time{})
			conn = c
			break
		}
		if resp.StatusCode != http.StatusTooManyRequests || try == 20 {
			t.Fatalf("the PATCH to hold open: %s", resp.Status)
		}
		c.Close()
		time.Sleep(50 * time.Millisecond)
	}
	// A second PATCH through the link (at a wrong offset, so that it
	// stores nothing when admitted) is refused once the first is in.
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, _, body := linkGet(t, "PATCH", in.URL+locs[1], strings.NewReader("b"), "Tus-Resumable: 1.0.0",
			"Upload-Offset: 5", "Content-Type: application/offset+octet-stream")
		if st == 429 {
			break
		}
		if time.Now().After(deadline) {
			// What became of the held PATCH says why it was not counted.
			conn.SetReadDeadline(time.Now().Add(time.Second))
			held := "no answer yet"
			if resp, err := http.ReadResponse(bufio.NewReader(conn), nil); err == nil {
				b, _ := io.ReadAll(resp.Body)
				held = resp.Status + " " + string(b)
			}
			t.Fatalf("a second PATCH through the link while one is in flight: %d %s, want 429; the held PATCH: %s\nserver:\n%s",
				st, body, held, in.output())
		}
		time.Sleep(100 * time.Millisecond)
	}
	io.WriteString(conn, strings.Repeat("a", size/2))
	conn.SetReadDeadline(time.Now().Add(time.Minute))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != 204 {
		t.Fatalf("the held PATCH: %v %v", resp, err)
	}
	if st, _, body := linkGet(t, "PATCH", in.URL+locs[1], strings.NewReader(strings.Repeat("b", size)), "Tus-Resumable: 1.0.0",
		"Upload-Offset: 0", "Content-Type: application/offset+octet-stream"); st != 204 {
		t.Errorf("the second PATCH once the first is done: %d %s", st, body)
	}
}
