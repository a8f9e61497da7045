package auth

import (
	"errors"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wharfhq/wharf/store"
)

func TestPasswordHashFormat(t *testing.T) {
	h := hashPassword(productionParams, "hunter2hunter2")
	if !regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`).MatchString(h) {
		t.Fatalf("hash %q is not a PHC argon2id string with the production parameters", h)
	}
	// Parameters are read from the hash, so older or newer ones still verify.
	other := hashPassword(argonParams{memory: 32, time: 3, threads: 2, keyLen: 24, saltLen: 8}, "pw")
	cheap := hashPassword(minimalParams, "pw")
	tests := []struct {
		name, hash, password string
		ok                   bool
		err                  error
	}{
		{"production", h, "hunter2hunter2", true, nil},
		{"production, wrong", h, "hunter2hunter3", false, nil},
		{"other parameters", other, "pw", true, nil},
		{"other parameters, wrong", other, "pW", false, nil},
		{"minimal", cheap, "pw", true, nil},
		{"argon2i", strings.Replace(cheap, "argon2id", "argon2i", 1), "pw", false, errBadHash},
		{"other version", strings.Replace(cheap, "v=19", "v=16", 1), "pw", false, errBadHash},
		{"parameters reordered", strings.Replace(cheap, "m=8,t=1", "t=1,m=8", 1), "pw", false, errBadHash},
		{"huge memory", strings.Replace(cheap, "m=8", "m=999999999", 1), "pw", false, errBadHash},
		{"bad base64", cheap + "!", "pw", false, errBadHash},
		{"empty", "", "pw", false, errBadHash},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy", "pw", false, errBadHash},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := verifyPassword(tt.hash, tt.password)
			if ok != tt.ok || !errors.Is(err, tt.err) {
				t.Errorf("verifyPassword = %v, %v; want %v, %v", ok, err, tt.ok, tt.err)
			}
		})
	}
}

// TestUnknownUserCostsAVerification guards against telling which user names
// exist by timing: with production parameters a failed login for a user
// that does not exist must still spend an argon2id verification (tens of
// milliseconds), where a bare lookup takes well under one.
func TestUnknownUserCostsAVerification(t *testing.T) {
	if testing.Short() {
		t.Skip("production argon2id parameters")
	}
	db, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "wharf.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := New(Config{DB: db})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = s.Login(t.Context(), "192.0.2.1:1", "nobody", "some password")
	if !errors.Is(err, ErrUnauthenticated) {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 5*time.Millisecond {
		t.Errorf("failed login of an unknown user took %v: no dummy verification?", d)
	}
}

func TestAppSecretShape(t *testing.T) {
	s := newAppSecret()
	if !regexp.MustCompile(`^[a-z2-7]{5}(-[a-z2-7]{5}){7}$`).MatchString(s) {
		t.Fatalf("app secret %q: want 8 dash-separated groups of 5 base32 characters", s)
	}
	h1, ok1 := appSecretHash(s)
	h2, ok2 := appSecretHash(strings.ToUpper(strings.ReplaceAll(s, "-", " ")))
	if !ok1 || !ok2 || h1 != h2 || len(h1) != 64 {
		t.Errorf("hashes %q %v, %q %v", h1, ok1, h2, ok2)
	}
	for _, bad := range []string{"", "correct horse battery", s[:len(s)-1], s + "a", strings.Replace(s, s[:1], "1", 1)} {
		if _, ok := appSecretHash(bad); ok {
			t.Errorf("appSecretHash(%q) accepted", bad)
		}
	}
	if id := randomID(12); !regexp.MustCompile(`^[a-z0-9]{12}$`).MatchString(id) {
		t.Errorf("randomID = %q", id)
	}
}

func TestMemoryIsBounded(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newLimiter(3, time.Minute, 0)
	for i := range throttleMax + 50 {
		name := "user" + strconv.Itoa(i)
		at := now.Add(time.Duration(i) * time.Millisecond)
		if _, wait := l.reserve(name, "192.0.2."+strconv.Itoa(i%200), at); wait > 0 {
			// Addresses fill up with names; a fresh address each time
			// keeps this about memory.
			l.reserve(name, "198.51."+strconv.Itoa(i/256)+"."+strconv.Itoa(i%256), at)
		}
		l.succeeded(name, "203.0.113.1", at)
	}
	for what, n := range map[string]int{"users": len(l.users.m), "pairs": len(l.pairs.m), "addrs": len(l.addrs.m), "known": len(l.known)} {
		if n > throttleMax {
			t.Errorf("%s holds %d keys, want at most %d", what, n, throttleMax)
		}
	}
	// The newest keys are kept, the oldest dropped.
	if _, ok := l.users.m[throttleKey("user"+strconv.Itoa(throttleMax+49))]; !ok {
		t.Errorf("newest key dropped")
	}
	// Windows that are over are pruned first.
	later := now.Add(2 * time.Minute)
	l.users.open(throttleKey("fresh"), later)
	if n := len(l.users.m); n != 1 {
		t.Errorf("after the window: %d keys, want 1", n)
	}

	c := newVerifiedCache()
	for i := range verifiedMax + 50 {
		c.put(int64(i), "hash", "pw", now)
	}
	if n := len(c.m); n > verifiedMax {
		t.Errorf("cache holds %d entries, want at most %d", n, verifiedMax)
	}
	if !c.has(int64(verifiedMax+49), "hash", "pw", now) {
		t.Errorf("newest entry missing")
	}
	if c.has(int64(verifiedMax+49), "hash", "pw", now.Add(verifiedTTL)) {
		t.Errorf("entry outlived its TTL")
	}
	c.put(7, "hash", "pw", now)
	c.evictUser(7)
	if c.has(7, "hash", "pw", now) {
		t.Errorf("evictUser left an entry")
	}
}

func TestFailureDelay(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newLimiter(10, time.Minute, 2*time.Second)
	var want []time.Duration
	for n := range 10 {
		want = append(want, l.delay("alice", "192.0.2.1", now))
		if n < 9 {
			l.reserve("alice", "192.0.2.1", now)
		}
	}
	ms := time.Millisecond
	if got := []time.Duration{0, 0, 0, 0, 0, 250 * ms, 500 * ms, 1000 * ms, 2000 * ms, 2000 * ms}; !slices.Equal(want, got) {
		t.Errorf("delays = %v, want %v", want, got)
	}
	if d := l.delay("bob", "192.0.2.1", now); d != 0 {
		t.Errorf("another user name from the address waits %v", d)
	}
	if d := l.delay("alice", "192.0.2.2", now); d != 0 {
		t.Errorf("the user name from another address waits %v", d)
	}
	// At most maxSleepers wait at once; the others are not made to wait.
	for range maxSleepers {
		l.sleepers <- struct{}{}
	}
	start := time.Now()
	l.pause(t.Context(), time.Hour)
	if d := time.Since(start); d > time.Second {
		t.Errorf("pause with every sleeper taken waited %v", d)
	}
}

// TestDBThrottleIsBounded: the database throttle's tables stay within
// their bounds (plus what is written between two prunes) however many
// user names and addresses fail, and windows that are over are deleted.
func TestDBThrottleIsBounded(t *testing.T) {
	db, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "wharf.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := t.Context()
	d := newDBThrottle(db, 3, time.Minute, 0)
	d.maxWindows, d.maxKnown, d.pruneAfter = 40, 10, 8
	now := time.Unix(1000, 0)
	check := func(when string) {
		t.Helper()
		w, k, err := db.CountLogins(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Between two prunes: pruneAfter windows, and one write of three.
		if w > d.maxWindows+d.pruneAfter+2 || k > d.maxKnown+d.pruneAfter {
			t.Errorf("%s: %d windows, %d known addresses; want at most %d and %d", when, w, k, d.maxWindows+d.pruneAfter+2, d.maxKnown+d.pruneAfter)
		}
	}
	for i := range 150 {
		at := now.Add(time.Duration(i) * time.Millisecond)
		addr := "198.51." + strconv.Itoa(i/256) + "." + strconv.Itoa(i%256)
		if _, _, err := d.reserve(ctx, "user"+strconv.Itoa(i), addr, at); err != nil {
			t.Fatal(err)
		}
		if _, err := d.tokenFailed(ctx, "203.0."+strconv.Itoa(i/256)+"."+strconv.Itoa(i%256), at); err != nil {
			t.Fatal(err)
		}
		if err := d.succeeded(ctx, "user"+strconv.Itoa(i), addr, at); err != nil {
			t.Fatal(err)
		}
		check("spraying names and addresses")
	}
	// The newest windows are kept.
	ws, err := db.LoginWindows(ctx, rowKey(kindUser, throttleKey("user149")))
	if err != nil || len(ws) != 1 {
		t.Errorf("newest window: %v, %v", ws, err)
	}
	// Once the window is over, the next write deletes it all.
	if _, _, err := d.reserve(ctx, "late", "192.0.2.1", now.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if w, _, err := db.CountLogins(ctx); err != nil || w != 3 {
		t.Errorf("after the window: %d windows (%v), want the 3 just written", w, err)
	}
}

// TestValidCredentialsDoNotTouchTheThrottle: with the throttle in the
// database, requests with an app password (after the first success from
// an address, which records a known address) or a token run no query on
// its tables, and those with a verified account password only read them.
func TestValidCredentialsDoNotTouchTheThrottle(t *testing.T) {
	db, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "wharf.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := t.Context()
	s, err := New(Config{DB: db, PasswordCost: 1, Throttle: ThrottleDatabase})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddUser(ctx, "alice", "correct horse battery", false); err != nil {
		t.Fatal(err)
	}
	_, app, err := s.CreateAppPassword(ctx, "alice", "phone")
	if err != nil {
		t.Fatal(err)
	}
	_, token, err := s.CreateToken(ctx, "alice", TokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d := s.lim.(*dbThrottle)
	if _, err := s.Login(ctx, "192.0.2.1:1", "alice", app); err != nil {
		t.Fatal(err)
	}
	if n := d.queries.Load(); n < 1 || n > 2 {
		t.Errorf("first app password success: %d queries, want the known address (and this process's first prune)", n)
	}
	before := d.queries.Load()
	for i := range 50 {
		if _, err := s.Login(ctx, "192.0.2.1:"+strconv.Itoa(i), "alice", app); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AuthenticateToken(ctx, "192.0.2.2:1", token); err != nil {
			t.Fatal(err)
		}
	}
	if n := d.queries.Load() - before; n != 0 {
		t.Errorf("100 requests with an app password and a token ran %d queries on the throttle's tables", n)
	}
	// An account password does (it is what the throttle is for): its
	// first success reserves and releases; then, verified and with no
	// failures counted, each request only reads the windows.
	if _, err := s.Login(ctx, "192.0.2.3:1", "alice", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	if d.writes.Load() < 3 {
		t.Errorf("an account password did not go through the throttle: %d write transactions in all", d.writes.Load())
	}
	before, writes := d.queries.Load(), d.writes.Load()
	for i := range 20 {
		if _, err := s.Login(ctx, "192.0.2.3:"+strconv.Itoa(i), "alice", "correct horse battery"); err != nil {
			t.Fatal(err)
		}
	}
	if n := d.writes.Load() - writes; n != 0 {
		t.Errorf("20 requests with the account password, verified: %d write transactions, want none", n)
	}
	if d.queries.Load() == before {
		t.Errorf("20 requests with the account password did not read the windows")
	}
	// A failure makes the next right password clear it (a write).
	if _, err := s.Login(ctx, "192.0.2.4:1", "alice", "wrong password"); !errors.Is(err, ErrWrongPassword) {
		t.Fatal(err)
	}
	writes = d.writes.Load()
	if _, err := s.Login(ctx, "192.0.2.3:1", "alice", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	if d.writes.Load() == writes {
		t.Errorf("a right password after a failure wrote nothing: the failure is not cleared")
	}
	if ws, err := db.LoginWindows(ctx, rowKey(kindUser, throttleKey("alice"))); err != nil || len(ws) != 0 {
		t.Errorf("alice's failures after her success: %v, %v; want none", ws, err)
	}
}
