// Package store owns Wharf's SQLite database: opening it, migrating its schema
// and every SQL query the rest of Wharf runs. It knows SQL and nothing else: no
// HTTP, no files on disk, no business rules. It imports only the standard
// library and the SQLite driver.
//
// One DB holds two pools on the same file: a single writer connection (so
// writes never fight over SQLite's write lock inside one process) and a pool
// of read-only connections. WAL mode lets readers run beside the writer, and a
// busy timeout lets another process (the command line) write while the server
// runs.
package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Errors returned by queries; check them with errors.Is.
var (
	// ErrNotFound: the row asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists: a row with the same unique key already exists.
	ErrExists = errors.New("already exists")
	// ErrTooNew: the database was written by a newer Wharf than this one.
	ErrTooNew = errors.New("database schema is newer than this binary")
)

//go:embed migrations/*.sql
var migrations embed.FS

func init() {
	// wharf_sha256_hex(x) is the lowercase hex SHA-256 of a text or blob:
	// migrations use it to replace secrets by their hashes.
	sqlite.MustRegisterDeterministicScalarFunction("wharf_sha256_hex", 1,
		func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
			var sum [sha256.Size]byte
			switch v := args[0].(type) {
			case string:
				sum = sha256.Sum256([]byte(v))
			case []byte:
				sum = sha256.Sum256(v)
			case nil:
				return nil, nil
			default:
				return nil, fmt.Errorf("wharf_sha256_hex: want text or a blob, not %T", v)
			}
			return hex.EncodeToString(sum[:]), nil
		})
}

// busyTimeout is how long a statement waits for another connection (or
// process) holding the write lock before it fails with SQLITE_BUSY.
const busyTimeout = 10 * time.Second

// DB is an open Wharf database. It is safe for concurrent use. Read queries
// are methods of the embedded Reader and run on the read pool; writes run in
// Update.
type DB struct {
	Reader
	w, r *sql.DB
	path string       // the SQLite file, or the PostgreSQL URL without its password
	d    *dialect     // the engine's SQL (dialect.go)
	busy atomic.Int64 // see BusyErrors
	up   Upgrade      // see Upgraded

	// wc, rc: prepared statements of the writer and the read pool (stmt.go).
	wc, rc *stmtCache
	watch  *watch // see Epoch (epoch.go)

	// Rows kept in memory while their generation stands (gens.go).
	spaceSet   genMap[string, spaceSettings]
	lockSpaces genMap[string, bool]
	userSet    genMap[string, User]
}

// Reader runs read-only queries, either on the read pool (DB) or inside a
// write transaction (Tx), so a transaction sees its own writes.
type Reader struct {
	q querier
	d *dialect
}

// Tx is a write transaction; see DB.Update.
type Tx struct {
	Reader
	tx txQuerier
}

type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) row
	// queryOnce is QueryContext for a query whose best plan depends on
	// its arguments' values (a search's pattern): on PostgreSQL it is not
	// prepared, so that it is planned for them, where a prepared
	// statement would soon run a generic plan.
	queryOnce(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// row is the result of QueryRowContext: a *sql.Row, or on PostgreSQL a
// write guarded by a savepoint (see txQuerier), run when scanned.
type row interface {
	Scan(dest ...any) error
}

// Open opens (creating it if needed) the database at location and brings
// its schema up to date. location is a SQLite file's path, or a
// postgres:// (postgresql://) URL naming a PostgreSQL database, which must
// exist (postgres.go). A SQLite database and the files beside it are made
// FileMode (0600) if they are looser. It returns an error wrapping
// ErrTooNew if the database was migrated by a newer version. Errors never
// show a URL's password. The caller closes the DB.
func Open(ctx context.Context, location string) (*DB, error) {
	if IsPostgres(location) {
		return openPostgres(ctx, location)
	}
	return open(ctx, location, busyTimeout)
}

// open is Open with the busy timeout as a parameter, for tests.
func open(ctx context.Context, path string, busy time.Duration) (*DB, error) {
	if err := secureFiles(path); err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	w, err := sql.Open("sqlite", dsn(path, false, busy))
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	d := newSQLiteDialect()
	db := &DB{w: w, wc: newStmtCache(w, d), path: path, d: d}
	if err := db.migrate(ctx); err != nil {
		w.Close()
		return nil, err
	}
	r, err := sql.Open("sqlite", dsn(path, true, busy))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	r.SetMaxOpenConns(max(4, runtime.GOMAXPROCS(0)))
	r.SetMaxIdleConns(max(4, runtime.GOMAXPROCS(0)))
	db.r = r
	db.rc = newStmtCache(r, db.d)
	if db.watch, err = newWatch(ctx, path); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	db.Reader = Reader{q: poolQuerier{db.rc}, d: db.d}
	return db, nil
}

func dsn(path string, readOnly bool, busy time.Duration) string {
	v := url.Values{}
	pragmas := []string{
		"busy_timeout(" + strconv.Itoa(int(busy/time.Millisecond)) + ")",
		"foreign_keys(1)",
		"journal_mode(WAL)",
		// FULL: a commit is on disk before it is acknowledged, power loss included.
		"synchronous(FULL)",
	}
	if readOnly {
		pragmas = append(pragmas, "query_only(1)")
	}
	for _, p := range pragmas {
		v.Add("_pragma", p)
	}
	if !readOnly {
		// Take the write lock at BEGIN, so a transaction never fails half-way
		// with SQLITE_BUSY when it upgrades from reading to writing.
		v.Set("_txlock", "immediate")
	}
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + v.Encode()
}

// Path returns the file the DB was opened from; for PostgreSQL, its URL
// without the password.
func (db *DB) Path() string { return db.path }

// Close closes both pools.
func (db *DB) Close() error {
	var errR error
	db.wc.close()
	if db.rc != nil {
		db.rc.close()
	}
	if db.r != nil {
		errR = db.r.Close()
	}
	if db.watch != nil {
		errR = errors.Join(errR, db.watch.close())
	}
	errW := db.w.Close()
	if db.watch != nil {
		db.watch.closeWAL() // after every connection (see shmFile)
	}
	return errors.Join(errW, errR)
}

// Ping checks that both pools can reach the database.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.w.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping writer: %w", err)
	}
	var one int
	if err := db.r.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("store: ping reader: %w", err)
	}
	return nil
}

// Update runs fn in a write transaction on the writer connection and commits
// it if fn returns nil. fn's error is returned unchanged (not wrapped) so
// callers can match their own sentinels.
func (db *DB) Update(ctx context.Context, fn func(tx *Tx) error) error {
	return db.update(ctx, true, fn)
}

// UpdateUncached is Update for a transaction that writes only rows no
// cache labelled with an Epoch holds (the login throttle's): on PostgreSQL
// it does not move the epoch, so it does not make every replica drop its
// caches. On SQLite any commit moves data_version, so it is Update.
func (db *DB) UpdateUncached(ctx context.Context, fn func(tx *Tx) error) error {
	return db.update(ctx, !db.d.pg, fn)
}

func (db *DB) update(ctx context.Context, epoch bool, fn func(tx *Tx) error) error {
	sqlTx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		db.countBusy(err)
		return fmt.Errorf("store: begin: %w", err)
	}
	defer db.wc.prepareWanted(ctx)
	// A panic in fn must not leave the one writer connection inside a
	// transaction nobody ends (its context may never be cancelled); after
	// Commit this does nothing.
	defer sqlTx.Rollback()
	tq := txQuerier{Tx: sqlTx, c: db.wc}
	tx := &Tx{Reader: Reader{q: tq, d: db.d}, tx: tq}
	if db.d.pg {
		if err := lockWriters(ctx, tq); err != nil {
			db.countBusy(err)
			return err
		}
	}
	if err := fn(tx); err != nil {
		db.countBusy(err)
		return err
	}
	if db.d.pg && epoch {
		if err := bumpEpoch(ctx, sqlTx); err != nil {
			db.countBusy(err)
			return err
		}
	}
	var own ownCommit
	if epoch && !db.d.pg {
		own = db.watch.beforeCommit(ctx, tq)
	}
	if err := sqlTx.Commit(); err != nil {
		db.countBusy(err)
		return fmt.Errorf("store: commit: %w", err)
	}
	if epoch {
		if testAfterCommit != nil {
			testAfterCommit()
		}
		db.watch.committed(own)
	}
	return nil
}

// SchemaVersion returns the schema version of the open database and the
// newest version this binary knows.
func (db *DB) SchemaVersion(ctx context.Context) (have, known int, err error) {
	if have, err = db.schemaVersion(ctx, poolQuerier{db.wc}); err != nil {
		return 0, 0, fmt.Errorf("store: read schema version: %w", err)
	}
	ms, err := db.migrationFiles()
	if err != nil {
		return 0, 0, err
	}
	return have, len(ms), nil
}

type migration struct {
	version int
	name    string
}

// schemaVersion reads the version of the schema: SQLite keeps it in the
// file's user_version, PostgreSQL in the table wharf_schema.
func (db *DB) schemaVersion(ctx context.Context, q querier) (int, error) {
	query := "PRAGMA user_version"
	if db.d.pg {
		query = "SELECT version FROM wharf_schema"
	}
	var v int
	err := q.QueryRowContext(ctx, query).Scan(&v)
	return v, err
}

// setSchemaVersion records v as the schema's version inside tx.
func (db *DB) setSchemaVersion(ctx context.Context, tx *Tx, v int) error {
	if db.d.pg {
		_, err := tx.tx.ExecContext(ctx, "UPDATE wharf_schema SET version = ?", v)
		return err
	}
	// PRAGMA does not take parameters; v is an int we parsed.
	_, err := tx.tx.ExecContext(ctx, "PRAGMA user_version = "+strconv.Itoa(v))
	return err
}

// migrationFiles lists the embedded migrations of the DB's engine.
func (db *DB) migrationFiles() ([]migration, error) {
	if db.d.pg {
		return migrationFiles(pgMigrations, "migrations/postgres")
	}
	return migrationFiles(migrations, "migrations")
}

// migrationFiles lists the migrations in dir, checking they are numbered
// 1..n without gaps.
func migrationFiles(fsys fs.FS, dir string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("store: list migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		num, _, ok := strings.Cut(e.Name(), "_")
		n, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("store: bad migration file name %q", e.Name())
		}
		ms = append(ms, migration{version: n, name: e.Name()})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("store: migration %s out of sequence (want %04d)", m.name, i+1)
		}
	}
	return ms, nil
}

func (db *DB) migrate(ctx context.Context) error {
	ms, err := db.migrationFiles()
	if err != nil {
		return err
	}
	have, err := db.schemaVersion(ctx, poolQuerier{db.wc})
	if err != nil {
		return fmt.Errorf("store: open %s: %w", db.path, describe(err))
	}
	if have > len(ms) {
		return &TooNewError{Path: db.path, Have: have, Known: len(ms)}
	}
	if err := db.backupBeforeMigrate(ctx, have, len(ms)); err != nil {
		return err
	}
	for _, m := range ms[have:] {
		body, err := db.migrationBody(m)
		if err != nil {
			return fmt.Errorf("store: read migration %s: %w", m.name, err)
		}
		err = db.Update(ctx, func(tx *Tx) error {
			// Another process (a replica starting at the same time) may
			// have applied it since have was read: Update serialises the
			// writers, so the version read here is current.
			if v, err := db.schemaVersion(ctx, tx.tx); err != nil || v >= m.version {
				return err
			}
			if _, err := tx.tx.ExecContext(ctx, string(body)); err != nil {
				return err
			}
			return db.setSchemaVersion(ctx, tx, m.version)
		})
		if err != nil {
			if db.up.Backup != "" {
				return fmt.Errorf("store: migrate %s to version %d (%s; the database as it was before the upgrade is in %s): %w",
					db.path, m.version, m.name, db.up.Backup, describe(err))
			}
			return fmt.Errorf("store: migrate %s to version %d (%s): %w", db.path, m.version, m.name, describe(err))
		}
	}
	return nil
}

func (db *DB) migrationBody(m migration) ([]byte, error) {
	if db.d.pg {
		return pgMigrations.ReadFile("migrations/postgres/" + m.name)
	}
	return migrations.ReadFile("migrations/" + m.name)
}

// describe maps driver errors to the package's sentinels where one applies.
func describe(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w (%v)", ErrExists, err)
		}
	}
	if pgCode(err) == pgUniqueViolation {
		return fmt.Errorf("%w (%v)", ErrExists, err)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

// nanos and fromNanos convert between time.Time and the schema's INTEGER unix
// nanoseconds. The zero time is stored as NULL where a column allows it.
func nanos(t time.Time) int64 { return t.UnixNano() }

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

func nullNanos(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixNano(), Valid: true}
}

func fromNullNanos(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return fromNanos(n.Int64)
}

// Setting returns the value stored under key, or ErrNotFound.
func (r Reader) Setting(ctx context.Context, key string) ([]byte, error) {
	var v []byte
	err := r.q.QueryRowContext(ctx, "SELECT value FROM settings WHERE key = ?", key).Scan(&v)
	if err != nil {
		return nil, fmt.Errorf("store: setting %q: %w", key, describe(err))
	}
	return v, nil
}

// PutSetting stores value under key, replacing any earlier value.
func (tx *Tx) PutSetting(ctx context.Context, key string, value []byte) error {
	_, err := tx.tx.ExecContext(ctx,
		"INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
		key, value)
	if err != nil {
		return fmt.Errorf("store: put setting %q: %w", key, describe(err))
	}
	return nil
}

// exec runs a write statement and reports ErrNotFound when it touched no row.
func (tx *Tx) execOne(ctx context.Context, what, query string, args ...any) error {
	res, err := tx.tx.ExecContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, describe(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("store: %s: %w", what, ErrNotFound)
	}
	return nil
}

// ErrTxLost: a transaction can no longer be used (see Tx.Part); the Update
// it belongs to must fail.
var ErrTxLost = errors.New("store: transaction lost")

// Part runs fn inside tx as a part of it that can fail alone (a SQLite
// savepoint): if fn returns an error, its writes are undone, the
// transaction's others are kept, and fn's error is returned. An error
// wrapping ErrTxLost means the part could not be set up or undone (SQLite
// rolls back the whole transaction on a full disk, for one): the Update
// must then fail as a whole.
func (tx *Tx) Part(ctx context.Context, fn func() error) error {
	ctx = context.WithoutCancel(ctx)
	if _, err := tx.tx.ExecContext(ctx, "SAVEPOINT part"); err != nil {
		return fmt.Errorf("%w: savepoint: %w", ErrTxLost, err)
	}
	ferr := fn()
	if ferr != nil {
		if _, err := tx.tx.ExecContext(ctx, "ROLLBACK TO part"); err != nil {
			return fmt.Errorf("%w: undo a failed part (%w): %w", ErrTxLost, ferr, err)
		}
	}
	if _, err := tx.tx.ExecContext(ctx, "RELEASE part"); err != nil {
		return fmt.Errorf("%w: release savepoint: %w", ErrTxLost, err)
	}
	return ferr
}
