package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
)

// stmtCacheMax bounds the statements a stmtCache keeps. The queries of
// this package are a few hundred fixed strings; the few built at run time
// (IN lists of varying length) must not grow it without end: past the
// bound, a query is prepared for its one use, as before.
const stmtCacheMax = 512

// stmtCache keeps one prepared *sql.Stmt per query text on one pool.
// Parsing and planning a statement (sqlite3_prepare_v2) cost more than
// running the indexed lookups of a request: about a quarter of the CPU of a
// 4 KiB GET before this cache. database/sql prepares a cached Stmt on each
// connection of the pool the first time it runs there and keeps it; SQLite
// re-prepares a statement by itself if the schema changes. Safe for
// concurrent use.
type stmtCache struct {
	db *sql.DB
	d  *dialect
	mu sync.RWMutex
	m  map[string]*sql.Stmt
	// wanted: queries a transaction ran unprepared, to prepare once the
	// connection is free again (see prepareWanted).
	wanted map[string]struct{}
}

func newStmtCache(db *sql.DB, d *dialect) *stmtCache {
	return &stmtCache{db: db, d: d, m: make(map[string]*sql.Stmt), wanted: make(map[string]struct{})}
}

// lookup returns the prepared statement of query, or nil if there is none
// yet; then query is noted for prepareWanted. It never waits for a
// connection: a transaction holds the writer's only one.
func (c *stmtCache) lookup(query string) *sql.Stmt {
	c.mu.RLock()
	s := c.m[query]
	c.mu.RUnlock()
	if s != nil || !cacheable(query) {
		return s
	}
	c.mu.Lock()
	if len(c.m)+len(c.wanted) < stmtCacheMax {
		c.wanted[query] = struct{}{}
	}
	c.mu.Unlock()
	return nil
}

// prepareWanted prepares the queries lookup noted. DB.Update calls it after
// a transaction ends, when the writer connection is free.
func (c *stmtCache) prepareWanted(ctx context.Context) {
	c.mu.RLock()
	n := len(c.wanted)
	c.mu.RUnlock()
	if n == 0 {
		return
	}
	c.mu.Lock()
	qs := make([]string, 0, len(c.wanted))
	for q := range c.wanted {
		qs = append(qs, q)
	}
	clear(c.wanted)
	c.mu.Unlock()
	for _, q := range qs {
		c.get(ctx, q)
	}
}

// cacheable says whether query may be prepared and kept: one statement
// (database/sql would prepare only the first of several, where Exec runs
// them all, as migrations need), and no PRAGMA.
func cacheable(query string) bool {
	q := strings.TrimRight(query, " \t\n;")
	if strings.Contains(q, ";") {
		return false
	}
	q = strings.TrimLeft(q, " \t\n")
	return len(q) < 6 || !strings.EqualFold(q[:6], "PRAGMA")
}

// get returns the prepared statement of query, preparing it if needed, or
// nil if query is not cached (not cacheable, the cache is full, or the
// preparation failed: the caller then runs the query unprepared and gets
// the error, if any, from there).
func (c *stmtCache) get(ctx context.Context, query string) *sql.Stmt {
	c.mu.RLock()
	s := c.m[query]
	c.mu.RUnlock()
	if s != nil {
		return s
	}
	if !cacheable(query) {
		return nil
	}
	c.mu.RLock()
	full := len(c.m) >= stmtCacheMax
	c.mu.RUnlock()
	if full {
		return nil
	}
	// Prepared without holding mu: preparing waits for a connection, and a
	// transaction holding the writer's only one may be waiting for mu in
	// lookup. The statement outlives the request that prepares it.
	s, err := c.db.PrepareContext(context.WithoutCancel(ctx), c.d.query(query))
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.m[query]; old != nil {
		s.Close()
		return old
	}
	if len(c.m) >= stmtCacheMax {
		s.Close()
		return nil
	}
	c.m[query] = s
	return s
}

// close closes every statement; the cache is not used afterwards.
func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, s := range c.m {
		s.Close()
		delete(c.m, q)
	}
}

// poolQuerier runs queries on a pool through its cache.
type poolQuerier struct{ c *stmtCache }

func (p poolQuerier) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	args = p.c.d.args(args)
	if s := p.c.get(ctx, query); s != nil {
		return s.ExecContext(ctx, args...)
	}
	return p.c.db.ExecContext(ctx, p.c.d.query(query), args...)
}

func (p poolQuerier) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	args = p.c.d.args(args)
	if s := p.c.get(ctx, query); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return p.c.db.QueryContext(ctx, p.c.d.query(query), args...)
}

func (p poolQuerier) QueryRowContext(ctx context.Context, query string, args ...any) row {
	args = p.c.d.args(args)
	if s := p.c.get(ctx, query); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return p.c.db.QueryRowContext(ctx, p.c.d.query(query), args...)
}

// txQuerier runs the queries of a write transaction with the writer's
// cached statements: Tx.StmtContext reuses the statement already prepared
// on the one writer connection. A query not prepared yet runs unprepared
// and is prepared after the transaction (lookup).
type txQuerier struct {
	*sql.Tx
	c *stmtCache
}

func (t txQuerier) ExecContext(ctx context.Context, query string, args ...any) (res sql.Result, err error) {
	if t.c.d.guarded(query) {
		err = t.guard(ctx, func() error {
			res, err = t.exec(ctx, query, args...)
			return err
		})
		return res, err
	}
	return t.exec(ctx, query, args...)
}

func (t txQuerier) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	args = t.c.d.args(args)
	if s := t.c.lookup(query); s != nil {
		return t.Tx.StmtContext(ctx, s).ExecContext(ctx, args...)
	}
	return t.Tx.ExecContext(ctx, t.c.d.query(query), args...)
}

func (t txQuerier) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	args = t.c.d.args(args)
	if s := t.c.lookup(query); s != nil {
		return t.Tx.StmtContext(ctx, s).QueryContext(ctx, args...)
	}
	return t.Tx.QueryContext(ctx, t.c.d.query(query), args...)
}

func (t txQuerier) QueryRowContext(ctx context.Context, query string, args ...any) row {
	if t.c.d.guarded(query) {
		return guardedRow{t: t, ctx: ctx, query: query, args: args}
	}
	return t.queryRow(ctx, query, args...)
}

func (t txQuerier) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	args = t.c.d.args(args)
	if s := t.c.lookup(query); s != nil {
		return t.Tx.StmtContext(ctx, s).QueryRowContext(ctx, args...)
	}
	return t.Tx.QueryRowContext(ctx, t.c.d.query(query), args...)
}

// guard runs fn, a write that may break a constraint, between a savepoint
// and its release, undoing it alone if it fails. PostgreSQL aborts the
// whole transaction on a failed statement, where SQLite fails only the
// statement: callers check ErrExists or ErrNotFound and go on in the same
// transaction (a MKCOL on an existing name, say), as they always could.
func (t txQuerier) guard(ctx context.Context, fn func() error) error {
	ctx = context.WithoutCancel(ctx) // the savepoint must be undone whatever happens
	if _, err := t.Tx.ExecContext(ctx, "SAVEPOINT wharf_stmt"); err != nil {
		return fmt.Errorf("%w: savepoint: %w", ErrTxLost, err)
	}
	ferr := fn()
	if ferr != nil {
		if _, err := t.Tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT wharf_stmt"); err != nil {
			return fmt.Errorf("%w: undo a failed statement (%w): %w", ErrTxLost, ferr, err)
		}
	}
	if _, err := t.Tx.ExecContext(ctx, "RELEASE SAVEPOINT wharf_stmt"); err != nil {
		return fmt.Errorf("%w: release savepoint: %w", ErrTxLost, err)
	}
	return ferr
}

// guardedRow is a guarded QueryRowContext: the statement runs when the
// row is scanned, which is when its error is known.
type guardedRow struct {
	t     txQuerier
	ctx   context.Context
	query string
	args  []any
}

func (g guardedRow) Scan(dest ...any) error {
	return g.t.guard(g.ctx, func() error {
		return g.t.queryRow(g.ctx, g.query, g.args...).Scan(dest...)
	})
}

func (p poolQuerier) queryOnce(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if p.c.d.once == nil {
		return p.QueryContext(ctx, query, args...)
	}
	return p.c.db.QueryContext(ctx, p.c.d.query(query), append(append([]any(nil), p.c.d.once...), p.c.d.args(args)...)...)
}

func (t txQuerier) queryOnce(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if t.c.d.once == nil {
		return t.QueryContext(ctx, query, args...)
	}
	return t.Tx.QueryContext(ctx, t.c.d.query(query), append(append([]any(nil), t.c.d.once...), t.c.d.args(args)...)...)
}
