package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Epoch identifies a state of the whole database as seen by this
// process: two Epochs read at different moments are equal only if no
// transaction committed in between, by this process or by any other (the
// command line writes the same file). Callers keep rows read after a
// Epoch in memory labelled with it, and serve them again only while
// DB.Epoch still returns the same value. The zero Epoch is never
// returned by DB.Epoch.
type Epoch struct {
	data uint64 // PRAGMA data_version of the watch connection (PostgreSQL: wharf_epoch)
	own  uint64 // commits of this DB's writer (DB.Update), plus one
}

// watch reads the version on a connection of its own. SQLite's
// "PRAGMA data_version" changes on a connection whenever another
// connection, of this process or of another one, has committed since the
// connection last asked; in WAL mode it is answered from the shared
// WAL index (one memory read, no file read). The watch connection never
// writes, so every commit anywhere moves it. own counts this DB's commits
// too, a second, independent witness of the writes made here.
//
// Reads are shared: a caller needs a value read after it asked (so a
// commit acknowledged before its request began is seen), and joins the
// next read to start if one is already running, so under load one query
// answers many requests.
type watch struct {
	db   *sql.DB // one connection, read-only
	stmt *sql.Stmt
	own  atomic.Uint64

	// SQLite in WAL mode: the WAL index's header, read without a query
	// (walindex_linux.go). last is the header read just before the last
	// query and the Epoch that query gave; while the header is still the
	// same, nothing has committed since, and that Epoch is current.
	wal    *walIndex
	anchor *sql.Conn // keeps the WAL index open (see newWatch)
	last   atomic.Pointer[headerEpoch]

	mu      sync.Mutex
	running bool
	next    *versionRead // waiting for the read after the running one

	queries atomic.Uint64 // queries run (tests)
}

type headerEpoch struct {
	h walHeader
	v Epoch
	g gens
}

type versionRead struct {
	done chan struct{}
	v    Epoch
	g    gens // read by the same query (see versionQuery)
	err  error
}

// versionQuery is the query of a watch: the version (version, a query
// giving one integer) and, from the same snapshot, the generations
// (gens.go), so that a request that needs both asks once.
func versionQuery(version string) string {
	return "SELECT (" + version + "), " + gensCols
}

// gensCols are the generations, as the columns of a SELECT.
const gensCols = "(SELECT n FROM generations WHERE kind = 'spaces')" +
	", (SELECT n FROM generations WHERE kind = 'locks')" +
	", (SELECT n FROM generations WHERE kind = 'users')"

func newWatch(ctx context.Context, path string) (*watch, error) {
	db, err := sql.Open("sqlite", dsn(path, true, busyTimeout))
	if err != nil {
		return nil, err
	}
	w, err := startWatch(ctx, db, versionQuery("SELECT data_version FROM pragma_data_version"))
	if err != nil {
		return nil, err
	}
	// The mapping of the WAL index is trusted only while a connection of
	// this process has the WAL index open: SQLite rebuilds (truncates)
	// that file only when no connection of any process has it open.
	// anchor, a connection set aside and never used again, is that
	// connection; a pool could close its connections at will.
	db.SetMaxOpenConns(2)
	w.anchor, err = db.Conn(ctx)
	if err == nil {
		var v uint64
		err = w.anchor.QueryRowContext(ctx, "PRAGMA data_version").Scan(&v)
	}
	if err != nil {
		w.close()
		return nil, err
	}
	w.wal = openWALIndex(path)
	return w, nil
}

// startWatch makes a watch of db, a pool it owns, reading the version with
// query (see versionQuery).
func startWatch(ctx context.Context, db *sql.DB, query string) (*watch, error) {
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	stmt, err := db.PrepareContext(ctx, query)
	if err != nil {
		db.Close()
		return nil, err
	}
	w := &watch{db: db, stmt: stmt}
	w.own.Store(1)
	return w, nil
}

func (w *watch) close() error {
	w.stmt.Close()
	if w.anchor != nil {
		w.anchor.Close()
	}
	return w.db.Close()
}

// closeWAL lets go of the WAL index, once every connection of the DB is
// closed (see shmFile).
func (w *watch) closeWAL() {
	w.wal.close()
	w.wal = nil
}

// Epoch returns the current Epoch of the database: its value is read
// after the call began, or, in a context of NewEpochContext, after that
// context's first call (see there). Safe for concurrent use; cheap: on
// SQLite in WAL mode on Linux, answered from the WAL index's header while
// nothing has committed (see unchanged), otherwise one small query, shared
// by the callers that arrive while it runs.
func (db *DB) Epoch(ctx context.Context) (Epoch, error) {
	v, _, err := db.epochGens(ctx)
	return v, err
}

// epochGens is Epoch, with the generations read with it.
func (db *DB) epochGens(ctx context.Context) (Epoch, gens, error) {
	w := db.watch
	m := memoFrom(ctx)
	var now time.Time
	if m != nil {
		now = time.Now()
		if v := m.v.Load(); v != nil && v.v.own == w.own.Load() && now.Sub(v.at) < memoMaxAge {
			return v.v, v.g, nil
		}
	}
	v, g, ok := w.unchanged()
	var err error
	if !ok {
		v, g, err = w.version(ctx)
	}
	if m != nil && err == nil {
		m.v.Store(&memoized{v: v, g: g, at: now})
	}
	return v, g, err
}

func (w *watch) version(ctx context.Context) (Epoch, gens, error) {
	w.mu.Lock()
	if !w.running {
		w.running = true
		w.mu.Unlock()
		r := &versionRead{done: make(chan struct{})}
		w.read(r)
		w.finish()
		return r.v, r.g, r.err
	}
	// A read is running, but it may have started before this call: wait
	// for the next one, which starts after it.
	if w.next == nil {
		w.next = &versionRead{done: make(chan struct{})}
	}
	r := w.next
	w.mu.Unlock()
	select {
	case <-r.done:
		return r.v, r.g, r.err
	case <-ctx.Done():
		return Epoch{}, gens{}, ctx.Err()
	}
}

// read runs one query for r and wakes its waiters.
func (w *watch) read(r *versionRead) {
	w.queries.Add(1)
	own := w.own.Load()
	h, hok := w.wal.header()
	var data uint64
	// Not the caller's context: other callers wait for this read.
	if err := w.stmt.QueryRowContext(context.Background()).Scan(&data, &r.g.spaces, &r.g.locks, &r.g.users); err != nil {
		r.err = fmt.Errorf("store: read data version: %w", err)
		w.last.Store(nil)
	} else {
		r.v = Epoch{data: data, own: own}
		if hok {
			// Reads run one at a time, so last only moves forward.
			w.last.Store(&headerEpoch{h: h, v: r.v, g: r.g})
		} else {
			w.last.Store(nil)
		}
	}
	close(r.done)
}

// unchanged returns the Epoch of the last query if the WAL index's header
// is still the one read before that query and this DB has not committed
// since: then no connection of any process has committed since either
// (every commit rewrites the header before it returns; a header is never
// the same twice, see docs/reliability.md), and the Epoch is current.
// ok is false when that cannot be told without a query.
func (w *watch) unchanged() (Epoch, gens, bool) {
	l := w.last.Load()
	if l == nil {
		return Epoch{}, gens{}, false
	}
	own := w.own.Load()
	h, ok := w.wal.header()
	if !ok || h != l.h || own != l.v.own {
		return Epoch{}, gens{}, false
	}
	return l.v, l.g, true
}

// finish ends the running read and starts the one waiting, if any.
func (w *watch) finish() {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := w.next
	if n == nil {
		w.running = false
		return
	}
	w.next = nil
	go func() {
		w.read(n)
		w.finish()
	}()
}

// ownCommit is what a commit of this DB's writer knows, before it
// commits, of the state it will leave (see watch.committed).
type ownCommit struct {
	h  walHeader // the WAL index header inside the transaction
	g  gens      // the generations as the transaction leaves them
	ok bool
}

// beforeCommit reads, inside a write transaction about to commit (q), the
// WAL index header and the generations: with them, committed can tell the
// Epoch and the generations after the commit without a query. Only where
// the header can be read and a query gave an Epoch to build on.
func (w *watch) beforeCommit(ctx context.Context, q querier) ownCommit {
	if w == nil || w.last.Load() == nil {
		return ownCommit{}
	}
	h, ok := w.wal.header()
	if !ok {
		return ownCommit{}
	}
	var g gens
	if err := q.QueryRowContext(ctx, "SELECT "+gensCols).Scan(&g.spaces, &g.locks, &g.users); err != nil {
		return ownCommit{}
	}
	return ownCommit{h: h, g: g, ok: true}
}

// testAfterCommit, if set (tests), runs between a commit and committed.
var testAfterCommit func()

// committed is called after each commit of this DB's writer, with what
// beforeCommit read (w is nil while Open migrates, before anyone can ask
// for a Epoch).
//
// If the header now is the one of the transaction's with its change
// counter moved by exactly one, no other commit came between this one
// and the reading of the header (the transaction held the write lock up to
// its commit, and every commit moves the counter): the state is the one
// this commit left, whose generations c has. It is recorded as the last
// read with the Epoch {data of the last read, own}: no Epoch given before
// has this own, and any query after this commit reads another data (the
// watch connection's data_version changes with this commit), so the label
// names this state alone. The next requests are then answered from the
// header, without a query, until anything else commits.
func (w *watch) committed(c ownCommit) {
	if w == nil {
		return
	}
	own := w.own.Add(1)
	if !c.ok {
		return
	}
	l := w.last.Load()
	h, ok := w.wal.header()
	if l == nil || !ok || h.change() != c.h.change()+1 {
		return
	}
	w.last.Store(&headerEpoch{h: h, v: Epoch{data: l.v.data, own: own}, g: c.g})
}
