package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
)

// testPNG is a real image, so that processing makes a thumbnail of it.
func testPNG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), uint8(x ^ y), 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func tusCreate(t *testing.T, in *instance, size int, meta map[string]string) string {
	t.Helper()
	var pairs []string
	for k, v := range meta {
		pairs = append(pairs, k+" "+base64.StdEncoding.EncodeToString([]byte(v)))
	}
	h, _ := in.expect(http.StatusCreated, davReq{method: "POST", path: "/tus/", headers: map[string]string{
		"Tus-Resumable": "1.0.0", "Upload-Length": strconv.Itoa(size), "Upload-Metadata": strings.Join(pairs, ","),
	}})
	loc := h.Get("Location")
	if loc == "" {
		t.Fatal("tus creation answered no Location")
	}
	return loc[strings.LastIndex(loc, "/")+1:]
}

type progressMsg struct {
	Type   string `json:"type"`
	Status *struct {
		State string `json:"state"`
	} `json:"status"`
	Event *struct {
		Type string         `json:"type"`
		Data map[string]any `json:"data"`
	} `json:"event"`
}

// TestProgressWebsocket: an upload finished with Prefer: respond-async gets
// 202 at once, and a websocket on its Progress-Location, opened while the
// bytes were still arriving, sees every processing step, the new node and
// the end, then closes normally.
func TestProgressWebsocket(t *testing.T) {
	in := davServer(t)
	body := testPNG(t, 900, 700)
	id := tusCreate(t, in, len(body), map[string]string{"space": "files", "path": "shot.png"})
	progress := "/api/v1/uploads/" + id + "/progress"

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:"+davPW))
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(in.URL, "http")+progress,
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {auth}}})
	if err != nil {
		t.Fatalf("websocket on %s: %v", progress, err)
	}
	defer ws.CloseNow()
	var first progressMsg
	if err := wsjson.Read(ctx, ws, &first); err != nil || first.Status == nil || first.Status.State != "receiving" {
		t.Fatalf("first message %+v, %v; want the status of an upload still receiving", first, err)
	}

	sum := sha256.Sum256(body)
	h, _ := in.expect(http.StatusAccepted, davReq{method: "PATCH", path: "/tus/" + id, body: string(body), headers: map[string]string{
		"Tus-Resumable": "1.0.0", "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream",
		"Upload-Checksum": "sha256 " + base64.StdEncoding.EncodeToString(sum[:]), "Prefer": "respond-async"}})
	if h.Get("Preference-Applied") != "respond-async" || h.Get("Progress-Location") != progress {
		t.Errorf("202 headers: Preference-Applied %q, Progress-Location %q; want respond-async, %s",
			h.Get("Preference-Applied"), h.Get("Progress-Location"), progress)
	}

	steps := map[string]bool{}
	var types []string
	for {
		var m progressMsg
		err := wsjson.Read(ctx, ws, &m)
		if websocket.CloseStatus(err) == websocket.StatusNormalClosure {
			break
		}
		if err != nil {
			t.Fatalf("reading progress after %v: %v", types, err)
		}
		if m.Event == nil {
			continue
		}
		types = append(types, m.Event.Type)
		if m.Event.Type == "processing.step" {
			steps[m.Event.Data["step"].(string)] = true
		}
	}
	for _, s := range []string{"checksum", "sniff", "policy", "thumbnail", "metadata"} {
		if !steps[s] {
			t.Errorf("no processing.step event for %s; events: %v", s, types)
		}
	}
	if n := len(types); n < 2 || types[n-1] != "processing.finished" || !strings.Contains(strings.Join(types, " "), "node.created") {
		t.Errorf("events %v: want node.created and processing.finished last", types)
	}

	_, js := in.expect(http.StatusOK, davReq{method: "GET", path: progress, headers: map[string]string{"Accept": "application/json"}})
	var st struct {
		State, MIME string
		Metadata    map[string]any
	}
	if err := json.Unmarshal([]byte(js), &st); err != nil || st.State != "done" || st.MIME != "image/png" || st.Metadata["width"] != 900.0 {
		t.Errorf("progress JSON after the end: %s (%v)", js, err)
	}
	if _, got := in.expect(http.StatusOK, davReq{method: "GET", path: "/dav/spaces/files/shot.png"}); got != string(body) {
		t.Errorf("the uploaded image differs in the space")
	}
	// A late websocket gets the final state at once, then a normal close.
	late, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(in.URL, "http")+progress,
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {auth}}})
	if err != nil {
		t.Fatal(err)
	}
	defer late.CloseNow()
	var m progressMsg
	if err := wsjson.Read(ctx, late, &m); err != nil || m.Status == nil || m.Status.State != "done" {
		t.Errorf("late websocket: %+v, %v; want the done status", m, err)
	}
	if err := wsjson.Read(ctx, late, &m); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Errorf("late websocket after the status: %v, want a normal close", err)
	}
}

// TestPutRespondAsync: a WebDAV PUT with Prefer: respond-async is accepted
// at once and its progress URL tells when the file is in the space.
func TestPutRespondAsync(t *testing.T) {
	in := davServer(t)
	body := testPNG(t, 300, 200)
	h, _ := in.expect(http.StatusAccepted, davReq{method: "PUT", path: "/dav/spaces/files/async.png", body: string(body),
		headers: map[string]string{"Prefer": "respond-async"}})
	progress := h.Get("Progress-Location")
	if h.Get("Preference-Applied") != "respond-async" || !strings.HasPrefix(progress, "/api/v1/uploads/") {
		t.Fatalf("202 without its headers: Preference-Applied %q, Progress-Location %q", h.Get("Preference-Applied"), progress)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, js := in.expect(http.StatusOK, davReq{method: "GET", path: progress, headers: map[string]string{"Accept": "application/json"}})
		var st struct{ State, MIME string }
		if err := json.Unmarshal([]byte(js), &st); err != nil {
			t.Fatalf("progress JSON %q: %v", js, err)
		}
		if st.State == "done" {
			if st.MIME != "image/png" {
				t.Errorf("processed as %q, want image/png", st.MIME)
			}
			break
		}
		if st.State == "rejected" || time.Now().After(deadline) {
			t.Fatalf("async PUT ended as %s", js)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, got := in.expect(http.StatusOK, davReq{method: "GET", path: "/dav/spaces/files/async.png"}); got != string(body) {
		t.Error("the asynchronously PUT file differs in the space")
	}
}

// TestKillAfterAccepted: once a tus upload has been answered 202 its job
// is durable. The server is killed right then, at whatever point
// processing has reached; after a restart the job finishes, the file is in
// the space exactly once and byte-identical, and nothing was quarantined.
func TestKillAfterAccepted(t *testing.T) {
	in := davServer(t)
	body := testPNG(t, 2000, 1500)
	id := tusCreate(t, in, len(body), map[string]string{"space": "files", "path": "crash.png"})
	in.expect(http.StatusAccepted, davReq{method: "PATCH", path: "/tus/" + id, body: string(body), headers: map[string]string{
		"Tus-Resumable": "1.0.0", "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream", "Prefer": "respond-async"}})
	in.kill()
	in = start(t, in.Data, "WHARF_ADMIN_PASSWORD="+davPW)

	progress := "/api/v1/uploads/" + id + "/progress"
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, js := in.expect(http.StatusOK, davReq{method: "GET", path: progress, headers: map[string]string{"Accept": "application/json"}})
		if strings.Contains(js, `"state":"done"`) {
			break
		}
		if strings.Contains(js, `"state":"rejected"`) || time.Now().After(deadline) {
			t.Fatalf("after the restart the job is %s", js)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, got := in.expect(http.StatusOK, davReq{method: "GET", path: "/dav/spaces/files/crash.png"}); got != string(body) {
		t.Error("the file differs after the crash")
	}
	_, listing := in.expect(207, davReq{method: "PROPFIND", path: "/dav/spaces/files/", headers: map[string]string{"Depth": "1"}})
	if n := strings.Count(listing, "<D:href>/dav/spaces/files/crash.png</D:href>"); n != 1 {
		t.Errorf("crash.png listed %d times:\n%s", n, listing)
	}
	if q, _ := os.ReadDir(filepath.Join(in.Data, "quarantine")); len(q) != 0 {
		t.Errorf("quarantine holds %d files after a clean resume", len(q))
	}
	// HEAD agrees, from the upload's record.
	h, _ := in.expect(http.StatusOK, davReq{method: "HEAD", path: "/tus/" + id, headers: map[string]string{"Tus-Resumable": "1.0.0"}})
	if h.Get("Upload-Offset") != strconv.Itoa(len(body)) {
		t.Errorf("HEAD after the resume: Upload-Offset %q, want %d", h.Get("Upload-Offset"), len(body))
	}
}

// TestSpacePolicy: a space's policy, set by "wharf space policy", refuses
// uploads by content type, name and size, over WebDAV and tus alike, with
// 422 naming the policy step, and renames, moves and copies that would
// land such a file, with 403; with --put full a PUT gets every step.
func TestSpacePolicy(t *testing.T) {
	in := davServer(t)
	mustWharf(t, in.Data, "", "space", "policy", "files", "--allow-types", "image/*", "--deny-names", "*.exe", "--max-file-size", "1M")
	png := string(testPNG(t, 64, 48))

	for _, c := range []struct{ name, body string }{
		{"notes.png", "plain text pretending to be a picture"}, // sniffed, not trusted by name
		{"setup.exe", png},
		{"huge.png", png + strings.Repeat("\x00", 1<<20)},
	} {
		_, body := in.expect(http.StatusUnprocessableEntity, davReq{method: "PUT", path: "/dav/spaces/files/" + c.name, body: c.body})
		if !strings.Contains(body, `"step":"policy"`) {
			t.Errorf("PUT %s refused with %s, want the policy step", c.name, body)
		}
		in.expect(http.StatusNotFound, davReq{method: "GET", path: "/dav/spaces/files/" + c.name})
	}
	in.expect(http.StatusCreated, davReq{method: "PUT", path: "/dav/spaces/files/ok.png", body: png})

	// Every other way in meets the same policy: a rename, a copy, a move
	// or copy from another space, the web API's rename. Each is refused
	// (403, naming the policy) and changes nothing.
	mustWharf(t, in.Data, "", "space", "create", "Other", "--owner", "admin")
	in.expect(http.StatusCreated, davReq{method: "PUT", path: "/dav/spaces/other/notes.txt", body: "plain words"})
	in.expect(http.StatusCreated, davReq{method: "PUT", path: "/dav/spaces/other/pic.png", body: png})
	dest := func(p string) map[string]string { return map[string]string{"Destination": in.URL + p} }
	for _, r := range []davReq{
		{method: "MOVE", path: "/dav/spaces/files/ok.png", headers: dest("/dav/spaces/files/ok.exe")},
		{method: "COPY", path: "/dav/spaces/files/ok.png", headers: dest("/dav/spaces/files/copy.exe")},
		{method: "MOVE", path: "/dav/spaces/other/notes.txt", headers: dest("/dav/spaces/files/notes.txt")},
		{method: "COPY", path: "/dav/spaces/other/notes.txt", headers: dest("/dav/spaces/files/notes.png")},
		{method: "POST", path: "/api/v1/spaces/files/move", body: `{"from":"ok.png","to":"ok.exe"}`,
			headers: map[string]string{"Content-Type": "application/json"}},
		{method: "POST", path: "/api/v1/spaces/other/move", body: `{"from":"notes.txt","to":"notes.txt","toSpace":"files"}`,
			headers: map[string]string{"Content-Type": "application/json"}},
	} {
		st, _, body := in.send("admin", davPW, r)
		if st != http.StatusForbidden || !strings.Contains(body, "policy") {
			t.Errorf("%s %s %v: %d %s, want 403 naming the policy", r.method, r.path, r.headers, st, body)
		}
	}
	for _, p := range []string{"files/ok.exe", "files/copy.exe", "files/notes.txt", "files/notes.png"} {
		in.expect(http.StatusNotFound, davReq{method: "GET", path: "/dav/spaces/" + p})
	}
	in.expect(http.StatusOK, davReq{method: "GET", path: "/dav/spaces/other/notes.txt"})
	// What the policy takes still moves: a picture from the other space.
	in.expect(http.StatusCreated, davReq{method: "MOVE", path: "/dav/spaces/other/pic.png", headers: dest("/dav/spaces/files/pic.png")})

	id := tusCreate(t, in, 11, map[string]string{"space": "files", "path": "text.png"})
	_, body := in.expect(http.StatusUnprocessableEntity, davReq{method: "PATCH", path: "/tus/" + id, body: "just words!",
		headers: map[string]string{"Tus-Resumable": "1.0.0", "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}})
	if !strings.Contains(body, `"step":"policy"`) {
		t.Errorf("tus upload refused with %s, want the policy step", body)
	}

	// With --put full, a PUT is thumbnailed like a tus upload.
	mustWharf(t, in.Data, "", "space", "policy", "files", "--put", "full")
	in.expect(http.StatusCreated, davReq{method: "PUT", path: "/dav/spaces/files/full.png", body: png})
	thumbs, _ := os.ReadDir(filepath.Join(in.Data, "thumbs"))
	if len(thumbs) != 1 {
		t.Errorf("thumbs/ holds %d files after a full PUT and a quick one, want 1", len(thumbs))
	}
}
