package e2e

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestReplicasThrottle: three servers on one PostgreSQL database behind a
// round-robin proxy share the login throttle. Ten wrong passwords for bob
// (the default limit), which the proxy spreads over the three replicas,
// lock bob's account password on every replica (429, with a Retry-After
// from the one shared window), except from an address where bob logged in
// before on another replica (known addresses are shared); once the
// window is over (the test ages its rows in the database rather than wait
// 15 minutes), the right password works on every replica.
func TestReplicasThrottle(t *testing.T) {
	dsn := startPostgres(t, "throttle-db-pw")
	data := t.TempDir()
	const bobPW = "bob's real password"
	reps := []*instance{start(t, data, "WHARF_DB="+dsn, "WHARF_ADMIN_PASSWORD=admin password of the replicas")}
	reps = append(reps, start(t, data, "WHARF_DB="+dsn), start(t, data, "WHARF_DB="+dsn))
	mustWharf(t, data, bobPW+"\n", "--db", dsn, "user", "add", "bob", "--password-stdin")
	proxy := newRRProxy(t, reps[0].URL, reps[1].URL, reps[2].URL)

	me := func(c *http.Client, base, password string) (int, string) {
		t.Helper()
		st, retry, _ := send(t, c, "GET", base+"/api/v1/me", "", func(r *http.Request) { r.SetBasicAuth("bob", password) })
		return st, retry
	}
	// bob works from 127.0.0.5, through the first replica.
	home := throttleClient(t, "127.0.0.5")
	if st, _ := me(home, reps[0].URL, bobPW); st != 200 {
		t.Fatalf("bob at home: %d", st)
	}

	// Ten guesses through the load balancer: each replica verifies some.
	guesser := throttleClient(t, "127.0.0.1")
	answered := map[string]int{}
	for i := range 10 {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", proxy.proxy.URL+"/api/v1/me", nil)
		req.SetBasicAuth("bob", "guess "+strconv.Itoa(i))
		resp, err := guesser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d, want 401", i, resp.StatusCode)
		}
		answered[resp.Header.Get("X-Test-Replica")]++
	}
	if len(answered) != 3 {
		t.Fatalf("the guesses reached replicas %v, want all three", answered)
	}

	// From a new address, the right password is refused on every replica,
	// each saying the same time to wait (to the second the answers took).
	away := throttleClient(t, "127.0.0.7")
	var retries []int
	for i, in := range reps {
		st, retry := me(away, in.URL, bobPW)
		n, err := strconv.Atoi(retry)
		if st != http.StatusTooManyRequests || err != nil || n < 1 || n > 900 {
			t.Fatalf("replica %d, bob's password from a new address after 10 guesses: %d, Retry-After %q; want 429 and at most 900 s", i, st, retry)
		}
		retries = append(retries, n)
	}
	if retries[0]-retries[2] > 5 || retries[2] > retries[0] {
		t.Errorf("Retry-After of the three replicas %v: not one shared window", retries)
	}
	// Where he logged in before (on replica 0), bob still gets in on all.
	for i, in := range reps {
		if st, _ := me(home, in.URL, bobPW); st != 200 {
			t.Errorf("replica %d, bob at home while locked elsewhere: %d, want 200", i, st)
		}
	}

	// The window is over: 15 minutes later, as far as the rows go.
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	if _, err := conn.Exec(t.Context(), "UPDATE login_windows SET start = start - 900000000000"); err != nil {
		t.Fatal(err)
	}
	for i, in := range reps {
		if st, retry := me(away, in.URL, bobPW); st != 200 {
			t.Errorf("replica %d after the window: %d (Retry-After %q), want 200", i, st, retry)
		}
	}
}
