package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Disk full (issue 8): wharf on a 20 MiB tmpfs. Uploads that do not fit get
// 507 Insufficient Storage, never a 500, a hang or a half-written file; the
// server keeps serving reads; once a file is deleted uploads work again, and
// wharf check finds the space and its index in agreement.
//
// The tmpfs is mounted in a mount namespace of the test's own: with a user
// namespace (unshare --user --map-root-user --mount) where the kernel allows
// it, else, as root, in a plain mount namespace (unshare --mount), so no
// mount outlives the test. Without either the test skips (fails under
// CI=true).

const diskFullSize = 20 << 20

// fullScript mounts the tmpfs on $WHARF_DATA, runs the server, and once it
// has stopped runs wharf check inside the same namespace (the tmpfs goes
// away with it).
const fullScript = `mount -t tmpfs -o size=%d wharf-diskfull "$WHARF_DATA" || exit 97
"$WHARF_BIN" serve &
echo "wharf-pid=$!"
wait $!
echo "wharf-serve-exit=$?"
echo "wharf-check-begin"
"$WHARF_BIN" check --verify-hashes
echo "wharf-check-exit=$?"
`

// nsWharf is a wharf serve in its own mount namespace.
type nsWharf struct {
	*instance
	pid int // the server's, inside the namespace (same pid namespace)
}

// unshareArgs finds a way to make a mount namespace with a tmpfs in it, or
// "" with why not.
func unshareArgs(t *testing.T) ([]string, string) {
	if _, err := exec.LookPath("unshare"); err != nil {
		return nil, "no unshare(1) (util-linux)"
	}
	dir := t.TempDir()
	var why []string
	tries := [][]string{{"--user", "--map-root-user", "--mount"}}
	if os.Geteuid() == 0 {
		tries = append(tries, []string{"--mount"})
	}
	for _, a := range tries {
		out, err := exec.Command("unshare", append(a, "sh", "-c", "mount -t tmpfs -o size=1m probe "+dir)...).CombinedOutput()
		if err == nil {
			return a, ""
		}
		why = append(why, fmt.Sprintf("unshare %s: %v %s", strings.Join(a, " "), err, bytes.TrimSpace(out)))
	}
	if os.Geteuid() != 0 {
		why = append(why, "not root, so no plain mount namespace either")
	}
	return nil, strings.Join(why, "; ")
}

var nsPID = regexp.MustCompile(`^wharf-pid=(\d+)$`)

// startFull starts wharf on a fresh tmpfs of size bytes.
func startFull(t *testing.T, size int) *nsWharf {
	t.Helper()
	args, why := unshareArgs(t)
	if args == nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("disk-full test cannot mount a tmpfs: %s", why)
		}
		t.Skipf("SKIPPING the disk-full test: cannot mount a tmpfs (%s)", why)
	}
	data := t.TempDir()
	cmd := exec.Command("unshare", append(args, "sh", "-c", fmt.Sprintf(fullScript, size))...)
	cmd.Env = append(cleanEnv(), "WHARF_DATA="+data, "WHARF_LISTEN=127.0.0.1:0", "WHARF_BIN="+binary, "WHARF_ADMIN_PASSWORD="+davPW)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	in := &instance{t: t, cmd: cmd, Data: data, done: make(chan struct{})}
	nw := &nsWharf{instance: in}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr, pid := make(chan string, 1), make(chan int, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			in.mu.Lock()
			in.stderr.WriteString(line + "\n")
			in.mu.Unlock()
			if m := servingLine.FindStringSubmatch(line); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
			if m := nsPID.FindStringSubmatch(line); m != nil {
				n, _ := strconv.Atoi(m[1])
				pid <- n
			}
		}
	}()
	go func() {
		cmd.Wait()
		pw.Close()
		close(in.done)
	}()
	t.Cleanup(func() {
		if nw.pid > 0 {
			syscall.Kill(nw.pid, syscall.SIGKILL)
		}
		cmd.Process.Kill()
		<-in.done
	})
	for in.URL == "" || nw.pid == 0 {
		select {
		case a := <-addr:
			in.URL = "http://" + a
		case nw.pid = <-pid:
		case <-in.done:
			t.Fatalf("wharf serve on a tmpfs exited before listening:\n%s", in.output())
		case <-time.After(30 * time.Second):
			t.Fatalf("wharf serve on a tmpfs did not listen within 30s:\n%s", in.output())
		}
	}
	return nw
}

// stopAndCheck stops the server with SIGTERM and returns wharf check's
// output and exit status, run in the namespace after the server exited.
func (nw *nsWharf) stopAndCheck(t *testing.T) (string, int) {
	t.Helper()
	syscall.Kill(nw.pid, syscall.SIGTERM)
	select {
	case <-nw.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("wharf serve and check did not end within 60s of SIGTERM:\n%s", nw.output())
	}
	out := nw.output()
	if !strings.Contains(out, "wharf-serve-exit=0\n") {
		t.Errorf("wharf serve did not exit 0 after SIGTERM:\n%s", lastLines(out, 20))
	}
	_, check, ok := strings.Cut(out, "wharf-check-begin\n")
	if !ok {
		t.Fatalf("wharf check did not run:\n%s", lastLines(out, 20))
	}
	check, code, _ := strings.Cut(check, "wharf-check-exit=")
	n, _ := strconv.Atoi(strings.TrimSpace(code))
	return check, n
}

// req sends one request as admin and returns status and body; a transport
// error or no answer within 30 s is a test failure (a hang).
func (nw *nsWharf) req(t *testing.T, method, path string, body []byte, hdr ...string) (int, http.Header, string) {
	t.Helper()
	r, err := http.NewRequestWithContext(t.Context(), method, nw.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == nil {
		r.Body, r.ContentLength = http.NoBody, 0
	}
	r.SetBasicAuth("admin", davPW)
	for _, h := range hdr {
		k, v, _ := strings.Cut(h, ":")
		r.Header.Set(k, strings.TrimSpace(v))
	}
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Do(r)
	if err != nil {
		t.Fatalf("%s %s on a full disk: %v (a hang or a dropped connection)\nserver:\n%s", method, path, err, lastLines(nw.output(), 20))
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// TestDiskFull: see the comment at the top of the file.
func TestDiskFull(t *testing.T) {
	nw := startFull(t, diskFullSize)
	var mu sync.Mutex
	stored := map[string][]byte{} // acknowledged files
	put := func(name string, data []byte) int {
		st, _, body := nw.req(t, "PUT", "/dav/spaces/files/"+name, data)
		switch st {
		case http.StatusCreated, http.StatusNoContent:
			mu.Lock()
			stored[name] = data
			mu.Unlock()
		case http.StatusInsufficientStorage:
			if !strings.Contains(strings.ToLower(body), "disk") && !strings.Contains(strings.ToLower(body), "space") {
				t.Errorf("PUT %s: 507 with %q; want a message saying the disk is full", name, body)
			}
		default:
			t.Errorf("PUT %s (%d bytes): %d %s, want 201 or 507\nserver:\n%s", name, len(data), st, body, lastLines(nw.output(), 10))
		}
		return st
	}
	if st := put("keep.bin", randomBytes(t, 2<<20)); st != http.StatusCreated {
		t.Fatalf("PUT keep.bin on an empty 20 MiB disk: %d", st)
	}
	nw.expect(http.StatusCreated, davReq{method: "MKCOL", path: "/dav/spaces/files/dir"})
	// A tus upload begun while there is room, continued once there is none.
	tusBody := randomBytes(t, 1<<20)
	st, h, body := nw.req(t, "POST", "/tus/", nil, "Tus-Resumable: 1.0.0", "Upload-Length: "+strconv.Itoa(len(tusBody)),
		"Upload-Metadata: space ZmlsZXM=,path dHVzLmJpbg==") // files, tus.bin
	if st != http.StatusCreated {
		t.Fatalf("tus POST on an empty disk: %d %s", st, body)
	}
	loc := h.Get("Location")
	tusID := loc[strings.LastIndex(loc, "/")+1:]
	if st, _, body := nw.req(t, "PATCH", "/tus/"+tusID, tusBody[:64<<10], "Tus-Resumable: 1.0.0", "Upload-Offset: 0",
		"Content-Type: application/offset+octet-stream"); st != http.StatusNoContent {
		t.Fatalf("tus PATCH of the first 64 KiB on an empty disk: %d %s", st, body)
	}

	// Fill the disk: big files until one does not fit, then smaller ones,
	// down to 4 KiB.
	fills := 0
	for _, size := range []int{3 << 20, 512 << 10, 64 << 10, 4 << 10} {
		for i := 0; ; i++ {
			if i > 40 {
				t.Fatalf("%d-byte files keep fitting on a 20 MiB disk", size)
			}
			if put(fmt.Sprintf("fill-%d-%d.bin", size, i), randomBytes(t, size)) != http.StatusCreated {
				break
			}
			fills++
		}
	}
	t.Logf("disk full after %d files", fills)
	if t.Failed() {
		t.FailNow()
	}

	// Full: writes get 507 (or succeed if they still fit), nothing half-written.
	if st := put("late.bin", randomBytes(t, 1<<20)); st != http.StatusInsufficientStorage {
		t.Errorf("PUT of 1 MiB on a full disk: %d, want 507", st)
	}
	if st, _, _ := nw.req(t, "GET", "/dav/spaces/files/late.bin", nil); st != http.StatusNotFound {
		t.Errorf("GET of the refused file: %d, want 404", st)
	}
	st, _, body = nw.req(t, "PATCH", "/tus/"+tusID, tusBody[64<<10:], "Tus-Resumable: 1.0.0", "Upload-Offset: "+strconv.Itoa(64<<10),
		"Content-Type: application/offset+octet-stream")
	if st != http.StatusInsufficientStorage {
		t.Errorf("tus PATCH of the rest on a full disk: %d %s, want 507", st, body)
	}
	// Clients ask where they are; the upload must still answer.
	st, h, _ = nw.req(t, "HEAD", "/tus/"+tusID, nil, "Tus-Resumable: 1.0.0")
	tusOffset, _ := strconv.Atoi(h.Get("Upload-Offset"))
	if st != http.StatusOK || tusOffset < 64<<10 || tusOffset >= len(tusBody) {
		t.Errorf("tus HEAD after a refused PATCH: %d, Upload-Offset %q; want 200 and an offset from 64 KiB to less than 1 MiB", st, h.Get("Upload-Offset"))
	}
	st, _, body = nw.req(t, "POST", "/tus/", nil, "Tus-Resumable: 1.0.0", "Upload-Length: 1000",
		"Upload-Metadata: space ZmlsZXM=,path dHVzMi5iaW4=") // files, tus2.bin
	if st != http.StatusCreated && st != http.StatusInsufficientStorage {
		t.Errorf("tus POST on a full disk: %d %s, want 201 or 507", st, body)
	}
	if st, _, _ := nw.req(t, "GET", "/dav/spaces/files/tus.bin", nil); st != http.StatusNotFound {
		t.Errorf("GET of the refused tus upload's file: %d, want 404", st)
	}
	// Metadata writes need little room; they may fit (SQLite reuses pages),
	// but must not fail with anything but 507.
	for i := range 20 {
		st, _, body := nw.req(t, "MKCOL", fmt.Sprintf("/dav/spaces/files/dir/sub%d", i), nil)
		if st != http.StatusCreated && st != http.StatusInsufficientStorage {
			t.Errorf("MKCOL on a full disk: %d %s, want 201 or 507", st, body)
		}
		st, _, body = nw.req(t, "PROPPATCH", "/dav/spaces/files/keep.bin", []byte(fmt.Sprintf(
			`<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:x-test:"><D:set><D:prop><Z:note%d>%s</Z:note%d></D:prop></D:set></D:propertyupdate>`,
			i, strings.Repeat("x", 2000), i)), "Content-Type: application/xml")
		if st != http.StatusMultiStatus && st != http.StatusInsufficientStorage {
			t.Errorf("PROPPATCH on a full disk: %d %s, want 207 or 507", st, body)
		}
		if st == http.StatusMultiStatus && !strings.Contains(body, "200 OK") && !strings.Contains(body, " 507 ") {
			t.Errorf("PROPPATCH on a full disk: 207 with %s; want 200 or 507 for the property", body)
		}
	}

	// Reads keep working.
	for name, data := range stored {
		st, _, body := nw.req(t, "GET", "/dav/spaces/files/"+name, nil)
		if st != http.StatusOK || body != string(data) {
			t.Errorf("GET %s on a full disk: %d, %d bytes; want 200 with the %d bytes stored", name, st, len(body), len(data))
		}
	}
	if st, _, _ := nw.req(t, "PROPFIND", "/dav/spaces/files/", nil, "Depth: 1"); st != http.StatusMultiStatus {
		t.Errorf("PROPFIND on a full disk: %d, want 207", st)
	}

	// Free room: delete the biggest file; uploads work again.
	if st, _, body := nw.req(t, "DELETE", "/dav/spaces/files/fill-3145728-0.bin", nil); st != http.StatusNoContent {
		t.Fatalf("DELETE on a full disk: %d %s, want 204 (deleting is how room is made)", st, body)
	}
	delete(stored, "fill-3145728-0.bin")
	if st := put("after.bin", randomBytes(t, 1<<20)); st != http.StatusCreated {
		t.Errorf("PUT after freeing 3 MiB: %d, want 201", st)
	}
	// The tus client resumes where HEAD says.
	st, h, _ = nw.req(t, "HEAD", "/tus/"+tusID, nil, "Tus-Resumable: 1.0.0")
	tusOffset, _ = strconv.Atoi(h.Get("Upload-Offset"))
	if st != http.StatusOK {
		t.Fatalf("tus HEAD after freeing room: %d", st)
	}
	st, _, body = nw.req(t, "PATCH", "/tus/"+tusID, tusBody[tusOffset:], "Tus-Resumable: 1.0.0", "Upload-Offset: "+strconv.Itoa(tusOffset),
		"Content-Type: application/offset+octet-stream")
	if st != http.StatusNoContent {
		t.Errorf("tus PATCH after freeing room: %d %s, want 204", st, body)
	} else {
		stored["tus.bin"] = tusBody
	}
	for name, data := range stored {
		if st, _, body := nw.req(t, "GET", "/dav/spaces/files/"+name, nil); st != http.StatusOK || body != string(data) {
			t.Errorf("GET %s at the end: %d, %d bytes; want 200 with %d bytes", name, st, len(body), len(data))
		}
	}

	check, code := nw.stopAndCheck(t)
	if code != 0 {
		t.Errorf("wharf check --verify-hashes after the disk was full: exit %d\n%s", code, check)
	}
	if t.Failed() {
		t.Logf("server:\n%s", lastLines(nw.output(), 40))
	}
}
