package e2e

import (
	"bytes"
	bin "encoding/binary"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharfhq/wharf/internal/clamdtest"
)

// TestScanOnExposure: files that are in a space without having been
// scanned (here: put while the server ran without --clamd) are scanned on
// their first exposure once a scanner is configured. EICAR copied or moved
// to another space over WebDAV, moved by the web API, or simply read, is
// refused with 422 naming the signature and quarantined: gone from its
// space, in quarantine/. So is a commit of it to a Phraseanet target. A clean file passes and is recorded clean; with
// the scanner unreachable, the first read of an unscanned file is 503, not
// an unscanned file served.
func TestScanOnExposure(t *testing.T) {
	sock := clamdtest.Start(t)
	data := t.TempDir()
	in := start(t, data, "WHARF_ADMIN_PASSWORD="+davPW)
	mustWharf(t, data, "", "space", "create", "Other", "--owner", "admin")
	for _, name := range []string{"copied.com", "moved.com", "api-moved.com", "read.com"} {
		in.expect(http.StatusCreated, davReq{method: "PUT", path: "/dav/spaces/files/" + name, body: string(clamdtest.EICAR)})
	}
	in.expect(http.StatusCreated, davReq{method: "PUT", path: "/dav/spaces/files/clean.txt", body: "nothing to see here\n"})
	in.expect(http.StatusCreated, davReq{method: "PUT", path: "/dav/spaces/files/later.txt", body: "read while clamd is down\n"})
	in.expect(http.StatusCreated, davReq{method: "MKCOL", path: "/dav/spaces/files/dam"})
	in.expect(http.StatusCreated, davReq{method: "PUT", path: "/dav/spaces/files/dam/committed.com", body: string(clamdtest.EICAR)})
	in.expect(http.StatusCreated, davReq{method: "PUT", path: "/dav/spaces/files/dam/ok.txt", body: "fine\n"})
	kv := mustWharf(t, data, "", "target", "add", "dam", "--space", "files", "--folder", "dam", "--mode", "pull",
		"--destination", "42", "--public-url", in.URL)
	target := ""
	for line := range strings.SplitSeq(kv, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "id="); ok {
			target = v
		}
	}
	if target == "" {
		t.Fatalf("target add printed no id=:\n%s", kv)
	}
	if in.stop() != 0 {
		t.Fatalf("stop:\n%s", in.output())
	}

	// The scanner configured but unreachable: nothing unscanned is served.
	down := start(t, data, "WHARF_ADMIN_PASSWORD="+davPW, "WHARF_CLAMD=unix:"+filepath.Join(clamdtest.ShortTempDir(t), "none.sock"))
	_, body := down.expect(http.StatusServiceUnavailable, davReq{method: "GET", path: "/dav/spaces/files/later.txt"})
	if !strings.Contains(body, "scan") {
		t.Errorf("503 body %q: want it to say the scan is missing", body)
	}
	if down.stop() != 0 {
		t.Fatalf("stop:\n%s", down.output())
	}

	in = start(t, data, "WHARF_ADMIN_PASSWORD="+davPW, "WHARF_CLAMD=unix:"+sock)
	quarantined := func() int {
		q, _ := os.ReadDir(filepath.Join(data, "quarantine"))
		return len(q)
	}
	refused := func(what, body string) {
		t.Helper()
		if !strings.Contains(body, clamdtest.Signature) {
			t.Errorf("%s: 422 body %q does not name the signature", what, body)
		}
	}
	for i, c := range []struct {
		what string
		req  davReq
		gone []string // paths that must not be served afterwards
	}{
		{"WebDAV COPY", davReq{method: "COPY", path: "/dav/spaces/files/copied.com",
			headers: map[string]string{"Destination": in.URL + "/dav/spaces/other/copied.com"}},
			[]string{"/dav/spaces/files/copied.com", "/dav/spaces/other/copied.com"}},
		{"WebDAV MOVE", davReq{method: "MOVE", path: "/dav/spaces/files/moved.com",
			headers: map[string]string{"Destination": in.URL + "/dav/spaces/other/moved.com"}},
			[]string{"/dav/spaces/files/moved.com", "/dav/spaces/other/moved.com"}},
		{"web API move", davReq{method: "POST", path: "/api/v1/spaces/files/move",
			headers: map[string]string{"Content-Type": "application/json"},
			body:    `{"from":"api-moved.com","to":"api-moved.com","toSpace":"other"}`},
			[]string{"/dav/spaces/files/api-moved.com", "/dav/spaces/other/api-moved.com"}},
		{"WebDAV GET", davReq{method: "GET", path: "/dav/spaces/files/read.com"},
			[]string{"/dav/spaces/files/read.com"}},
		{"Phraseanet commit", davReq{method: "POST", path: "/api/v1/targets/" + target + "/commits",
			headers: map[string]string{"Content-Type": "application/json"},
			body:    `{"paths":["committed.com","ok.txt"]}`},
			[]string{"/dav/spaces/files/dam/committed.com"}},
	} {
		_, body := in.expect(http.StatusUnprocessableEntity, c.req)
		refused(c.what, body)
		for _, p := range c.gone {
			in.expect(http.StatusNotFound, davReq{method: "GET", path: p})
		}
		if got := quarantined(); got != i+1 {
			t.Errorf("after the %s: %d files in quarantine, want %d", c.what, got, i+1)
		}
	}

	// The commit refused took nothing; the clean file commits alone.
	in.expect(http.StatusCreated, davReq{method: "POST", path: "/api/v1/targets/" + target + "/commits",
		headers: map[string]string{"Content-Type": "application/json"}, body: `{"paths":["ok.txt"]}`})

	// A clean file is scanned once and then goes where it is asked to.
	in.expect(http.StatusCreated, davReq{method: "COPY", path: "/dav/spaces/files/clean.txt",
		headers: map[string]string{"Destination": in.URL + "/dav/spaces/other/clean.txt"}})
	if _, got := in.expect(http.StatusOK, davReq{method: "GET", path: "/dav/spaces/other/clean.txt"}); got != "nothing to see here\n" {
		t.Errorf("copied clean file reads %q", got)
	}
	_, js := in.expect(http.StatusOK, davReq{method: "GET", path: "/api/v1/metadata/files/clean.txt"})
	var md struct {
		File struct {
			Scanned bool   `json:"scanned"`
			SHA256  string `json:"sha256"`
		} `json:"file"`
	}
	if err := json.Unmarshal([]byte(js), &md); err != nil || !md.File.Scanned || md.File.SHA256 == "" {
		t.Errorf("metadata of the scanned clean file: %s (%v); want scanned with its SHA-256", js, err)
	}
	_, pf := in.expect(http.StatusMultiStatus, davReq{method: "PROPFIND", path: "/dav/spaces/other/clean.txt",
		headers: map[string]string{"Depth": "0"}, body: propfindBody("scanned")})
	if !strings.Contains(pf, ">true</w:scanned>") {
		t.Errorf("PROPFIND w:scanned of the clean copy:\n%s", pf)
	}
}

// TestMetadataEveryWayIn: a JPEG with EXIF PUT over WebDAV (the quick,
// inline path) gets its thumbnail and metadata soon after, and they are
// readable in the node JSON of the web API, in /api/v1/metadata and as
// WebDAV properties in Wharf's namespace (which PROPPATCH cannot set).
// A copy has them too; an overwrite with other bytes clears them.
func TestMetadataEveryWayIn(t *testing.T) {
	in := davServer(t)
	photo := exifPhoto(t, "Canon", "EOS R5", "2024:05:06 07:08:09")
	in.expect(http.StatusCreated, davReq{method: "PUT", path: "/dav/spaces/files/cam.jpg", body: string(photo)})

	type meta struct {
		MIME        string `json:"mime"`
		Extracted   bool   `json:"extracted"`
		Width       int    `json:"width"`
		Height      int    `json:"height"`
		Make        string `json:"make"`
		Model       string `json:"model"`
		Captured    string `json:"captured"`
		Orientation int    `json:"orientation"`
		Thumbnail   bool   `json:"thumbnail"`
	}
	nodeMeta := func(p string) (meta, string) {
		t.Helper()
		_, js := in.expect(http.StatusOK, davReq{method: "GET", path: "/api/v1/spaces/files/nodes/" + p})
		var out struct {
			Node struct {
				Thumb string `json:"thumb"`
				Meta  meta   `json:"meta"`
			} `json:"node"`
		}
		if err := json.Unmarshal([]byte(js), &out); err != nil {
			t.Fatalf("node JSON %q: %v", js, err)
		}
		return out.Node.Meta, out.Node.Thumb
	}
	var m meta
	var thumb string
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if m, thumb = nodeMeta("cam.jpg"); m.Extracted || time.Now().After(deadline) {
			break
		}
	}
	want := meta{MIME: "image/jpeg", Extracted: true, Width: 40, Height: 30, Make: "Canon", Model: "EOS R5",
		Captured: "2024-05-06T07:08:09", Orientation: 6, Thumbnail: true}
	if m != want {
		t.Fatalf("node JSON meta of the PUT JPEG:\n got %+v\nwant %+v", m, want)
	}
	if thumb == "" {
		t.Fatal("the PUT JPEG has no thumbnail URL")
	}
	if h, _ := in.expect(http.StatusOK, davReq{method: "GET", path: thumb}); h.Get("Content-Type") != "image/jpeg" {
		t.Errorf("thumbnail Content-Type %q", h.Get("Content-Type"))
	}

	_, js := in.expect(http.StatusOK, davReq{method: "GET", path: "/api/v1/metadata/files/cam.jpg"})
	var md struct {
		Metadata map[string]any `json:"metadata"`
		File     meta           `json:"file"`
	}
	if err := json.Unmarshal([]byte(js), &md); err != nil || md.File != want || md.Metadata == nil {
		t.Errorf("/api/v1/metadata: %s (%v); want file %+v and the finalization metadata {}", js, err, want)
	}

	_, pf := in.expect(http.StatusMultiStatus, davReq{method: "PROPFIND", path: "/dav/spaces/files/cam.jpg",
		headers: map[string]string{"Depth": "0"}, body: propfindBody("make", "model", "width", "height", "captured", "orientation")})
	for _, v := range []string{">Canon</w:make>", ">EOS R5</w:model>", ">40</w:width>", ">30</w:height>",
		">2024-05-06T07:08:09</w:captured>", ">6</w:orientation>"} {
		if !strings.Contains(pf, v) {
			t.Errorf("PROPFIND lacks %s:\n%s", v, pf)
		}
	}
	_, names := in.expect(http.StatusMultiStatus, davReq{method: "PROPFIND", path: "/dav/spaces/files/cam.jpg",
		headers: map[string]string{"Depth": "0"}, body: `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:propname/></D:propfind>`})
	if !strings.Contains(names, `<x:make xmlns:x="https://wharf.dev/ns"/>`) {
		t.Errorf("propname does not list the make:\n%s", names)
	}
	_, all := in.expect(http.StatusMultiStatus, davReq{method: "PROPFIND", path: "/dav/spaces/files/cam.jpg",
		headers: map[string]string{"Depth": "1"}, body: `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>`})
	if strings.Contains(all, "wharf.dev") {
		t.Errorf("a plain allprop shows Wharf's properties:\n%s", all)
	}
	_, pp := in.expect(http.StatusMultiStatus, davReq{method: "PROPPATCH", path: "/dav/spaces/files/cam.jpg",
		body: `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:w="https://wharf.dev/ns"><D:set><D:prop><w:make>Nikon</w:make></D:prop></D:set></D:propertyupdate>`})
	if !strings.Contains(pp, "403") || !strings.Contains(pp, "cannot-modify-protected-property") {
		t.Errorf("PROPPATCH of w:make:\n%s", pp)
	}

	// A copy is the same bytes: the same metadata.
	in.expect(http.StatusCreated, davReq{method: "COPY", path: "/dav/spaces/files/cam.jpg",
		headers: map[string]string{"Destination": in.URL + "/dav/spaces/files/copy.jpg"}})
	if m, _ := nodeMeta("copy.jpg"); m != want {
		t.Errorf("meta of the copy: %+v", m)
	}

	// Overwritten with other bytes: the old findings are gone at once,
	// and the new ones follow.
	plain := exifPhoto(t, "", "", "")
	in.expect(http.StatusNoContent, davReq{method: "PUT", path: "/dav/spaces/files/cam.jpg", body: string(plain)})
	if m, _ := nodeMeta("cam.jpg"); m.Make != "" || m.Model != "" {
		t.Errorf("after the overwrite the old make/model remain: %+v", m)
	}
	_, js = in.expect(http.StatusOK, davReq{method: "GET", path: "/api/v1/metadata/files/cam.jpg"})
	if strings.Contains(js, "Canon") {
		t.Errorf("/api/v1/metadata after the overwrite: %s", js)
	}
	_, pf = in.expect(http.StatusMultiStatus, davReq{method: "PROPFIND", path: "/dav/spaces/files/cam.jpg",
		headers: map[string]string{"Depth": "0"}, body: propfindBody("make")})
	if strings.Contains(pf, "Canon") || !strings.Contains(pf, "404") {
		t.Errorf("PROPFIND w:make after the overwrite:\n%s", pf)
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if m, _ = nodeMeta("cam.jpg"); m.Extracted || time.Now().After(deadline) {
			break
		}
	}
	if !m.Extracted || m.Width != 40 || m.Make != "" {
		t.Errorf("meta of the overwritten file: %+v; want the new image's, without EXIF", m)
	}
	// The copy keeps its own.
	if m, _ := nodeMeta("copy.jpg"); m != want {
		t.Errorf("meta of the copy after the original's overwrite: %+v", m)
	}

	// By tus, the full steps run before the install: the findings are
	// there as soon as the upload is answered.
	other := exifPhoto(t, "Fujifilm", "X-T5", "2023:01:02 03:04:05")
	id := tusCreate(t, in, len(other), map[string]string{"space": "files", "path": "tus.jpg"})
	in.expect(http.StatusNoContent, davReq{method: "PATCH", path: "/tus/" + id, body: string(other), headers: map[string]string{
		"Tus-Resumable": "1.0.0", "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}})
	if m, _ := nodeMeta("tus.jpg"); !m.Extracted || m.Make != "Fujifilm" || m.Model != "X-T5" || m.Captured != "2023-01-02T03:04:05" {
		t.Errorf("meta of the tus upload: %+v", m)
	}
}

// propfindBody asks for Wharf's properties named.
func propfindBody(names ...string) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:w="https://wharf.dev/ns"><D:prop>`)
	for _, n := range names {
		b.WriteString("<w:" + n + "/>")
	}
	b.WriteString("</D:prop></D:propfind>")
	return b.String()
}

// exifPhoto is a 40x30 JPEG; with a make, it carries an EXIF segment with
// make, model, orientation 6 and the capture time (big-endian TIFF).
func exifPhoto(t *testing.T, make_, model, date string) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 40, 30))
	for y := range 30 {
		for x := range 40 {
			img.Set(x, y, color.RGBA{uint8(x * 6), uint8(y * 8), 90, 255})
		}
	}
	var jb bytes.Buffer
	if err := jpeg.Encode(&jb, img, nil); err != nil {
		t.Fatal(err)
	}
	jpg := jb.Bytes()
	if make_ == "" {
		return jpg
	}
	be := bin.BigEndian
	const ifd0 = 8
	const exifIFD = ifd0 + 2 + 4*12 + 4
	const data = exifIFD + 2 + 12 + 4
	var strs []byte
	str := func(s string) (count, off uint32) {
		off = uint32(data + len(strs))
		strs = append(strs, s+"\x00"...)
		return uint32(len(s) + 1), off
	}
	entry := func(tag, typ uint16, count uint32, val []byte) []byte {
		e := be.AppendUint32(be.AppendUint16(be.AppendUint16(nil, tag), typ), count)
		e = append(e, val...)
		return append(e, make([]byte, 12-len(e))...)
	}
	u32 := func(v uint32) []byte { return be.AppendUint32(nil, v) }
	b := []byte("MM\x00\x2a")
	b = be.AppendUint32(b, ifd0)
	b = be.AppendUint16(b, 4)
	mc, mo := str(make_)
	b = append(b, entry(0x010f, 2, mc, u32(mo))...)
	dc, do := str(model)
	b = append(b, entry(0x0110, 2, dc, u32(do))...)
	b = append(b, entry(0x0112, 3, 1, be.AppendUint16(nil, 6))...)
	b = append(b, entry(0x8769, 4, 1, u32(exifIFD))...)
	b = be.AppendUint32(b, 0)
	b = be.AppendUint16(b, 1)
	tc, to := str(date)
	b = append(b, entry(0x9003, 2, tc, u32(to))...)
	b = be.AppendUint32(b, 0)
	b = append(b, strs...)
	app1 := append([]byte("Exif\x00\x00"), b...)
	seg := append([]byte{0xff, 0xe1, byte((len(app1) + 2) >> 8), byte(len(app1) + 2)}, app1...)
	return append(append(append([]byte{}, jpg[:2]...), seg...), jpg[2:]...)
}
