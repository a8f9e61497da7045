package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The login throttle against the noisy neighbour: clients that share an
// address (a desktop, a NAS, everything behind a reverse proxy) must not
// lose their access because one of them keeps sending a wrong password.

// throttleClient is an HTTP client whose connections come from loopback
// address ip, kept alive as WebDAV clients and browsers do.
func throttleClient(t *testing.T, ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	c := &http.Client{Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// send makes one request and returns its status, Retry-After and body.
func send(t *testing.T, c *http.Client, method, url string, body string, set func(*http.Request)) (int, string, string) {
	t.Helper()
	var rd io.Reader = http.NoBody
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if set != nil {
		set(req)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Errorf("%s %s: %v", method, url, err)
		return 0, "", ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Retry-After"), string(b)
}

// TestThrottleNoisyNeighbour: one client hammers wrong passwords for alice
// from 127.0.0.1, many at once; meanwhile another client on the same
// address works with bob's password (never used from there before), bob's
// app password, bob's bearer token and bob's web session, and alice's own
// app password: every one of their requests succeeds. The guesses get at
// most ten 401s (each one an argon2id verification) and 429s with
// Retry-After after that.
func TestThrottleNoisyNeighbour(t *testing.T) {
	const adminPW, alicePW, bobPW = "admin password for throttle", "alice's real password", "bob's real password"
	data := t.TempDir()
	in := start(t, data, "WHARF_ADMIN_PASSWORD="+adminPW)
	mustWharf(t, data, alicePW+"\n", "user", "add", "alice", "--password-stdin")
	mustWharf(t, data, bobPW+"\n", "user", "add", "bob", "--password-stdin")
	spaceID := mustWharf(t, data, "", "space", "create", "shared", "--owner", "bob")
	bobApp := mustWharf(t, data, "", "apppass", "create", "bob", "--label", "nas-mount")
	aliceApp := mustWharf(t, data, "", "apppass", "create", "alice", "--label", "phone")
	bobToken := mustWharf(t, data, "", "token", "create", "bob", "--label", "script")

	// bob's browser signed in from another machine earlier; its session
	// is now used from the shared address.
	var sess struct {
		CSRF string `json:"csrf"`
	}
	cookie := ""
	{
		req, _ := http.NewRequest("POST", in.URL+"/api/v1/session", strings.NewReader(`{"user":"bob","password":`+jsonString(bobPW)+`}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := throttleClient(t, "127.0.0.50").Do(req)
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&sess)
		resp.Body.Close()
		for _, c := range resp.Cookies() {
			if c.Name == "wharf_session" {
				cookie = c.Value
			}
		}
		if resp.StatusCode != 200 || err != nil || cookie == "" || sess.CSRF == "" {
			t.Fatalf("bob's web sign-in: %d %v, cookie %t", resp.StatusCode, err, cookie != "")
		}
	}

	const shared = "127.0.0.1"
	hammer := throttleClient(t, shared)
	good := throttleClient(t, shared)
	uses := []struct {
		name string
		do   func() (int, string)
	}{
		{"bob's password", func() (int, string) {
			st, _, b := send(t, good, "GET", in.URL+"/api/v1/me", "", func(r *http.Request) { r.SetBasicAuth("bob", bobPW) })
			return st, b
		}},
		{"bob's app password over WebDAV", func() (int, string) {
			st, _, b := send(t, good, "PROPFIND", in.URL+"/dav/spaces/", "", func(r *http.Request) {
				r.SetBasicAuth("bob", bobApp)
				r.Header.Set("Depth", "1")
			})
			return st, b
		}},
		{"bob's bearer token", func() (int, string) {
			st, _, b := send(t, good, "GET", in.URL+"/api/v1/spaces", "", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+bobToken) })
			return st, b
		}},
		{"bob's web session", func() (int, string) {
			st, _, b := send(t, good, "GET", in.URL+"/api/v1/me", "", func(r *http.Request) {
				r.AddCookie(&http.Cookie{Name: "wharf_session", Value: cookie})
			})
			return st, b
		}},
		{"bob's web session, a change with its CSRF token", func() (int, string) {
			name := fmt.Sprintf("dir-%d", time.Now().UnixNano())
			st, _, b := send(t, good, "POST", in.URL+"/api/v1/spaces/"+spaceID+"/mkdir", `{"path":`+jsonString(name)+`}`, func(r *http.Request) {
				r.AddCookie(&http.Cookie{Name: "wharf_session", Value: cookie})
				r.Header.Set("X-CSRF-Token", sess.CSRF)
				r.Header.Set("Origin", in.URL)
				r.Header.Set("Content-Type", "application/json")
			})
			return st, b
		}},
		{"alice's app password", func() (int, string) {
			st, _, b := send(t, good, "GET", in.URL+"/api/v1/me", "", func(r *http.Request) { r.SetBasicAuth("alice", aliceApp) })
			return st, b
		}},
	}
	// Each way works before the hammering starts (bob's password is not
	// used from the shared address yet: it must not need to be known there).
	for _, u := range uses[1:] {
		if st, b := u.do(); st/100 != 2 {
			t.Fatalf("before: %s: %d %s", u.name, st, b)
		}
	}

	var stop atomic.Bool
	var mu sync.Mutex
	statuses := map[int]int{}
	badRetry := 0
	var wg sync.WaitGroup
	guess := func(i int) {
		st, ra, _ := send(t, hammer, "GET", in.URL+"/api/v1/me", "", func(r *http.Request) { r.SetBasicAuth("alice", fmt.Sprintf("stale password %d", i)) })
		mu.Lock()
		defer mu.Unlock()
		statuses[st]++
		if secs, err := strconv.Atoi(ra); st == 429 && (err != nil || secs < 1 || secs > 15*60) {
			badRetry++
		}
	}
	// A burst of 60 guesses at once, then 8 clients retrying in a loop.
	for i := range 60 {
		wg.Go(func() { guess(i) })
	}
	for w := range 8 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				guess(1000*(w+1) + i)
			}
		})
	}

	// bob (and alice's phone) go on working meanwhile.
	type result struct {
		name   string
		status int
		took   time.Duration
	}
	var results []result
	deadline := time.Now().Add(6 * time.Second)
	for time.Now().Before(deadline) {
		for _, u := range uses {
			t0 := time.Now()
			st, b := u.do()
			results = append(results, result{u.name, st, time.Since(t0)})
			if st/100 != 2 {
				t.Errorf("while alice's password is hammered: %s: %d %s", u.name, st, b)
			}
		}
	}
	stop.Store(true)
	wg.Wait()

	mu.Lock()
	t.Logf("hammering alice: %v", statuses)
	if statuses[401] > 10 || statuses[401] == 0 {
		t.Errorf("%d wrong passwords were verified (401), want 1 to 10 (the limit)", statuses[401])
	}
	if statuses[429] == 0 || statuses[401]+statuses[429] != sumValues(statuses) {
		t.Errorf("the guesses got %v, want 401 then 429 only", statuses)
	}
	if badRetry > 0 {
		t.Errorf("%d answers 429 without a Retry-After in (0, 900]", badRetry)
	}
	mu.Unlock()
	var took []time.Duration
	failed := 0
	for _, r := range results {
		took = append(took, r.took)
		if r.status/100 != 2 {
			failed++
		}
	}
	slices.Sort(took)
	t.Logf("%d requests of the other clients during the hammering, %d not 2xx: median %v, slowest %v", len(results), failed, took[len(took)/2], took[len(took)-1])

	// alice's own account password is what the guesses lock, here...
	if st, ra, _ := send(t, good, "GET", in.URL+"/api/v1/me", "", func(r *http.Request) { r.SetBasicAuth("alice", alicePW) }); st != 429 || ra == "" {
		t.Errorf("alice's password from the hammering address: %d (Retry-After %q), want 429", st, ra)
	}
	// ...and the log says so.
	if !strings.Contains(in.output(), "login throttled") {
		t.Errorf("no throttled login was logged")
	}
}

func sumValues(m map[int]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// TestThrottleTrustedProxy: with --trusted-proxy 127.0.0.1/32, requests
// from 127.0.0.1 are throttled by their X-Forwarded-For client, each on its
// own, and logged with it; another peer's X-Forwarded-For is ignored.
func TestThrottleTrustedProxy(t *testing.T) {
	data := t.TempDir()
	in := start(t, data, "WHARF_ADMIN_PASSWORD=admin password for throttle", "WHARF_TRUSTED_PROXY=127.0.0.1/32")
	proxy := throttleClient(t, "127.0.0.1")
	guess := func(c *http.Client, xff, user string) (int, string) {
		st, ra, _ := send(t, c, "GET", in.URL+"/api/v1/me", "", func(r *http.Request) {
			r.SetBasicAuth(user, "a wrong password")
			if xff != "" {
				r.Header.Set("X-Forwarded-For", xff)
			}
		})
		return st, ra
	}
	// One client behind the proxy tries ten user names: it is throttled.
	for i := range 10 {
		if st, _ := guess(proxy, "203.0.113.1", fmt.Sprintf("name%d", i)); st != 401 {
			t.Fatalf("guess %d via the proxy: %d, want 401", i, st)
		}
	}
	if st, ra := guess(proxy, "203.0.113.1", "name10"); st != 429 || ra == "" {
		t.Errorf("an eleventh user name from 203.0.113.1: %d (Retry-After %q), want 429", st, ra)
	}
	// Another client behind the same proxy is not.
	if st, _ := guess(proxy, "198.51.100.2", "name11"); st != 401 {
		t.Errorf("another client behind the proxy: %d, want 401", st)
	}
	// A proxy chain: the client's own claim left of the real entry is not
	// believed.
	if st, _ := guess(proxy, "198.51.100.3, 203.0.113.1", "name12"); st != 429 {
		t.Errorf("203.0.113.1 behind a second claim: %d, want 429", st)
	}
	// The proxy's own address has no failures.
	if st, _ := guess(proxy, "", "name13"); st != 401 {
		t.Errorf("the proxy itself: %d, want 401", st)
	}
	// A peer that is not a trusted proxy cannot borrow the throttled
	// address, nor escape its own by naming another.
	other := throttleClient(t, "127.0.0.2")
	if st, _ := guess(other, "203.0.113.1", "name14"); st != 401 {
		t.Errorf("an untrusted peer claiming 203.0.113.1: %d, want 401 (its own address)", st)
	}
	// The access log line is written after the answer: give it a moment.
	wants := []string{"remote=203.0.113.1:0", "remote=198.51.100.2:0", "remote=127.0.0.2:"}
	out := in.output()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); out = in.output() {
		if !slices.ContainsFunc(wants, func(w string) bool { return !strings.Contains(out, w) }) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, want := range wants {
		if !strings.Contains(out, want) {
			t.Errorf("the access log has no %q", want)
		}
	}
	if strings.Contains(out, "remote=198.51.100.3") {
		t.Errorf("the access log believed a client's own X-Forwarded-For entry")
	}
}
