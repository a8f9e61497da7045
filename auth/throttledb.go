package auth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wharfhq/wharf/store"
)

// throttle is where the login throttle (the rule is in throttle.go) keeps
// its windows and known addresses: memThrottle in this process's memory,
// dbThrottle in the database, shared by every process on it. The Service
// calls it for every account-password attempt (delay, reserve, release),
// for each success of an app password (succeeded) and for each unknown
// token (tokenFailed); both are safe for concurrent use and pass the same
// tests (auth_test.go runs the throttle's tests on each). Errors are the
// database's; the memory variant never fails.
type throttle interface {
	// delay is how long an attempt of user name from addr waits before
	// it is looked at (failureDelay of the pair's failures).
	delay(ctx context.Context, name, addr string, now time.Time) (time.Duration, error)
	// reserve takes a slot for one attempt, or says how long until the
	// attempt would be admitted (no slot taken).
	reserve(ctx context.Context, name, addr string, now time.Time) (ticket, time.Duration, error)
	// release gives back t's slots (the attempt was not a wrong password);
	// ok: the password was right.
	release(ctx context.Context, t ticket, ok bool, now time.Time) error
	// passes reports whether an account password already known to be
	// right may skip reserve and release (limiter.passes); if so it has
	// marked addr known.
	passes(ctx context.Context, name, addr string, now time.Time) (bool, error)
	// succeeded makes addr a known address of user name after a success
	// of a credential that is not throttled (an app password).
	succeeded(ctx context.Context, name, addr string, now time.Time) error
	// tokenFailed counts an unknown token from addr; see limiter.tokenFailed.
	tokenFailed(ctx context.Context, addr string, now time.Time) (time.Duration, error)
}

// The values of Config.Throttle.
const (
	ThrottleMemory   = "memory"
	ThrottleDatabase = "database"
)

// memThrottle is the throttle of a process alone on its database.
type memThrottle struct{ l *limiter }

var _ throttle = memThrottle{}

func (m memThrottle) delay(_ context.Context, name, addr string, now time.Time) (time.Duration, error) {
	return m.l.delay(name, addr, now), nil
}

func (m memThrottle) reserve(_ context.Context, name, addr string, now time.Time) (ticket, time.Duration, error) {
	t, wait := m.l.reserve(name, addr, now)
	return t, wait, nil
}

func (m memThrottle) release(_ context.Context, t ticket, ok bool, now time.Time) error {
	m.l.release(t, ok, now)
	return nil
}

func (m memThrottle) passes(_ context.Context, name, addr string, now time.Time) (bool, error) {
	return m.l.passes(name, addr, now), nil
}

func (m memThrottle) succeeded(_ context.Context, name, addr string, now time.Time) error {
	m.l.succeeded(name, addr, now)
	return nil
}

func (m memThrottle) tokenFailed(_ context.Context, addr string, now time.Time) (time.Duration, error) {
	return m.l.tokenFailed(addr, now), nil
}

// dbThrottle keeps the throttle's state in the database (login_windows,
// login_known), for processes sharing it. Each reservation, release or
// unknown token is one write transaction (store.DB.UpdateUncached: under
// the database's write lock, without moving the epoch the caches watch)
// that loads the few rows concerned into a limiter of its own, applies the
// memory code to them, and writes back what changed: the rule is that
// code, whatever the store. The waits (pause) and the identical attempts
// in flight (attempts.go) stay per process.
//
// Storage is bounded: each write transaction that comes pruneEvery after
// the last prune of this process, or after pruneAfter windows were
// written, deletes the windows that are over and the known addresses
// older than knownTTL, then the oldest beyond dbWindowsMax windows and
// throttleMax known addresses. So login_windows holds at most
// dbWindowsMax rows plus what the processes write between two prunes
// (pruneAfter each, and one transaction's three), whatever the number of
// user names and addresses an attacker sprays; login_known likewise.
//
// Successes of app passwords are marked known in the database at most
// once per knownRefresh per (user name, address) and process: the marks
// this process wrote are remembered (marked), so an app password's
// requests do not touch the tables. A known address may therefore lapse
// up to knownRefresh before knownTTL after its last success.
type dbThrottle struct {
	db       *store.DB
	max      int
	window   time.Duration
	maxDelay time.Duration

	// maxWindows, maxKnown: the rows prune keeps at most (dbWindowsMax,
	// throttleMax); pruneAfter: windows written between prunes at most.
	maxWindows, maxKnown, pruneAfter int

	mu      sync.Mutex
	marked  map[[16]byte]time.Time // known marks this process wrote, when
	pruned  time.Time              // this process's last prune
	written int                    // windows written since

	// For tests: the statements run on the tables, and the write
	// transactions among them.
	queries, writes atomic.Int64
}

var _ throttle = (*dbThrottle)(nil)

const (
	dbWindowsMax = 3 * throttleMax
	pruneEvery   = time.Minute
	pruneAfter   = 1000
	knownRefresh = time.Hour
)

// The kinds of window, the first byte of a login_windows key.
const (
	kindUser = 'u'
	kindPair = 'p'
	kindAddr = 'a'
)

func newDBThrottle(db *store.DB, max int, window, maxDelay time.Duration) *dbThrottle {
	return &dbThrottle{
		db: db, max: max, window: window, maxDelay: maxDelay,
		maxWindows: dbWindowsMax, maxKnown: throttleMax, pruneAfter: pruneAfter,
		marked: make(map[[16]byte]time.Time),
	}
}

func rowKey(kind byte, k [16]byte) []byte { return append([]byte{kind}, k[:]...) }

// dbNow is now as the database stores it (nanoseconds, UTC, no monotonic
// reading), so that times read back compare equal to the ones written.
func dbNow(now time.Time) time.Time { return time.Unix(0, now.UnixNano()).UTC() }

func (d *dbThrottle) delay(ctx context.Context, name, addr string, now time.Time) (time.Duration, error) {
	if d.maxDelay <= 0 {
		return 0, nil
	}
	d.queries.Add(1)
	ws, err := d.db.LoginWindows(ctx, rowKey(kindPair, pairKey(name, addr)))
	if err != nil {
		return 0, fmt.Errorf("auth: login throttle: %w", err)
	}
	n := 0
	if len(ws) == 1 && now.Before(ws[0].Start.Add(d.window)) {
		n = ws[0].N
	}
	return failureDelay(n, d.maxDelay), nil
}

func (d *dbThrottle) reserve(ctx context.Context, name, addr string, now time.Time) (t ticket, wait time.Duration, err error) {
	now = dbNow(now)
	keys := ticket{user: throttleKey(name), pair: pairKey(name, addr), addr: throttleKey(addr)}
	err = d.run(ctx, keys, true, now, func(l *limiter) { t, wait = l.reserve(name, addr, now) })
	return t, wait, err
}

func (d *dbThrottle) release(ctx context.Context, t ticket, ok bool, now time.Time) error {
	now = dbNow(now)
	err := d.run(ctx, t, ok, now, func(l *limiter) { l.release(t, ok, now) })
	if err == nil && ok {
		d.mark(t.pair, now)
	}
	return err
}

// passes reads the windows (no write transaction: the point is that a
// client's every request with its account password does not write), and
// marks the address known as succeeded does.
func (d *dbThrottle) passes(ctx context.Context, name, addr string, now time.Time) (bool, error) {
	now = dbNow(now)
	pk := pairKey(name, addr)
	keys := [][]byte{rowKey(kindUser, throttleKey(name)), rowKey(kindPair, pk), rowKey(kindAddr, throttleKey(addr))}
	d.queries.Add(1)
	rows, err := d.db.LoginWindows(ctx, keys...)
	if err != nil {
		return false, fmt.Errorf("auth: login throttle: %w", err)
	}
	l := newLimiter(d.max, d.window, 0)
	for _, r := range rows {
		w := &window{start: r.Start, n: r.N, names: r.Names, countedIn: r.CountedIn}
		switch string(r.Key) {
		case string(keys[0]):
			l.users.m[throttleKey(name)] = w
		case string(keys[1]):
			l.pairs.m[pk] = w
		case string(keys[2]):
			l.addrs.m[throttleKey(addr)] = w
		}
	}
	if a := l.addrs.m[throttleKey(addr)]; a != nil && (a.n >= addrFailuresFactor*d.max || a.names >= d.max) {
		// Only a full address window needs to know whether addr is known.
		d.queries.Add(1)
		at, err := d.db.LoginKnown(ctx, rowKey(kindPair, pk))
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return false, fmt.Errorf("auth: login throttle: %w", err)
		}
		if err == nil {
			l.known[pk] = at
		}
	}
	if !l.passes(name, addr, now) {
		return false, nil
	}
	return true, d.succeeded(ctx, name, addr, now)
}

func (d *dbThrottle) succeeded(ctx context.Context, name, addr string, now time.Time) error {
	k := pairKey(name, addr)
	d.mu.Lock()
	at, ok := d.marked[k]
	d.mu.Unlock()
	if ok && now.Sub(at) < knownRefresh && !now.Before(at) {
		return nil
	}
	now = dbNow(now)
	d.queries.Add(1)
	d.writes.Add(1)
	err := d.db.UpdateUncached(ctx, func(tx *store.Tx) error {
		if err := tx.PutLoginKnown(ctx, rowKey(kindPair, k), now); err != nil {
			return err
		}
		return d.prune(ctx, tx, now, 1)
	})
	if err != nil {
		return fmt.Errorf("auth: login throttle: %w", err)
	}
	d.mark(k, now)
	return nil
}

func (d *dbThrottle) tokenFailed(ctx context.Context, addr string, now time.Time) (wait time.Duration, err error) {
	now = dbNow(now)
	keys := ticket{user: throttleKey(tokenName), pair: pairKey(tokenName, addr), addr: throttleKey(addr)}
	err = d.run(ctx, keys, false, now, func(l *limiter) { wait = l.tokenFailed(addr, now) })
	return wait, err
}

// mark remembers that this process wrote pair k as known at now.
func (d *dbThrottle) mark(k [16]byte, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.marked) >= throttleMax {
		clear(d.marked) // a forgotten mark costs one write
	}
	d.marked[k] = now
}

// run loads the windows of keys' user name, pair and address (and, if
// known, the pair's known mark) into a limiter of their own, calls fn on
// it, and writes back what fn changed, in one write transaction.
func (d *dbThrottle) run(ctx context.Context, keys ticket, known bool, now time.Time, fn func(l *limiter)) error {
	type slot struct {
		kind byte
		tab  *table
		key  [16]byte
	}
	d.writes.Add(1)
	err := d.db.UpdateUncached(ctx, func(tx *store.Tx) error {
		d.queries.Add(1)
		l := newLimiter(d.max, d.window, 0)
		slots := []slot{{kindUser, &l.users, keys.user}, {kindPair, &l.pairs, keys.pair}, {kindAddr, &l.addrs, keys.addr}}
		rk := make([][]byte, len(slots))
		for i, s := range slots {
			rk[i] = rowKey(s.kind, s.key)
		}
		rows, err := tx.LoginWindows(ctx, rk...)
		if err != nil {
			return err
		}
		before := make([]*window, len(slots))
		for _, r := range rows {
			for i, s := range slots {
				if string(r.Key) == string(rk[i]) {
					w := window{start: r.Start, n: r.N, names: r.Names, countedIn: r.CountedIn}
					before[i] = &w
					c := w
					s.tab.m[s.key] = &c
				}
			}
		}
		var knownAt time.Time
		if known {
			d.queries.Add(1)
			at, err := tx.LoginKnown(ctx, rowKey(kindPair, keys.pair))
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			if err == nil {
				knownAt = at
				l.known[keys.pair] = at
			}
		}
		fn(l)
		var put []store.LoginWindow
		var del [][]byte
		for i, s := range slots {
			w := s.tab.m[s.key]
			switch {
			case w == nil && before[i] != nil:
				del = append(del, rk[i])
			case w != nil && (before[i] == nil || !sameWindow(*w, *before[i])):
				put = append(put, store.LoginWindow{Key: rk[i], Start: w.start, N: w.n, Names: w.names, CountedIn: w.countedIn})
			}
		}
		if len(put) > 0 {
			d.queries.Add(1)
			if err := tx.PutLoginWindows(ctx, put...); err != nil {
				return err
			}
		}
		if len(del) > 0 {
			d.queries.Add(1)
			if err := tx.DeleteLoginWindows(ctx, del...); err != nil {
				return err
			}
		}
		if at, ok := l.known[keys.pair]; ok && !at.Equal(knownAt) {
			d.queries.Add(1)
			if err := tx.PutLoginKnown(ctx, rowKey(kindPair, keys.pair), at); err != nil {
				return err
			}
		}
		return d.prune(ctx, tx, now, len(put))
	})
	if err != nil {
		return fmt.Errorf("auth: login throttle: %w", err)
	}
	return nil
}

func sameWindow(a, b window) bool {
	return a.start.Equal(b.start) && a.n == b.n && a.names == b.names && a.countedIn.Equal(b.countedIn)
}

// prune deletes, in tx, what is over and what exceeds the bounds, when
// this process last did so pruneEvery ago or has written pruneAfter
// windows since (written counts this transaction's).
func (d *dbThrottle) prune(ctx context.Context, tx *store.Tx, now time.Time, written int) error {
	d.mu.Lock()
	d.written += written
	due := d.written >= d.pruneAfter || now.Sub(d.pruned) >= pruneEvery || now.Before(d.pruned)
	if due {
		d.written, d.pruned = 0, now
	}
	d.mu.Unlock()
	if !due {
		return nil
	}
	d.queries.Add(1)
	// A window that started window ago is over; one started by a process
	// whose clock is ahead is kept until it is over here too.
	_, err := tx.PruneLogins(ctx, now.Add(-d.window), now.Add(-knownTTL), d.maxWindows, d.maxKnown)
	return err
}
