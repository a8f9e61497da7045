package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	pathpkg "path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wharfhq/wharf/internal/testservers"
)

// rrProxy is a round-robin reverse proxy in front of replicas, as a load
// balancer would be: each request goes to the next replica still up. It
// keeps the client's Host, so that Locations point at the proxy, and tells
// which replica answered in X-Test-Replica.
type rrProxy struct {
	mu    sync.Mutex
	back  []*url.URL
	down  map[int]bool
	next  int
	last  int // the replica the latest request went to
	proxy *httptest.Server
}

func newRRProxy(t *testing.T, urls ...string) *rrProxy {
	p := &rrProxy{down: map[int]bool{}}
	for _, u := range urls {
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		p.back = append(p.back, pu)
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			i := p.pick()
			r.Out.URL.Scheme, r.Out.URL.Host = p.back[i].Scheme, p.back[i].Host
			r.Out.Host = r.In.Host
			r.Out.Header.Set("X-Test-Replica", strconv.Itoa(i))
		},
		ModifyResponse: func(resp *http.Response) error {
			resp.Header.Set("X-Test-Replica", resp.Request.Header.Get("X-Test-Replica"))
			return nil
		},
		FlushInterval: -1,
	}
	p.proxy = httptest.NewServer(rp)
	t.Cleanup(p.proxy.Close)
	return p
}

func (p *rrProxy) pick() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		i := p.next % len(p.back)
		p.next++
		if !p.down[i] {
			p.last = i
			return i
		}
	}
}

// picks is how many requests the proxy has sent on.
func (p *rrProxy) picks() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.next
}

func (p *rrProxy) lastReplica() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}

// setDown takes replica i out of the rotation, as a health check would.
func (p *rrProxy) setDown(i int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down[i] = true
}

// TestReplicas: three servers on one data directory, one PostgreSQL
// database (--db) and one nats-server (--events), behind a round-robin
// proxy. Through the proxy litmus passes 104/104; a tus upload whose
// PATCHes land on the three replicas completes and reads back through
// each; a PATCH for an upload that another replica is receiving is
// answered 423; an upload whose replica is killed in the middle of a
// PATCH resumes (HEAD, PATCH) on the others and ends byte-identical; and
// subscribers connected to the other replicas receive node.created for
// the uploads.
func TestReplicas(t *testing.T) { testReplicas(t, false) }

// TestReplicasS3 is TestReplicas with the file contents in an S3 bucket
// (SeaweedFS's gateway, --blobs) and a data directory of its own for each
// replica: nothing is shared but PostgreSQL, NATS and the bucket.
func TestReplicasS3(t *testing.T) { testReplicas(t, true) }

func testReplicas(t *testing.T, objects bool) {
	dsn := startPostgres(t, "replicas-db-pw")
	nats := testservers.StartNATS(t)
	env := []string{"WHARF_DB=" + dsn, "WHARF_EVENTS=" + nats.URL()}
	shared := t.TempDir()
	dir := func() string { return shared }
	if objects {
		s3 := testservers.StartS3(t)
		env = append(append(env, s3.Env()...), "WHARF_BLOBS="+s3.URL())
		dir = func() string { return t.TempDir() }
	}
	reps := []*instance{start(t, dir(), append(env, "WHARF_ADMIN_PASSWORD="+davPW)...)}
	reps = append(reps, start(t, dir(), env...), start(t, dir(), env...))
	lb := newRRProxy(t, reps[0].URL, reps[1].URL, reps[2].URL)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()

	t.Run("litmus", func(t *testing.T) {
		litmus := requireTool(t, "litmus", "litmus")
		runLitmus(t, litmus, lb.proxy.URL, "admin", davPW)
	})

	// send sends a tus request to base (the proxy or a replica).
	send := func(base, method, path string, body io.Reader, size int64, hdr ...string) (*http.Response, string, error) {
		req, err := http.NewRequestWithContext(ctx, method, base+path, body)
		if err != nil {
			return nil, "", err
		}
		if body != nil {
			req.ContentLength = size
		}
		req.SetBasicAuth("admin", davPW)
		req.Header.Set("Tus-Resumable", "1.0.0")
		for _, h := range hdr {
			k, v, _ := strings.Cut(h, ": ")
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, "", err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b), nil
	}
	create := func(name string, size int) string {
		t.Helper()
		meta := "space " + base64.StdEncoding.EncodeToString([]byte("files")) + ",path " + base64.StdEncoding.EncodeToString([]byte(name))
		resp, body, err := send(lb.proxy.URL, "POST", "/tus/", nil, 0, "Upload-Length: "+strconv.Itoa(size), "Upload-Metadata: "+meta)
		if err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("tus POST %s: %v %v %s", name, resp, err, body)
		}
		loc, err := url.Parse(resp.Header.Get("Location"))
		if err != nil || !strings.HasPrefix(loc.Path, "/tus/") {
			t.Fatalf("Location %q", resp.Header.Get("Location"))
		}
		return loc.Path
	}
	patch := func(base, path string, off int, chunk []byte) (*http.Response, string) {
		t.Helper()
		resp, body, err := send(base, "PATCH", path, bytes.NewReader(chunk), int64(len(chunk)),
			"Content-Type: application/offset+octet-stream", "Upload-Offset: "+strconv.Itoa(off))
		if err != nil {
			t.Fatalf("PATCH %s at %d: %v", path, off, err)
		}
		return resp, body
	}
	readEverywhere := func(name string, want []byte, live []int) {
		t.Helper()
		for _, i := range live {
			resp := reps[i].do("GET", "/dav/spaces/files/"+name, "admin", davPW, nil)
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !bytes.Equal(got, want) {
				t.Errorf("GET %s through replica %d: %d, %d bytes (want %d, identical: %v)", name, i, resp.StatusCode, len(got), len(want), bytes.Equal(got, want))
			}
		}
	}
	subscribe := func(i int) *websocket.Conn {
		auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:"+davPW))
		c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(reps[i].URL, "http")+"/api/v1/events",
			&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {auth}}})
		if err != nil {
			t.Fatalf("events socket on replica %d: %v", i, err)
		}
		t.Cleanup(func() { c.CloseNow() })
		if err := c.Write(ctx, websocket.MessageText, []byte(`{"action":"subscribe","requestId":"s","filter":{"space":"files","type":"node.created"}}`)); err != nil {
			t.Fatal(err)
		}
		_, msg, err := c.Read(ctx)
		if err != nil || !strings.Contains(string(msg), `"status":200`) {
			t.Fatalf("subscribe on replica %d: %s %v", i, msg, err)
		}
		return c
	}
	content := func(n int, seed byte) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i*7) ^ seed
		}
		return b
	}

	// (b) and (d): PATCHes on every replica, subscribers on every replica.
	subs := []*websocket.Conn{subscribe(0), subscribe(1), subscribe(2)}
	const chunk = 256 << 10
	spread := content(3*chunk+100, 1)
	path := create("spread.bin", len(spread))
	served := map[string]bool{}
	for off := 0; off < len(spread); {
		end := min(off+chunk, len(spread))
		resp, body := patch(lb.proxy.URL, path, off, spread[off:end])
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("PATCH at %d through replica %s: %d %s", off, resp.Header.Get("X-Test-Replica"), resp.StatusCode, body)
		}
		served[resp.Header.Get("X-Test-Replica")] = true
		off = end
	}
	last := lb.lastReplica()
	if len(served) != 3 {
		t.Errorf("the PATCHes landed on replicas %v, want all three", served)
	}
	readEverywhere("spread.bin", spread, []int{0, 1, 2})
	for i, c := range subs {
		if i != last && !heard(ctx, c, "spread.bin") {
			t.Errorf("a subscriber on replica %d did not hear node.created spread.bin, finished on replica %d", i, last)
		}
	}

	// Two replicas at once: while replica 0 receives a PATCH, replica 1
	// answers 423 for the same upload, and replica 0's PATCH completes.
	racy := content(2*chunk, 2)
	path = create("racy.bin", len(racy))
	pr, pw := io.Pipe()
	first := make(chan *http.Response, 1)
	go func() {
		resp, _, err := send(reps[0].URL, "PATCH", path, pr, int64(chunk), "Content-Type: application/offset+octet-stream", "Upload-Offset: 0")
		if err != nil {
			t.Errorf("PATCH on replica 0: %v", err)
		}
		first <- resp
	}()
	pw.Write(racy[:chunk/2])
	// waitHeld waits until the replica receiving a PATCH of path holds the
	// upload: on a shared directory, once bytes of it are on the disk;
	// with the bytes in S3 (sent as parts when the PATCH ends), once
	// another replica (other) answers a HEAD 423.
	waitHeld := func(path string, size int64, other int) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			if objects {
				if resp, _, err := send(reps[other].URL, "HEAD", path, nil, 0); err == nil && resp.StatusCode == http.StatusLocked {
					return
				}
			} else {
				bin := filepath.Join(shared, "uploads", "tus", pathpkg.Base(path))
				if fi, err := os.Stat(bin); err == nil && fi.Size() > size {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: no replica holds the upload with more than %d bytes after 20 s", path, size)
			}
		}
	}
	waitHeld(path, 0, 2)
	if resp, body := patch(reps[1].URL, path, 0, racy[:chunk]); resp.StatusCode != http.StatusLocked {
		t.Fatalf("PATCH on replica 1 while replica 0 receives the same upload: %d %s, want 423", resp.StatusCode, body)
	}
	if resp, body, err := send(reps[2].URL, "HEAD", path, nil, 0); err != nil || resp.StatusCode != http.StatusLocked {
		t.Fatalf("HEAD on replica 2 while replica 0 receives the upload: %v %v %s, want 423", resp, err, body)
	}
	pw.Write(racy[chunk/2 : chunk])
	pw.Close()
	if resp := <-first; resp == nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("the PATCH on replica 0: %v", resp)
	}
	if resp, body := patch(reps[1].URL, path, chunk, racy[chunk:]); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("the rest on replica 1: %d %s", resp.StatusCode, body)
	}
	readEverywhere("racy.bin", racy, []int{0, 1, 2})

	// (c): the replica receiving a PATCH is killed half-way; the client
	// asks another for the offset and resumes there.
	resumed := content(4*chunk, 3)
	path = create("resumed.bin", len(resumed))
	if resp, body := patch(lb.proxy.URL, path, 0, resumed[:chunk]); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("first PATCH: %d %s", resp.StatusCode, body)
	}
	pr, pw = io.Pipe()
	before := lb.picks()
	cut := make(chan error, 1)
	go func() {
		_, _, err := send(lb.proxy.URL, "PATCH", path, pr, int64(2*chunk), "Content-Type: application/offset+octet-stream", "Upload-Offset: "+strconv.Itoa(chunk))
		cut <- err
	}()
	pw.Write(resumed[chunk : chunk+chunk/2])
	for lb.picks() == before { // the proxy has not sent the PATCH on yet
		time.Sleep(10 * time.Millisecond)
	}
	victim := lb.lastReplica()
	// Kill it once it holds the upload (on a shared directory: once some
	// of the PATCH's bytes are on the disk, so that the offset to resume
	// from is inside the PATCH).
	waitHeld(path, chunk, (victim+1)%3)
	reps[victim].kill()
	lb.setDown(victim)
	pw.CloseWithError(fmt.Errorf("the replica died"))
	<-cut
	// The killed replica's hold ends at once (a lock file's flock) or
	// when its lease runs out (in the database, with S3).
	var resp *http.Response
	var body string
	var err error
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp, body, err = send(lb.proxy.URL, "HEAD", path, nil, 0)
		if err == nil && resp.StatusCode == http.StatusLocked && time.Now().Before(deadline) {
			continue
		}
		break
	}
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("HEAD after replica %d was killed: %v %v %s", victim, resp, err, body)
	}
	off, err := strconv.Atoi(resp.Header.Get("Upload-Offset"))
	lowest := chunk + 1 // bytes of the cut PATCH were kept
	if objects {
		lowest = chunk // a part is sent to S3 when the PATCH ends: a killed replica's PATCH may leave nothing
	}
	if err != nil || off < lowest || off > chunk+chunk/2 {
		t.Fatalf("Upload-Offset after the kill: %q, want at least %d and at most %d", resp.Header.Get("Upload-Offset"), lowest, chunk+chunk/2)
	}
	t.Logf("replica %d killed mid-PATCH; resuming at %d on replica %s", victim, off, resp.Header.Get("X-Test-Replica"))
	if resp, body := patch(lb.proxy.URL, path, off, resumed[off:]); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("resuming PATCH at %d: %d %s", off, resp.StatusCode, body)
	}
	var live []int
	for i := range reps {
		if i != victim {
			live = append(live, i)
		}
	}
	readEverywhere("resumed.bin", resumed, live)
}
