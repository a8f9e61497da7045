package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wharfhq/wharf/e2e/phrasesim"
)

// The Phraseanet hand-off (issue 5) against a simulated Phraseanet
// (e2e/phrasesim, written from docs/protocols/phraseanet.md). Every test ends by
// checking that the simulator saw no deviation from the protocol.

const phFolder = "inbox"

// phFile is a file dropped into the target's folder.
type phFile struct {
	name string
	data []byte
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// phFiles are a real image, a binary with bytes of every value and a file
// whose name is not ASCII. prefix keeps names unique between batches.
func phFiles(t *testing.T, prefix string) []phFile {
	return []phFile{
		{prefix + "photo.png", testPNG(t, 64, 48)},
		{prefix + "blob.bin", randomBytes(t, 300<<10)},
		{prefix + "Ærø café – 写真.txt", []byte("notes en français, 日本語\n")},
	}
}

func expectMap(files ...[]phFile) map[string][]byte {
	m := map[string][]byte{}
	for _, fs := range files {
		for _, f := range fs {
			m[f.name] = f.data
		}
	}
	return m
}

// phServer is a wharf whose public URL is known before it starts, so that
// base_url and pull_uri point at it.
type phServer struct {
	*instance
	data, addr string
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func startPh(t *testing.T) *phServer {
	t.Helper()
	ps := &phServer{data: t.TempDir(), addr: freeAddr(t)}
	ps.instance = ps.restart(t)
	return ps
}

// restart starts wharf again on the same data and address.
func (ps *phServer) restart(t *testing.T) *instance {
	t.Helper()
	// A push in doubt (a kill during the enqueue call) waits 8 s for the
	// simulator, whose consumer retries every 2 s, to fetch an asset.
	in := start(t, ps.data, "WHARF_ADMIN_PASSWORD="+davPW, "WHARF_LISTEN="+ps.addr, "WHARF_PUBLIC_URL=http://"+ps.addr,
		"WHARF_PUSH_DOUBT_HOLD=8s")
	if in.URL != "http://"+ps.addr {
		t.Fatalf("wharf listens on %s, want %s", in.URL, ps.addr)
	}
	ps.instance = in
	return in
}

// addTarget runs "wharf target add" and returns its key=value lines.
func (ps *phServer) addTarget(t *testing.T, name string, args ...string) map[string]string {
	t.Helper()
	base := []string{"target", "add", name, "--space", "files", "--folder", phFolder, "--destination", "42", "--public-url", "http://" + ps.addr}
	out := mustWharf(t, ps.data, "", append(base, args...)...)
	kv := map[string]string{}
	for line := range strings.SplitSeq(out, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
			kv[k] = v
		}
	}
	if kv["id"] == "" {
		t.Fatalf("target add printed no id=:\n%s", out)
	}
	return kv
}

func (ps *phServer) put(t *testing.T, files []phFile) {
	t.Helper()
	ps.send("admin", davPW, davReq{method: "MKCOL", path: "/dav/spaces/files/" + phFolder})
	for _, f := range files {
		p := (&url.URL{Path: "/dav/spaces/files/" + phFolder + "/" + f.name}).EscapedPath()
		ps.expect(http.StatusCreated, davReq{method: "PUT", path: p, body: string(f.data)})
	}
}

// commitResp is the answer of POST /api/v1/targets/{id}/commits.
type commitResp struct {
	ID     string `json:"id"`
	Token  string `json:"token"`
	State  string `json:"state"`
	Assets []struct {
		ID   string `json:"id"`
		Path string `json:"path"`
	} `json:"assets"`
}

// commit commits files by path through the JSON API. The files may still be
// in processing: the call is retried for a few seconds while it answers 4xx
// other than 409.
func (ps *phServer) commit(t *testing.T, target string, files []phFile, formData map[string]any) commitResp {
	t.Helper()
	var paths []string
	for _, f := range files {
		paths = append(paths, phFolder+"/"+f.name)
	}
	body := map[string]any{"paths": paths}
	if formData != nil {
		body["formData"] = formData
	}
	b, _ := json.Marshal(body)
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, _, got := ps.send("admin", davPW, davReq{method: "POST", path: "/api/v1/targets/" + target + "/commits",
			body: string(b), headers: map[string]string{"Content-Type": "application/json"}})
		if status == http.StatusCreated {
			var c commitResp
			if err := json.Unmarshal([]byte(got), &c); err != nil || c.ID == "" || len(c.Assets) != len(files) {
				t.Fatalf("POST commits: 201 %s; want {id, token, assets: %d entries, state}", got, len(files))
			}
			return c
		}
		if status == http.StatusConflict || status >= 500 || time.Now().After(deadline) {
			t.Fatalf("POST /api/v1/targets/%s/commits %s: %d %s, want 201", target, b, status, got)
		}
		t.Logf("POST commits: %d %s; retrying (files may be processing)", status, got)
		time.Sleep(300 * time.Millisecond)
	}
}

// commitStates is GET /api/v1/targets/{id}/commits as id -> state.
func (ps *phServer) commitStates(t *testing.T, target string) map[string]string {
	t.Helper()
	_, body := ps.expect(http.StatusOK, davReq{method: "GET", path: "/api/v1/targets/" + target + "/commits"})
	var list []map[string]any
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		var wrapped map[string]json.RawMessage
		if json.Unmarshal([]byte(body), &wrapped) != nil {
			t.Fatalf("GET commits: not a JSON list: %s", body)
		}
		for _, v := range wrapped {
			if json.Unmarshal(v, &list) == nil {
				break
			}
		}
	}
	states := map[string]string{}
	for _, c := range list {
		id, _ := c["id"].(string)
		st, _ := c["state"].(string)
		states[id] = st
	}
	return states
}

// waitState waits until commit is in state want and returns the states seen.
func (ps *phServer) waitState(t *testing.T, target, commit, want string, within time.Duration) []string {
	t.Helper()
	var seen []string
	deadline := time.Now().Add(within)
	for {
		st := ps.commitStates(t, target)[commit]
		if len(seen) == 0 || seen[len(seen)-1] != st {
			seen = append(seen, st)
		}
		if st == want {
			return seen
		}
		if time.Now().After(deadline) {
			t.Fatalf("commit %s: states %q within %s, want %s\nserver log:\n%s", commit, seen, within, want, lastLines(ps.output(), 30))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func newPhSim(t *testing.T, mode phrasesim.Mode, ps *phServer, expect map[string][]byte) *phrasesim.Sim {
	t.Helper()
	sim, err := phrasesim.New(phrasesim.Config{
		Mode:       mode,
		Key:        "phraseanet-api-token",
		Expect:     expect,
		Forbidden:  []string{ps.data},
		RetryDelay: 200 * time.Millisecond,
		Dial:       map[string]string{"127.0.0.1:80": ps.addr}, // pull mode drops the port
		Timeout:    10 * time.Second,
		Logf:       t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sim.Close()
		for _, d := range sim.Deviations() {
			t.Errorf("Phraseanet deviation: %s", d)
		}
	})
	return sim
}

// waitIngested waits until every file is a record in Phraseanet with its
// exact bytes and acknowledged, each exactly once.
func waitIngested(t *testing.T, sim *phrasesim.Sim, ps *phServer, files []phFile, within time.Duration) []phrasesim.Record {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		recs := sim.Records()
		missing := 0
		for _, f := range files {
			n := 0
			for _, r := range recs {
				if r.Name == f.name && bytes.Equal(r.Data, f.data) && r.Acknowledged {
					n++
				}
			}
			if n > 1 {
				t.Fatalf("%s ingested %d times", f.name, n)
			}
			if n == 0 {
				missing++
			}
		}
		if missing == 0 {
			return recs
		}
		if time.Now().After(deadline) {
			var got []string
			for _, r := range recs {
				got = append(got, fmt.Sprintf("%s (%d bytes, acked %v)", r.Name, r.Size, r.Acknowledged))
			}
			t.Fatalf("after %s, %d of %d files not ingested+acknowledged; records %q\nsimulator errors: %q\ndeviations: %q\nserver log:\n%s",
				within, missing, len(files), got, sim.Errors(), sim.Deviations(), lastLines(ps.output(), 30))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func pushArgs(sim *phrasesim.Sim) []string {
	return []string{"--mode", "push", "--url", sim.EnqueueURL(), "--key", sim.Key()}
}

func startPull(t *testing.T, sim *phrasesim.Sim, kv map[string]string) {
	t.Helper()
	for _, k := range []string{"pull_uri", "client_id", "client_secret"} {
		if kv[k] == "" {
			t.Fatalf("target add --mode pull printed no %s= line: %q", k, kv)
		}
	}
	if !strings.HasSuffix(kv["pull_uri"], "/commits?target="+kv["id"]) {
		t.Errorf("pull_uri=%s, want <public url>/commits?target=%s", kv["pull_uri"], kv["id"])
	}
	if err := sim.Pull(phrasesim.PullConfig{URI: kv["pull_uri"], ClientID: kv["client_id"], ClientSecret: kv["client_secret"], Every: 300 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
}

var modes = []phrasesim.Mode{phrasesim.Current, phrasesim.V4_1_3, phrasesim.V4_1_2, phrasesim.V4_1_0}

// TestPhraseanetModes: every release, in push and in pull, ingests every
// file byte-identical and the commit ends acknowledged, delivered once.
func TestPhraseanetModes(t *testing.T) {
	for _, mode := range modes {
		for _, how := range []string{"push", "pull"} {
			t.Run(mode.String()+"/"+how, func(t *testing.T) {
				ps := startPh(t)
				files := phFiles(t, "")
				sim := newPhSim(t, mode, ps, expectMap(files))
				var kv map[string]string
				if how == "push" {
					kv = ps.addTarget(t, "dam", pushArgs(sim)...)
				} else {
					kv = ps.addTarget(t, "dam", "--mode", "pull")
					startPull(t, sim, kv)
				}
				ps.put(t, files)
				c := ps.commit(t, kv["id"], files, map[string]any{"is_story": "0"})
				if len(c.Token) != 42 {
					t.Errorf("commit token %q: want 42 hex characters", c.Token)
				}
				recs := waitIngested(t, sim, ps, files, 30*time.Second)
				ps.waitState(t, kv["id"], c.ID, "acknowledged", 10*time.Second)
				for _, r := range recs {
					if r.Commit != c.ID || r.Collection != "42" {
						t.Errorf("record %s: commit %s collection %s; want %s and the target's destination 42", r.Name, r.Commit, r.Collection, c.ID)
					}
				}
				if how == "push" {
					if n := sim.Enqueued(c.ID); n != 1 {
						t.Errorf("commit enqueued %d times, want 1", n)
					}
				} else {
					if n := sim.Enqueued(c.ID); n != 0 {
						t.Errorf("pull-only target pushed the commit %d times", n)
					}
					reqs := strings.Join(sim.Requests(), "\n")
					if !strings.Contains(reqs, "POST http://127.0.0.1/oauth/v2/token") {
						t.Errorf("the simulator did not ask the port-less token URL:\n%s", reqs)
					}
				}
			})
		}
	}
}

// TestPhraseanetZeroByteFile: an empty file is handed off like any other.
func TestPhraseanetZeroByteFile(t *testing.T) {
	ps := startPh(t)
	files := []phFile{{"empty.txt", nil}, {"one.txt", []byte("1")}}
	sim := newPhSim(t, phrasesim.Current, ps, expectMap(files))
	kv := ps.addTarget(t, "dam", pushArgs(sim)...)
	ps.put(t, files)
	c := ps.commit(t, kv["id"], files, nil)
	waitIngested(t, sim, ps, files, 30*time.Second)
	ps.waitState(t, kv["id"], c.ID, "acknowledged", 10*time.Second)
}

// TestPhraseanetSchedule: with a 1 s interval, files dropped by WebDAV in
// several batches end up in exactly one commit each.
func TestPhraseanetSchedule(t *testing.T) {
	ps := startPh(t)
	batches := [][]phFile{phFiles(t, "a-"), phFiles(t, "b-"), {{"c-late.txt", []byte("late")}}}
	sim := newPhSim(t, phrasesim.Current, ps, expectMap(batches...))
	kv := ps.addTarget(t, "scheduled", append(pushArgs(sim), "--every", "1s")...)
	var all []phFile
	for i, b := range batches {
		if i > 0 {
			time.Sleep(1500 * time.Millisecond)
		}
		ps.put(t, b)
		all = append(all, b...)
	}
	recs := waitIngested(t, sim, ps, all, 40*time.Second)
	time.Sleep(2500 * time.Millisecond) // two more ticks: nothing may be committed again
	if got := sim.Records(); len(got) != len(all) {
		t.Errorf("%d records after more ticks, want %d (one per file)", len(got), len(all))
	}
	states := ps.commitStates(t, kv["id"])
	commits := map[string]bool{}
	for _, r := range recs {
		commits[r.Commit] = true
		if sim.Enqueued(r.Commit) != 1 {
			t.Errorf("commit %s enqueued %d times, want 1", r.Commit, sim.Enqueued(r.Commit))
		}
	}
	for id := range commits {
		if states[id] != "acknowledged" {
			t.Errorf("commit %s is %q in the API, want acknowledged (all: %v)", id, states[id], states)
		}
	}
	if len(states) != len(commits) {
		t.Errorf("the API lists %d commits, Phraseanet received %d: %v", len(states), len(commits), states)
	}
	t.Logf("%d files in %d scheduled commits", len(all), len(commits))
}

// TestPhraseanetEnqueueDownThenBack: the commit shows failing while
// Phraseanet is unreachable, then is delivered once.
func TestPhraseanetEnqueueDownThenBack(t *testing.T) {
	ps := startPh(t)
	files := phFiles(t, "")
	sim := newPhSim(t, phrasesim.Current, ps, expectMap(files))
	kv := ps.addTarget(t, "dam", pushArgs(sim)...)
	sim.Down()
	ps.put(t, files)
	c := ps.commit(t, kv["id"], files, nil)
	seen := ps.waitState(t, kv["id"], c.ID, "failing", 15*time.Second)
	time.Sleep(2 * time.Second)
	if err := sim.Up(); err != nil {
		t.Fatal(err)
	}
	waitIngested(t, sim, ps, files, 60*time.Second)
	seen = append(seen, ps.waitState(t, kv["id"], c.ID, "acknowledged", 10*time.Second)...)
	if n := sim.Enqueued(c.ID); n != 1 {
		t.Errorf("delivered %d times, want once", n)
	}
	t.Logf("states seen: %q", seen)
}

// TestPhraseanetEnqueueErrors: 500s and a call that hangs are retried until
// Phraseanet queues the commit, once.
func TestPhraseanetEnqueueErrors(t *testing.T) {
	for _, c := range []struct {
		name   string
		inject func(*phrasesim.Sim)
		within time.Duration
	}{
		{"three 500s", func(s *phrasesim.Sim) { s.FailEnqueue(3) }, 60 * time.Second},
		{"a call that hangs", func(s *phrasesim.Sim) { s.SlowEnqueue(1, 40*time.Second) }, 90 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			ps := startPh(t)
			files := phFiles(t, "")
			sim := newPhSim(t, phrasesim.Current, ps, expectMap(files))
			kv := ps.addTarget(t, "dam", pushArgs(sim)...)
			c.inject(sim)
			ps.put(t, files)
			cm := ps.commit(t, kv["id"], files, nil)
			waitIngested(t, sim, ps, files, c.within)
			ps.waitState(t, kv["id"], cm.ID, "acknowledged", 10*time.Second)
			if n := sim.Enqueued(cm.ID); n != 1 {
				t.Errorf("queued %d times, want once", n)
			}
			if n := sim.EnqueueCalls(cm.ID); n < 2 {
				t.Errorf("%d enqueue calls; the fault was not retried", n)
			}
			t.Logf("%d enqueue calls, %d abandoned by wharf's client timeout", sim.EnqueueCalls(cm.ID), sim.Abandoned())
		})
	}
}

// TestPhraseanetAckLost: an ack whose answer is lost is redone; the commit
// is acknowledged once and not sent again.
func TestPhraseanetAckLost(t *testing.T) {
	for _, mode := range []phrasesim.Mode{phrasesim.Current, phrasesim.V4_1_3} {
		t.Run(mode.String(), func(t *testing.T) {
			ps := startPh(t)
			files := phFiles(t, "")
			sim := newPhSim(t, mode, ps, expectMap(files))
			kv := ps.addTarget(t, "dam", pushArgs(sim)...)
			sim.LoseAck(1)
			ps.put(t, files)
			c := ps.commit(t, kv["id"], files, nil)
			waitIngested(t, sim, ps, files, 30*time.Second)
			ps.waitState(t, kv["id"], c.ID, "acknowledged", 10*time.Second)
			time.Sleep(1500 * time.Millisecond)
			states := ps.commitStates(t, kv["id"])
			if len(states) != 1 || states[c.ID] != "acknowledged" {
				t.Errorf("commits after a redone ack: %v, want only %s acknowledged", states, c.ID)
			}
			if n := sim.Enqueued(c.ID); n != 1 {
				t.Errorf("queued %d times, want once", n)
			}
		})
	}
}

// TestPhraseanetRestartBeforePush: a commit made while Phraseanet is down
// survives a hard kill of wharf and is delivered once after the restart.
func TestPhraseanetRestartBeforePush(t *testing.T) {
	ps := startPh(t)
	files := phFiles(t, "")
	sim := newPhSim(t, phrasesim.V4_1_3, ps, expectMap(files))
	kv := ps.addTarget(t, "dam", pushArgs(sim)...)
	sim.Down()
	ps.put(t, files)
	c := ps.commit(t, kv["id"], files, nil)
	ps.kill()
	if err := sim.Up(); err != nil {
		t.Fatal(err)
	}
	if n := sim.EnqueueCalls(c.ID); n != 0 {
		t.Fatalf("the commit reached Phraseanet while it was down (%d calls)", n)
	}
	ps.restart(t)
	waitIngested(t, sim, ps, files, 60*time.Second)
	ps.waitState(t, kv["id"], c.ID, "acknowledged", 10*time.Second)
	if n := sim.Enqueued(c.ID); n != 1 {
		t.Errorf("queued %d times, want once", n)
	}
}

// TestPhraseanetPullTokenExpired: a pull token the uploader no longer knows
// gets 401, Phraseanet fetches a new one once and carries on.
func TestPhraseanetPullTokenExpired(t *testing.T) {
	ps := startPh(t)
	first, second := phFiles(t, "1-"), phFiles(t, "2-")
	sim := newPhSim(t, phrasesim.Current, ps, expectMap(first, second))
	kv := ps.addTarget(t, "dam", "--mode", "pull")
	startPull(t, sim, kv)
	ps.put(t, first)
	ps.commit(t, kv["id"], first, nil)
	waitIngested(t, sim, ps, first, 30*time.Second)
	out := mustWharf(t, ps.data, "", "target", "test", "dam", "--public-url", "http://"+ps.addr)
	for _, k := range []string{"pull_uri=" + kv["pull_uri"], "client_id=" + kv["client_id"]} {
		if !strings.Contains(out, k) {
			t.Errorf("target test does not print %s:\n%s", k, out)
		}
	}
	// Wharf keeps only a hash of the client secret: it cannot show it again.
	if strings.Contains(out, "client_secret") || strings.Contains(out, kv["client_secret"]) {
		t.Errorf("target test prints the client secret:\n%s", out)
	}
	before := sim.PullStats()
	sim.InvalidateToken()
	ps.put(t, second)
	c := ps.commit(t, kv["id"], second, nil)
	waitIngested(t, sim, ps, append(first, second...), 30*time.Second)
	ps.waitState(t, kv["id"], c.ID, "acknowledged", 10*time.Second)
	after := sim.PullStats()
	if after.Unauthorized <= before.Unauthorized || after.TokenFetches <= before.TokenFetches {
		t.Errorf("pull stats %+v then %+v: want a 401 for the stale token and a new token", before, after)
	}
}

// phReq sends a request to the uploader API at the host root with the raw
// Authorization header auth ("" for none).
func (ps *phServer) phReq(t *testing.T, method, rawURL, auth, ctype, body string) (int, http.Header, string) {
	t.Helper()
	u := rawURL
	if strings.HasPrefix(u, "/") {
		u = ps.URL + u
	}
	req, err := http.NewRequestWithContext(t.Context(), method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, resp.Header, b.String()
}

// TestPhraseanetUploaderAPI drives the host-root API by hand for the status
// codes of the protocol: 401 without credentials, 403 for a wrong token or
// an asset of another commit, 404 for an unknown asset, 403 for a tampered
// or expired download signature, idempotent acks, the token endpoint and the
// listing.
func TestPhraseanetUploaderAPI(t *testing.T) {
	ps := startPh(t)
	kv := ps.addTarget(t, "dam", "--mode", "pull")
	a, b := []phFile{{"a.png", testPNG(t, 8, 8)}}, []phFile{{"b.txt", []byte("bee")}, {"c.txt", []byte("sea")}}
	ps.put(t, append(a, b...))
	ca := ps.commit(t, kv["id"], a, map[string]any{"is_story": "0"})
	cb := ps.commit(t, kv["id"], b, nil)
	aAsset, bAsset := ca.Assets[0].ID, cb.Assets[0].ID
	aTok, bTok := "AssetToken "+ca.Token, "AssetToken "+cb.Token
	wrong := "AssetToken " + strings.Repeat("ab", 21)
	unknown := "00000000-0000-4000-8000-000000000000"

	check := func(name, method, path, auth string, want int) string {
		t.Helper()
		status, _, body := ps.phReq(t, method, path, auth, "application/json", "")
		if status != want {
			t.Errorf("%s: %s %s = %d, want %d: %.200s", name, method, path, status, want, body)
		}
		return body
	}

	// Committing a file twice.
	if status, _, body := ps.send("admin", davPW, davReq{method: "POST", path: "/api/v1/targets/" + kv["id"] + "/commits",
		body: `{"paths":["` + phFolder + `/a.png"]}`, headers: map[string]string{"Content-Type": "application/json"}}); status != http.StatusConflict {
		t.Errorf("committing a committed file: %d %s, want 409", status, body)
	}

	// Metadata.
	check("no header", "GET", "/assets/"+aAsset, "", 401)
	check("malformed header", "GET", "/assets/"+aAsset, "AssetToken", 401)
	check("wrong scheme", "GET", "/assets/"+aAsset, "Basic "+ca.Token, 401)
	check("wrong token", "GET", "/assets/"+aAsset, wrong, 404)
	check("asset of another commit (not in the token's commit)", "GET", "/assets/"+bAsset, aTok, 404)
	check("unknown asset", "GET", "/assets/"+unknown, aTok, 404)
	// An asset another token may see and one that does not exist get the
	// same answer, body included.
	if a, b := check("asset of another commit", "GET", "/assets/"+bAsset, aTok, 404), check("unknown asset", "GET", "/assets/"+unknown, aTok, 404); a != b {
		t.Errorf("asset of another commit answered %q, an unknown one %q: want the same", a, b)
	}
	meta := check("right token", "GET", "/assets/"+aAsset, aTok, 200)
	for _, p := range phrasesim.CheckAsset([]byte(meta), aAsset, ca.Token, ps.data) {
		t.Errorf("GET /assets/%s: %s", aAsset, p)
	}
	var m struct {
		URL string `json:"url"`
	}
	json.Unmarshal([]byte(meta), &m)

	// Signed download URL: no header needed; any change to it is refused.
	if status, _, body := ps.phReq(t, "GET", m.URL, "", "", ""); status != 200 || body != string(a[0].data) {
		t.Errorf("GET url without Authorization: %d, %d bytes; want 200 with the file", status, len(body))
	}
	u, err := url.Parse(m.URL)
	if err != nil || len(u.Query()) == 0 {
		t.Fatalf("url %q carries no signature in its query", m.URL)
	}
	for k, vs := range u.Query() {
		q := u.Query()
		v := vs[0]
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			q.Set(k, strconv.FormatInt(n-7200, 10)) // an expiry two hours earlier: expired
			tampered := *u
			tampered.RawQuery = q.Encode()
			if status, _, _ := ps.phReq(t, "GET", tampered.String(), "", "", ""); status != 403 {
				t.Errorf("url with %s=%d (expired): %d, want 403", k, n-7200, status)
			}
			q = u.Query()
		}
		flip := []byte(v)
		if len(flip) > 0 {
			if flip[len(flip)-1] == 'A' {
				flip[len(flip)-1] = 'B'
			} else {
				flip[len(flip)-1] = 'A'
			}
		}
		q.Set(k, string(flip))
		tampered := *u
		tampered.RawQuery = q.Encode()
		if status, _, _ := ps.phReq(t, "GET", tampered.String(), "", "", ""); status != 403 {
			t.Errorf("url with %s tampered: %d, want 403", k, status)
		}
	}
	otherAsset := strings.Replace(m.URL, aAsset, bAsset, 1)
	if otherAsset != m.URL {
		if status, _, _ := ps.phReq(t, "GET", otherAsset, "", "", ""); status != 403 {
			t.Errorf("a's signature on b's url: %d, want 403", status)
		}
	}

	// Legacy download.
	check("legacy download without header", "GET", "/assets/"+aAsset+"/download", "", 401)
	check("legacy download, wrong token", "GET", "/assets/"+aAsset+"/download", wrong, 404)
	check("legacy download, unknown asset", "GET", "/assets/"+unknown+"/download", aTok, 404)
	status, h, body := ps.phReq(t, "GET", "/assets/"+aAsset+"/download", aTok, "", "")
	if status != 200 || body != string(a[0].data) || h.Get("Content-Type") != "image/png" || !strings.Contains(h.Get("Content-Disposition"), `attachment; filename="a.png"`) {
		t.Errorf("legacy download: %d %d bytes, Content-Type %q, Content-Disposition %q; want 200, the file, image/png, attachment; filename=\"a.png\"",
			status, len(body), h.Get("Content-Type"), h.Get("Content-Disposition"))
	}

	// GET /commits/{id}.
	check("commit, own token", "GET", "/commits/"+ca.ID, aTok, 200)
	check("commit, other commit's token", "GET", "/commits/"+ca.ID, bTok, 403)
	check("commit, no header", "GET", "/commits/"+ca.ID, "", 401)

	// Token endpoint and listing.
	tok := func(ctype, body string, want int) string {
		t.Helper()
		status, _, got := ps.phReq(t, "POST", "/oauth/v2/token", "", ctype, body)
		if status != want {
			t.Errorf("POST /oauth/v2/token %s: %d %s, want %d", body, status, got, want)
		}
		var r struct {
			AccessToken string `json:"access_token"`
		}
		json.Unmarshal([]byte(got), &r)
		return r.AccessToken
	}
	cred := func(secret, scope string) string {
		b, _ := json.Marshal(map[string]string{"client_id": kv["client_id"], "client_secret": secret, "grant_type": "client_credentials", "scope": scope})
		return string(b)
	}
	tok("application/json", cred("wrong", "commit:list"), 401)
	bearer := tok("application/json", cred(kv["client_secret"], "commit:list"), 200)
	tok("application/x-www-form-urlencoded", url.Values{"client_id": {kv["client_id"]}, "client_secret": {kv["client_secret"]},
		"grant_type": {"client_credentials"}, "scope": {"uploader:commit_list"}}.Encode(), 200)
	list := "/commits?target=" + kv["id"] + "&acknowledged=false"
	check("listing without token", "GET", list, "", 401)
	check("listing with an unknown token", "GET", list, "Bearer nope"+bearer, 401)
	check("commit with a commit:list token", "GET", "/commits/"+ca.ID, "Bearer "+bearer, 200)
	var coll struct {
		Members []struct {
			ID     string `json:"id"`
			Assets []any  `json:"assets"`
		} `json:"hydra:member"`
		Total int `json:"hydra:totalItems"`
	}
	json.Unmarshal([]byte(check("listing", "GET", list, "Bearer "+bearer, 200)), &coll)
	if coll.Total != 2 || len(coll.Members) != 2 || coll.Members[0].ID != ca.ID {
		t.Errorf("listing %+v; want a then b, oldest first", coll)
	}

	// Acks: idempotent, token of the commit only.
	check("asset ack, wrong token", "POST", "/assets/"+aAsset+"/ack", wrong, 404)
	check("asset ack, other commit's token", "POST", "/assets/"+aAsset+"/ack", bTok, 404)
	check("commit ack, wrong token", "POST", "/commits/"+cb.ID+"/ack", wrong, 403)
	for i := range 2 {
		if got := check(fmt.Sprint("asset ack ", i), "POST", "/assets/"+aAsset+"/ack", aTok, 200); strings.TrimSpace(got) != "true" {
			t.Errorf("asset ack %d answered %q, want true", i, got)
		}
		if got := check(fmt.Sprint("commit ack ", i), "POST", "/commits/"+cb.ID+"/ack", bTok, 200); strings.TrimSpace(got) != "true" {
			t.Errorf("commit ack %d answered %q, want true", i, got)
		}
	}
	coll.Members = nil
	json.Unmarshal([]byte(check("listing after acks", "GET", list, "Bearer "+bearer, 200)), &coll)
	if len(coll.Members) != 0 {
		t.Errorf("acknowledged=false lists %d commits after both were acknowledged", len(coll.Members))
	}
	states := ps.commitStates(t, kv["id"])
	if states[ca.ID] != "acknowledged" || states[cb.ID] != "acknowledged" {
		t.Errorf("API states %v, want both acknowledged", states)
	}

	// A new client secret, made beside the running server: the old secret
	// and its token stop working, the new one gets tokens.
	out := mustWharf(t, ps.data, "", "target", "reset-secret", kv["id"], "--public-url", "http://"+ps.addr)
	secret := field(out, "client_secret")
	if secret == "" || secret == kv["client_secret"] || field(out, "client_id") != kv["client_id"] {
		t.Fatalf("target reset-secret printed:\n%s", out)
	}
	tok("application/json", cred(kv["client_secret"], "commit:list"), 401)
	check("listing with a token of the old secret", "GET", list, "Bearer "+bearer, 401)
	tok("application/json", cred(secret, "commit:list"), 200)
}

// TestPhraseanetFormData: the commit rules of the protocol as Phraseanet
// sees them: the user's values, the target's params on top, control keys
// (__) removed, collection_destination from the target; a form that breaks
// the schema is refused with a 400 naming each bad field.
func TestPhraseanetFormData(t *testing.T) {
	ps := startPh(t)
	files := []phFile{{"form.txt", []byte("form")}}
	sim := newPhSim(t, phrasesim.V4_1_3, ps, expectMap(files))
	schema := t.TempDir() + "/schema.json"
	if err := os.WriteFile(schema, []byte(`{"fields":[{"name":"metadata-1","type":"string","required":true},{"name":"statusbit-4","type":"string","allowed":["0","1"]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	kv := ps.addTarget(t, "dam", append(pushArgs(sim), "--form-schema", schema, "--param", "metadata-9=from target")...)
	ps.put(t, files)
	// "target test" checks that the URL answers without sending anything
	// Phraseanet would queue (the simulator reports any bad enqueue call).
	mustWharf(t, ps.data, "", "target", "test", "dam")
	if n := sim.Probes(); n == 0 {
		t.Errorf("target test did not reach the enqueue URL")
	}
	if out := mustWharf(t, ps.data, "", "target", "list"); !strings.Contains(out, "dam") {
		t.Errorf("target list does not show the target:\n%s", out)
	}

	status, _, body := ps.send("admin", davPW, davReq{method: "POST", path: "/api/v1/targets/" + kv["id"] + "/commits",
		body:    `{"paths":["` + phFolder + `/form.txt"],"formData":{"statusbit-4":"7"}}`,
		headers: map[string]string{"Content-Type": "application/json"}})
	var bad struct {
		Error  string            `json:"error"`
		Fields map[string]string `json:"fields"`
	}
	json.Unmarshal([]byte(body), &bad)
	if status != http.StatusBadRequest || bad.Error == "" || bad.Fields["metadata-1"] == "" || bad.Fields["statusbit-4"] == "" {
		t.Errorf("commit with a missing required field and a value not allowed: %d %s; want 400 {error, fields} naming metadata-1 and statusbit-4", status, body)
	}

	c := ps.commit(t, kv["id"], files, map[string]any{"metadata-1": []string{"a", "b"}, "statusbit-4": "1",
		"metadata-9": "from user", "__notify": "1", "phraseanet_submiter_email": "u@example.org"})
	recs := waitIngested(t, sim, ps, files, 30*time.Second)
	ps.waitState(t, kv["id"], c.ID, "acknowledged", 10*time.Second)
	fd := recs[0].FormData
	want := map[string]any{"metadata-1": []any{"a", "b"}, "statusbit-4": "1", "metadata-9": "from target",
		"phraseanet_submiter_email": "u@example.org", "collection_destination": "42"}
	for k, v := range want {
		if fmt.Sprint(fd[k]) != fmt.Sprint(v) {
			t.Errorf("formData[%q] = %v, want %v (formData %v)", k, fd[k], v, fd)
		}
	}
	if _, ok := fd["__notify"]; ok {
		t.Errorf("control key __notify reached Phraseanet: %v", fd)
	}
}
