package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// PostgreSQL runs the same queries as SQLite (dialect.go); what its being
// a server shared by several Wharf processes changes is here.
//
// Writers: SQLite lets one transaction write at a time, and Wharf relies on
// it (space generations, quotas, install batches, the job queue). On
// PostgreSQL every DB.Update takes the transaction-scoped advisory lock
// writeLockKey first, so the write transactions of every replica still run
// one at a time, in the same order as they would against one SQLite file.
// Reads take no lock.
//
// Epoch: PostgreSQL has no data_version. The one-row table wharf_epoch is
// incremented by every DB.Update, under the lock, so any commit by any
// replica changes it. Nothing writes outside DB.Update (the read pool is
// read-only); a person editing the tables by hand must increment it too,
// or the caches of running servers keep what they read.

//go:embed migrations/postgres/*.sql
var pgMigrations embed.FS

// writeLockKey is the advisory lock every write transaction holds: "wharf"
// in ASCII, so that it is recognisable in pg_locks.
const writeLockKey = 0x7768617266

// pgConnectTimeout bounds each connection attempt when the URL does not
// set connect_timeout: an unreachable server fails Open instead of hanging.
const pgConnectTimeout = 10 * time.Second

// PostgreSQL error codes the store maps (Appendix A of its manual).
const (
	pgUniqueViolation      = "23505"
	pgForeignKeyViolation  = "23503"
	pgDiskFull             = "53100"
	pgLockNotAvailable     = "55P03"
	pgSerializationFailure = "40001"
	pgDeadlockDetected     = "40P01"
)

// pgCode returns the SQLSTATE of a PostgreSQL error, "" for other errors.
func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// pgBootstrap creates the tables that exist before any migration: the
// schema version (SQLite's user_version) and the epoch counter. It runs
// in a DB.Update, so replicas starting together do not race.
const pgBootstrap = `
CREATE TABLE IF NOT EXISTS wharf_schema (version integer NOT NULL);
INSERT INTO wharf_schema (version) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM wharf_schema);
CREATE TABLE IF NOT EXISTS wharf_epoch (n bigint NOT NULL);
INSERT INTO wharf_epoch (n) SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM wharf_epoch);`

func openPostgres(ctx context.Context, location string) (*DB, error) {
	name := Redact(location)
	cfg, err := pgx.ParseConfig(location)
	if err != nil {
		// pgx's message quotes the URL between backquotes (its password
		// masked, where it recognises one): keep only what follows.
		msg := err.Error()
		if i := strings.LastIndex(msg, "`: "); i >= 0 {
			msg = msg[i+3:]
		}
		return nil, fmt.Errorf("store: open %s: bad PostgreSQL URL: %s", name, msg)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = pgConnectTimeout
	}
	d := newPostgresDialect()
	// One round trip, the unnamed statement: planned for the values.
	d.once = []any{pgx.QueryExecModeExec}
	w := stdlib.OpenDB(*cfg)
	// One writer connection, as with SQLite: the writes of this process
	// queue here, not on the server's lock (stmt.go relies on it too).
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	db := &DB{w: w, wc: newStmtCache(w, d), path: name, d: d}
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open %s: cannot connect: %w", name, err)
	}
	if err := db.Update(ctx, func(tx *Tx) error {
		_, err := tx.tx.ExecContext(ctx, pgBootstrap)
		return err
	}); err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open %s: %w", name, err)
	}
	if err := db.migrate(ctx); err != nil {
		w.Close()
		return nil, err
	}
	rcfg := cfg.Copy()
	rcfg.RuntimeParams["default_transaction_read_only"] = "on"
	r := stdlib.OpenDB(*rcfg)
	r.SetMaxOpenConns(max(4, runtime.GOMAXPROCS(0)))
	r.SetMaxIdleConns(max(4, runtime.GOMAXPROCS(0)))
	db.r = r
	db.rc = newStmtCache(r, d)
	db.watch, err = newPgWatch(ctx, cfg)
	if err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("store: open %s: %w", name, err)
	}
	db.Reader = Reader{q: poolQuerier{db.rc}, d: d}
	return db, nil
}

// Postgres says whether the database is PostgreSQL rather than SQLite.
func (db *DB) Postgres() bool { return db.d.pg }

// lockWriters takes the write lock of the database for the transaction.
func lockWriters(ctx context.Context, q querier) error {
	if _, err := q.ExecContext(ctx, "SELECT pg_advisory_xact_lock(?)", int64(writeLockKey)); err != nil {
		return fmt.Errorf("store: take the write lock: %w", err)
	}
	return nil
}

// bumpEpoch records a commit for DB.Epoch.
func bumpEpoch(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, "UPDATE wharf_epoch SET n = n + 1"); err != nil {
		return fmt.Errorf("store: count the commit: %w", err)
	}
	return nil
}

// newPgWatch reads wharf_epoch on a connection of its own.
func newPgWatch(ctx context.Context, cfg *pgx.ConnConfig) (*watch, error) {
	rcfg := cfg.Copy()
	rcfg.RuntimeParams["default_transaction_read_only"] = "on"
	db := stdlib.OpenDB(*rcfg)
	return startWatch(ctx, db, versionQuery("SELECT n FROM wharf_epoch"))
}

// errNotSQLite wraps the operations only a SQLite database has.
func errNotSQLite(what, instead string) error {
	return fmt.Errorf("store: %s: %w: the database is PostgreSQL; %s", what, errors.ErrUnsupported, instead)
}
