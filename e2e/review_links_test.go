package e2e

import (
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
)

// TestLinkDropNoOverwrite: a drop link only adds files. A stranger holding
// it cannot replace a file already in the folder (or below it), neither
// by naming it at creation nor by racing a file of that name in before
// the upload is installed.
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
		} else if st != 409 {
			t.Errorf("creation over %s through a drop link: %d %s, want 409", name, st, body)
		}
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
