package auth

// Login throttling. The rule, which Login, ChangePassword and
// AuthenticateToken follow (docs/operations.md says it for operators):
//
//   - Only guessable credentials are throttled: the account password. App
//     passwords and tokens are 256-bit random secrets; they are always
//     checked, whatever the failures of the user name or the address, so a
//     valid one always passes. An unknown token counts as a failure of its
//     address (under a name of its own, "a token"), is answered 401, and
//     429 once the address has sent MaxFailures unknown tokens.
//   - An account-password attempt reserves a slot before the password is
//     verified, atomically, in three windows of MaxFailures: the user name
//     from anywhere (distributed guessing of one account), the user name
//     from this address, and the address (at most MaxFailures different
//     user names, and at most addrFailuresFactor × MaxFailures failures in
//     all: guessing across accounts). When any of them is full the attempt
//     is refused with 429 without running argon2id. A wrong password keeps
//     its slot as a failure; a right one gives its slots back and clears the
//     user name's failures (from anywhere and from this address; nothing
//     clears an address's own count). Identical attempts in flight share
//     the first one's slot and outcome (attempts.go). So N parallel guesses cost at most MaxFailures
//     verifications.
//   - Other people's failures never lock an account out from an address:
//     a client retrying a stale password for one account fills only that
//     account's windows (and one of the address's MaxFailures user names),
//     so the other accounts on the same address (a NAS, a desktop, a
//     reverse proxy without --trusted-proxy) keep working.
//   - An address where a user name's account password or one of its app
//     passwords succeeded in the last knownTTL is a known address of that
//     user name: from there, only the (user name, address) window applies.
//     Someone guessing the name elsewhere therefore cannot lock its owner
//     out where the owner usually works; an attacker on that same address
//     gets MaxFailures guesses per window there, no more.
//   - A client that keeps failing is slowed, the others are not: an attempt
//     for a (user name, address) that already has failureDelayAfter (5)
//     failures in its window first waits, 250 ms doubling with each further
//     failure up to Config.FailureDelay (2 s); its 429s, once the window is
//     full, wait as long. A right password from that pair waits too (it
//     cannot be told apart before it is checked); other user names and
//     tokens from the address never wait. No lock is held while waiting,
//     and at most maxSleepers (64) requests wait at once: beyond that they
//     are answered without waiting, since the windows bound what they can
//     do anyway, so slow answers cannot pile up goroutines. Retry-After is
//     computed after the wait.
//
// Where the counts live (throttledb.go): in memory, per process, when the
// process is alone on its database (SQLite), where a restart forgets them
// and the known addresses; in the database when several processes share
// it (replicas on PostgreSQL), so that the rule holds across them as in one
// process: each reservation and release is one write transaction that
// reads the windows, applies the code below to them, and writes them back.
// A right password this process verified recently (verifiedCache) with
// nothing counted against it skips the reservation (passes): with the
// counts in the database, a client's every request with its account
// password is then a read, not two write transactions.

import (
	"context"
	"crypto/sha256"
	"net"
	"sync"
	"time"
)

// throttleMax bounds how many keys each table tracks.
const throttleMax = 10000

// addrFailuresFactor: an address may have this many times MaxFailures
// failed password attempts in a window, spread over at most MaxFailures
// user names.
const addrFailuresFactor = 3

// knownTTL is how long a success makes an address a known address of a
// user name.
const knownTTL = 30 * 24 * time.Hour

// failureDelayAfter is how many failures a (user name, address) may have
// before its attempts are slowed; maxSleepers bounds the requests waiting
// at once.
const (
	failureDelayAfter = 5
	failureDelayStep  = 250 * time.Millisecond
	maxSleepers       = 64
)

// tokenName is the user name unknown tokens are counted under; no user name
// can contain a NUL.
const tokenName = "\x00token"

// window counts the failures of one key in a fixed window that opens at the
// key's first failure.
type window struct {
	start time.Time
	n     int // failures, including attempts reserved and still being verified
	// Addresses only: the user names that failed from here in this window.
	names int
	// Pairs only: the start of the address's window this pair was counted
	// in as a name (zero: not counted).
	countedIn time.Time
}

// table is a set of windows keyed by a hash, so that attacker-chosen user
// names of any length cost the same memory. limiter's mutex guards it.
type table struct {
	window time.Duration
	m      map[[16]byte]*window
}

func newTable(d time.Duration) table {
	return table{window: d, m: make(map[[16]byte]*window)}
}

func throttleKey(s string) [16]byte {
	sum := sha256.Sum256([]byte(s))
	return [16]byte(sum[:16])
}

// get returns k's window, or nil if it has none open at now.
func (t *table) get(k [16]byte, now time.Time) *window {
	w := t.m[k]
	if w == nil {
		return nil
	}
	if !now.Before(w.start.Add(t.window)) {
		delete(t.m, k)
		return nil
	}
	return w
}

// open returns k's window, opening one at now if it has none.
func (t *table) open(k [16]byte, now time.Time) *window {
	if w := t.get(k, now); w != nil {
		return w
	}
	if len(t.m) >= throttleMax {
		t.prune(now)
	}
	w := &window{start: now}
	t.m[k] = w
	return w
}

// retryAfter is how long until w is over, rounded up to a whole second.
func (t *table) retryAfter(w *window, now time.Time) time.Duration {
	d := w.start.Add(t.window).Sub(now)
	return max((d + time.Second - 1).Truncate(time.Second), time.Second)
}

// prune drops the windows that are over and, if that is not enough, the
// oldest one.
func (t *table) prune(now time.Time) {
	var oldest [16]byte
	var oldestStart time.Time
	for k, w := range t.m {
		if !now.Before(w.start.Add(t.window)) {
			delete(t.m, k)
		} else if oldestStart.IsZero() || w.start.Before(oldestStart) {
			oldest, oldestStart = k, w.start
		}
	}
	if len(t.m) >= throttleMax {
		delete(t.m, oldest)
	}
}

// limiter is the login throttle: the three windows of the rule above and
// the known addresses, under one mutex so that checking and reserving are
// one step.
type limiter struct {
	max      int
	maxDelay time.Duration // 0: no delay
	mu       sync.Mutex
	users    table // per user name
	pairs    table // per (user name, address)
	addrs    table // per address
	known    map[[16]byte]time.Time
	sleepers chan struct{}
}

func newLimiter(max int, d, maxDelay time.Duration) *limiter {
	return &limiter{
		max: max, maxDelay: maxDelay,
		users: newTable(d), pairs: newTable(d), addrs: newTable(d),
		known:    make(map[[16]byte]time.Time),
		sleepers: make(chan struct{}, maxSleepers),
	}
}

func pairKey(name, addr string) [16]byte { return throttleKey(name + "\x00" + addr) }

// ticket is what reserve took, for release.
type ticket struct {
	user, pair, addr                [16]byte
	userStart, pairStart, addrStart time.Time // zero: nothing reserved there
}

// isKnown reports whether pair k had a success within knownTTL.
func (l *limiter) isKnown(k [16]byte, now time.Time) bool {
	t, ok := l.known[k]
	if ok && now.Sub(t) >= knownTTL {
		delete(l.known, k)
		return false
	}
	return ok
}

// reserve takes a slot for one account-password attempt of user name
// (lower-cased) from address addr (addrKey), or returns how long until the
// attempt would be admitted.
func (l *limiter) reserve(name, addr string, now time.Time) (ticket, time.Duration) {
	t := ticket{user: throttleKey(name), pair: pairKey(name, addr), addr: throttleKey(addr)}
	l.mu.Lock()
	defer l.mu.Unlock()
	known := l.isKnown(t.pair, now)
	var wait time.Duration
	p := l.pairs.get(t.pair, now)
	if p != nil && p.n >= l.max {
		wait = max(wait, l.pairs.retryAfter(p, now))
	}
	var a *window
	if !known {
		if u := l.users.get(t.user, now); u != nil && u.n >= l.max {
			wait = max(wait, l.users.retryAfter(u, now))
		}
		a = l.addrs.get(t.addr, now)
		if a != nil && (a.n >= addrFailuresFactor*l.max || a.names >= l.max && (p == nil || !p.countedIn.Equal(a.start))) {
			// A user name that already failed here may go on up to its
			// own window: it is one of the address's names already.
			wait = max(wait, l.addrs.retryAfter(a, now))
		}
	}
	if wait > 0 {
		return ticket{}, wait
	}
	p = l.pairs.open(t.pair, now)
	p.n++
	t.pairStart = p.start
	if !known {
		u := l.users.open(t.user, now)
		u.n++
		t.userStart = u.start
		a = l.addrs.open(t.addr, now)
		a.n++
		t.addrStart = a.start
		if !p.countedIn.Equal(a.start) {
			p.countedIn = a.start
			a.names++
		}
	}
	return t, 0
}

// passes reports whether a right password of user name from addr, known
// to be right without argon2id (verifiedCache), may skip reserve and
// release: it would be admitted, and its release would clear nothing,
// since the user name has no failures counted from anywhere and none from
// addr. It then marks addr known, as release would; the address's window
// is left as it is (reserve and release would open an empty one). Anything
// else takes the ordinary way, so a refused right password is refused as
// a wrong one is, and its failures are cleared.
func (l *limiter) passes(name, addr string, now time.Time) bool {
	pk := pairKey(name, addr)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pairs.get(pk, now) != nil || l.users.get(throttleKey(name), now) != nil {
		return false
	}
	if !l.isKnown(pk, now) {
		if a := l.addrs.get(throttleKey(addr), now); a != nil && (a.n >= addrFailuresFactor*l.max || a.names >= l.max) {
			return false
		}
	}
	l.markKnown(pk, now)
	return true
}

// release gives back the slots of t: the attempt was not a wrong password.
// If ok (the password was right) it also clears the failures of the user
// name, from anywhere and from this address (not the address's own count),
// and makes the address a known address of the user name.
func (l *limiter) release(t ticket, ok bool, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.addrs.m[t.addr]
	if a != nil && !t.addrStart.IsZero() && a.start.Equal(t.addrStart) && a.n > 0 {
		a.n--
	}
	if p := l.pairs.m[t.pair]; p != nil {
		if !ok && !t.pairStart.IsZero() && p.start.Equal(t.pairStart) && p.n > 0 {
			p.n--
		}
		if ok || p.n == 0 {
			// The user name is no longer one that failed from here.
			if a != nil && p.countedIn.Equal(a.start) && a.names > 0 {
				a.names--
			}
			delete(l.pairs.m, t.pair)
		}
	}
	if u := l.users.m[t.user]; u != nil {
		if ok {
			delete(l.users.m, t.user)
		} else if !t.userStart.IsZero() && u.start.Equal(t.userStart) && u.n > 0 {
			u.n--
		}
	}
	if ok {
		l.markKnown(t.pair, now)
	}
}

// succeeded records that user name authenticated from addr with a
// credential that is not throttled (an app password).
func (l *limiter) succeeded(name, addr string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.markKnown(pairKey(name, addr), now)
}

func (l *limiter) markKnown(k [16]byte, now time.Time) {
	if _, ok := l.known[k]; !ok && len(l.known) >= throttleMax {
		var oldest [16]byte
		var oldestAt time.Time
		for k, at := range l.known {
			if now.Sub(at) >= knownTTL {
				delete(l.known, k)
			} else if oldestAt.IsZero() || at.Before(oldestAt) {
				oldest, oldestAt = k, at
			}
		}
		if len(l.known) >= throttleMax {
			delete(l.known, oldest)
		}
	}
	l.known[k] = now
}

// tokenFailed counts an unknown token from addr. It returns how long until
// addr may send one again if it has sent too many (the failure is then not
// counted again), 0 otherwise.
func (l *limiter) tokenFailed(addr string, now time.Time) time.Duration {
	pk, ak := pairKey(tokenName, addr), throttleKey(addr)
	l.mu.Lock()
	defer l.mu.Unlock()
	if p := l.pairs.get(pk, now); p != nil && p.n >= l.max {
		return l.pairs.retryAfter(p, now)
	}
	p := l.pairs.open(pk, now)
	p.n++
	a := l.addrs.open(ak, now)
	a.n++
	if !p.countedIn.Equal(a.start) {
		p.countedIn = a.start
		a.names++
	}
	return 0
}

// delay is how long an attempt of name from addr waits before it is looked
// at: nothing until the pair has failureDelayAfter failures, then
// failureDelayStep doubling with each failure, up to maxDelay.
func (l *limiter) delay(name, addr string, now time.Time) time.Duration {
	if l.maxDelay <= 0 {
		return 0
	}
	l.mu.Lock()
	p := l.pairs.get(pairKey(name, addr), now)
	n := 0
	if p != nil {
		n = p.n
	}
	l.mu.Unlock()
	return failureDelay(n, l.maxDelay)
}

// failureDelay is the wait of an attempt whose (user name, address) has n
// failures in its window (see delay).
func failureDelay(n int, maxDelay time.Duration) time.Duration {
	if maxDelay <= 0 || n < failureDelayAfter {
		return 0
	}
	d := failureDelayStep
	for i := failureDelayAfter; i < n && d < maxDelay; i++ {
		d *= 2
	}
	return min(d, maxDelay)
}

// pause waits d (or until ctx ends) if fewer than maxSleepers requests are
// waiting already; otherwise it returns at once.
func (l *limiter) pause(ctx context.Context, d time.Duration) { pause(ctx, l.sleepers, d) }

// pause waits d (or until ctx ends) if sleepers has room; otherwise it
// returns at once.
func pause(ctx context.Context, sleepers chan struct{}, d time.Duration) {
	if d <= 0 {
		return
	}
	select {
	case sleepers <- struct{}{}:
	default:
		return
	}
	defer func() { <-sleepers }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// addrKey is the throttling key of a remote address (host:port as in
// http.Request.RemoteAddr): the IP, or for IPv6 its /64, since one machine
// commonly has a whole /64.
func addrKey(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return host
	}
	if ip4 := ip.To4(); ip4 != nil {
		return ip4.String()
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}
