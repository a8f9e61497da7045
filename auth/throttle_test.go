package auth_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/internal/testservers"
)

// envMaker opens an env (newEnv's signature) for one variant of the
// login throttle.
type envMaker func(t testing.TB, cfg func(*auth.Config)) *env

// postgresEnv names a running PostgreSQL server (host:port, superuser
// postgres without a password) for the throttle's postgres variant. It is
// internal/testenv's variable. Unset, the variant starts a cluster of this
// test binary's own (internal/testservers), stopped by TestMain.
const postgresEnv = "WHARF_TEST_POSTGRES"

// pg is the server of the postgres variant, attached or started at the
// first test that needs it.
var pg struct {
	once    sync.Once
	c       *testservers.Postgres
	started bool  // by this binary: TestMain stops it
	missing error // no PostgreSQL server programs here
	err     error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if pg.started {
		pg.c.Stop()
	}
	os.Exit(code)
}

// postgresServer returns the server of the postgres variant. Without
// PostgreSQL's programs the test is skipped loudly, or failed under
// CI=true: a skipped variant is not a passed one.
func postgresServer(t testing.TB) *testservers.Postgres {
	t.Helper()
	pg.once.Do(func() {
		if addr := os.Getenv(postgresEnv); addr != "" {
			pg.c, pg.err = testservers.AttachPostgres(addr)
			return
		}
		if _, err := testservers.PostgresBinDir(); err != nil {
			pg.missing = err
			return
		}
		pg.c, pg.err = testservers.StartPostgres(context.Background())
		pg.started = pg.err == nil
	})
	if pg.missing != nil {
		msg := fmt.Sprintf("the throttle on PostgreSQL: %v (or set %s to a running server)", pg.missing, postgresEnv)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		fmt.Fprintf(os.Stderr, "\n!!! SKIPPING %s: %s\n\n", t.Name(), msg)
		t.Skip(msg)
	}
	if pg.err != nil {
		t.Fatal(pg.err)
	}
	return pg.c
}

// throttleVariants are the places the login throttle keeps its counts
// that its tests run on: memory; the database, on SQLite; the database,
// on PostgreSQL (Config.Throttle left empty: PostgreSQL chooses it).
func throttleVariants() []struct {
	name string
	open envMaker
} {
	return []struct {
		name string
		open envMaker
	}{
		{"memory", func(t testing.TB, cfg func(*auth.Config)) *env {
			return newEnvAt(t, filepath.Join(t.TempDir(), "wharf.db"), auth.ThrottleMemory, cfg)
		}},
		{"database", func(t testing.TB, cfg func(*auth.Config)) *env {
			return newEnvAt(t, filepath.Join(t.TempDir(), "wharf.db"), auth.ThrottleDatabase, cfg)
		}},
		{"postgres", func(t testing.TB, cfg func(*auth.Config)) *env {
			c := postgresServer(t)
			sum := sha256.Sum256([]byte(t.TempDir()))
			name := "auth_" + hex.EncodeToString(sum[:12])
			if err := c.CreateDatabase(t.Context(), name, ""); err != nil {
				t.Fatal(err)
			}
			e := newEnvAt(t, c.URL(name), "", cfg)
			if !e.db.Postgres() {
				t.Fatal("not on PostgreSQL")
			}
			return e
		}},
	}
}

// forEachThrottle runs test on each variant of the throttle.
func forEachThrottle(t *testing.T, test func(t *testing.T, newEnv envMaker)) {
	for _, v := range throttleVariants() {
		t.Run(v.name, func(t *testing.T) { test(t, v.open) })
	}
}

// forEachSharedThrottle runs test on each variant kept in the database.
func forEachSharedThrottle(t *testing.T, test func(t *testing.T, newEnv envMaker)) {
	for _, v := range throttleVariants() {
		if v.name != "memory" {
			t.Run(v.name, func(t *testing.T) { test(t, v.open) })
		}
	}
}

// TestThrottleAcrossProcesses: Services on one database (replicas) share
// the throttle kept there: failures counted by one lock the account on
// all, with the same Retry-After; a success on one clears what the others
// counted; known addresses and unknown tokens are shared; guesses spread
// over the replicas cost no more verifications than the limit.
func TestThrottleAcrossProcesses(t *testing.T) {
	forEachSharedThrottle(t, testThrottleAcrossProcesses)
}

func testThrottleAcrossProcesses(t *testing.T, newEnv envMaker) {
	const window = time.Minute
	conf := func(c *auth.Config) { c.MaxFailures = 3; c.FailureWindow = window; c.FailureDelay = -1 }
	setup := func(t *testing.T) (*env, []*auth.Service) {
		e := newEnv(t, conf)
		e.addUser(t, "alice", false)
		e.addUser(t, "bob", false)
		return e, []*auth.Service{e.svc, e.service(t, conf), e.service(t, conf)}
	}
	wantThrottled := func(t *testing.T, what string, err error, retry time.Duration) {
		t.Helper()
		var te *auth.ThrottledError
		if !errors.As(err, &te) {
			t.Fatalf("%s: %v, want ErrThrottled", what, err)
		}
		if te.RetryAfter != retry {
			t.Errorf("%s: Retry-After %v, want %v", what, te.RetryAfter, retry)
		}
	}

	t.Run("failures on every replica lock the account on all", func(t *testing.T) {
		e, reps := setup(t)
		ctx := t.Context()
		for i, s := range reps {
			if _, err := s.Login(ctx, "192.0.2."+itoa(int64(i+1))+":1", "alice", "guess "+itoa(int64(i))); !errors.Is(err, auth.ErrWrongPassword) {
				t.Fatalf("guess %d: %v", i, err)
			}
			e.clock.Advance(10 * time.Second)
		}
		for i, s := range reps {
			_, err := s.Login(ctx, "198.51.100.7:1", "alice", goodPassword)
			wantThrottled(t, "replica "+itoa(int64(i)), err, 30*time.Second)
		}
		if _, err := reps[1].Login(ctx, "198.51.100.7:1", "bob", goodPassword); err != nil {
			t.Errorf("bob meanwhile: %v", err)
		}
		e.clock.Advance(30 * time.Second)
		for i, s := range reps {
			if _, err := s.Login(ctx, "198.51.100."+itoa(int64(10+i))+":1", "alice", goodPassword); err != nil {
				t.Errorf("replica %d after the window: %v", i, err)
			}
		}
	})

	t.Run("a success on one replica clears the failures counted on another", func(t *testing.T) {
		_, reps := setup(t)
		ctx := t.Context()
		for round := range 3 {
			for i := range 2 {
				addr := "192.0.2." + itoa(int64(10*round+i+1)) + ":1"
				if _, err := reps[(round+1)%3].Login(ctx, addr, "alice", "wrong password"); !errors.Is(err, auth.ErrWrongPassword) {
					t.Fatalf("round %d guess %d: %v", round, i, err)
				}
			}
			if _, err := reps[round%3].Login(ctx, "203.0.113."+itoa(int64(round+1))+":1", "alice", goodPassword); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
	})

	t.Run("known addresses are shared", func(t *testing.T) {
		_, reps := setup(t)
		ctx := t.Context()
		const home = "192.0.2.80:1"
		if _, err := reps[0].Login(ctx, home, "alice", goodPassword); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			if _, err := reps[1+i%2].Login(ctx, "203.0.113."+itoa(int64(i+1))+":1", "alice", "guess"); !errors.Is(err, auth.ErrWrongPassword) {
				t.Fatal(err)
			}
		}
		_, err := reps[0].Login(ctx, "203.0.113.99:1", "alice", goodPassword)
		wantThrottled(t, "elsewhere", err, window)
		for i, s := range reps {
			if _, err := s.Login(ctx, home, "alice", goodPassword); err != nil {
				t.Errorf("alice at home on replica %d: %v", i, err)
			}
		}
		// A success of an app password makes a known address too.
		_, secret, err := reps[0].CreateAppPassword(ctx, "bob", "laptop")
		if err != nil {
			t.Fatal(err)
		}
		const office = "192.0.2.81:1"
		if _, err := reps[2].Login(ctx, office, "bob", secret); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			if _, err := reps[i].Login(ctx, "203.0.113."+itoa(int64(i+1))+":2", "bob", "guess"); !errors.Is(err, auth.ErrWrongPassword) {
				t.Fatal(err)
			}
		}
		if _, err := reps[0].Login(ctx, office, "bob", goodPassword); err != nil {
			t.Errorf("bob's password where his app password worked on another replica: %v", err)
		}
	})

	t.Run("unknown tokens", func(t *testing.T) {
		_, reps := setup(t)
		ctx := t.Context()
		const addr = "192.0.2.90:1"
		for i, s := range reps {
			if _, err := s.AuthenticateToken(ctx, addr, "wharf_unknown"+itoa(int64(i))); !errors.Is(err, auth.ErrUnauthenticated) {
				t.Fatalf("unknown token %d: %v", i, err)
			}
		}
		for i, s := range reps {
			_, err := s.AuthenticateToken(ctx, addr, "wharf_unknown9")
			wantThrottled(t, "replica "+itoa(int64(i)), err, window)
		}
	})

	t.Run("parallel guesses spread over the replicas", func(t *testing.T) {
		_, reps := setup(t)
		const n = 45
		var mu sync.Mutex
		var wg sync.WaitGroup
		wrong, throttled := 0, 0
		for i := range n {
			wg.Go(func() {
				_, err := reps[i%3].Login(t.Context(), "198.51.100."+itoa(int64(i+1))+":1", "alice", "guess "+itoa(int64(i)))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case errors.Is(err, auth.ErrWrongPassword):
					wrong++
				case errors.Is(err, auth.ErrThrottled):
					throttled++
				default:
					t.Errorf("guess %d: %v", i, err)
				}
			})
		}
		wg.Wait()
		if wrong > 3 || wrong+throttled != n {
			t.Errorf("%d parallel guesses over 3 replicas: %d verified, %d throttled; want at most 3 verified", n, wrong, throttled)
		}
	})
}

// TestThrottleConfig: Config.Throttle takes the two places or nothing.
func TestThrottleConfig(t *testing.T) {
	e := newEnv(t, nil)
	for _, v := range []string{"", auth.ThrottleMemory, auth.ThrottleDatabase} {
		if _, err := auth.New(auth.Config{DB: e.db, PasswordCost: 1, Throttle: v}); err != nil {
			t.Errorf("Throttle %q: %v", v, err)
		}
	}
	if _, err := auth.New(auth.Config{DB: e.db, PasswordCost: 1, Throttle: "redis"}); err == nil || !strings.Contains(err.Error(), "Throttle") {
		t.Errorf("Throttle \"redis\": %v, want an error naming the field", err)
	}
}

// BenchmarkLogin measures a login through each variant of the throttle:
// a wrong account password (never refused: the limit is out of reach), the
// right one (verified once, then from the cache, as a WebDAV client's
// requests are), and an app password. argon2id runs with the minimal
// parameters, so what differs is the throttle's cost.
func BenchmarkLogin(b *testing.B) {
	conf := func(c *auth.Config) { c.MaxFailures = 1 << 30; c.FailureDelay = -1 }
	for _, v := range throttleVariants() {
		b.Run(v.name, func(b *testing.B) {
			e := v.open(b, conf)
			ctx := b.Context()
			e.addUser(b, "alice", false)
			_, app, err := e.svc.CreateAppPassword(ctx, "alice", "phone")
			if err != nil {
				b.Fatal(err)
			}
			for _, c := range []struct{ name, password string }{
				{"wrong", "wrong password"},
				{"right", goodPassword},
				{"app-password", app},
			} {
				b.Run(c.name, func(b *testing.B) {
					for b.Loop() {
						_, err := e.svc.Login(ctx, "192.0.2.1:1", "alice", c.password)
						if (err == nil) == (c.name == "wrong") {
							b.Fatalf("%s: %v", c.name, err)
						}
					}
				})
			}
		})
	}
}
