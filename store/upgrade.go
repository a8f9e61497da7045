package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// KeepBackups is how many pre-upgrade copies of the database Open keeps in
// the backups directory beside it; older ones are removed.
const KeepBackups = 3

// BackupDir is the directory, beside the database file, that holds the
// copies Open takes before it upgrades the schema.
const BackupDir = "backups"

// TooNewError is returned by Open for a database whose schema is newer than
// this binary knows. It matches ErrTooNew with errors.Is.
type TooNewError struct {
	Path  string // the database file
	Have  int    // its schema version
	Known int    // the newest version this binary knows
}

func (e *TooNewError) Error() string {
	return fmt.Sprintf("store: %s: this data directory was written by a newer Wharf (schema %d); this binary knows up to %d — upgrade wharf",
		e.Path, e.Have, e.Known)
}

// Is makes errors.Is(err, ErrTooNew) true.
func (e *TooNewError) Is(target error) bool { return target == ErrTooNew }

// Upgrade says what Open did to the schema: nothing (From == To), created
// it (From == 0) or upgraded it, after copying the database to Backup.
type Upgrade struct {
	From, To int
	// Backup is the copy taken before upgrading an existing database; ""
	// when nothing was upgraded.
	Backup string
	// Removed are older copies deleted to keep KeepBackups of them.
	Removed []string
}

// Upgraded reports what Open did to the schema, so that the caller can log
// it (the store has no logger).
func (db *DB) Upgraded() Upgrade { return db.up }

// backupBeforeMigrate copies a database at schema have (> 0) that is about to
// be upgraded to known, with VACUUM INTO, to
// backups/<name>.schema-<have>.<time>.bak beside it, and prunes older copies.
// A new database (have == 0) has nothing to keep.
func (db *DB) backupBeforeMigrate(ctx context.Context, have, known int) error {
	db.up = Upgrade{From: have, To: known}
	// PostgreSQL: the operator's pg_dump is the copy (docs/postgres.md).
	if have == 0 || have >= known || db.d.pg {
		return nil
	}
	dir := filepath.Join(filepath.Dir(db.path), BackupDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("store: back up %s before upgrading it: %w", db.path, err)
	}
	base := filepath.Base(db.path)
	name := filepath.Join(dir, fmt.Sprintf("%s.schema-%d.%s.bak", base, have, time.Now().UTC().Format("20060102T150405.000000000Z")))
	if err := db.Snapshot(ctx, name); err != nil {
		return fmt.Errorf("store: back up %s before upgrading it from schema %d to %d (nothing was changed): %w", db.path, have, known, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync() // the new name survives a crash
		d.Close()
	}
	db.up.Backup = name
	removed, err := pruneBackups(dir, base+".schema-", KeepBackups)
	if err != nil {
		return fmt.Errorf("store: prune old database backups in %s: %w", dir, err)
	}
	db.up.Removed = removed
	return nil
}

// pruneBackups deletes all but the newest keep files in dir whose names
// start with prefix and end in .bak; the names sort by time within one
// schema, and by modification time across schemas.
func pruneBackups(dir, prefix string, keep int) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	type backup struct {
		path string
		mod  time.Time
	}
	var bs []backup
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasPrefix(e.Name(), prefix) || !strings.HasSuffix(e.Name(), ".bak") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return nil, err
		}
		bs = append(bs, backup{filepath.Join(dir, e.Name()), info.ModTime()})
	}
	sort.Slice(bs, func(i, j int) bool {
		if !bs[i].mod.Equal(bs[j].mod) {
			return bs[i].mod.After(bs[j].mod)
		}
		return bs[i].path > bs[j].path
	})
	var removed []string
	for _, b := range bs[min(keep, len(bs)):] {
		if err := os.Remove(b.path); err != nil {
			return removed, err
		}
		removed = append(removed, b.path)
	}
	return removed, nil
}

// BusyErrors returns how many write transactions failed because another
// connection or process held SQLite's lock for longer than the busy timeout
// (SQLITE_BUSY or SQLITE_LOCKED). The driver retries inside that timeout on
// its own and does not report those retries; this counts the give-ups. Safe
// for concurrent use.
func (db *DB) BusyErrors() int64 { return db.busy.Load() }

func (db *DB) countBusy(err error) {
	if isBusy(err) {
		db.busy.Add(1)
	}
}

func isBusy(err error) bool {
	switch pgCode(err) {
	case pgLockNotAvailable, pgSerializationFailure, pgDeadlockDetected:
		return true
	}
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff { // the primary code, whatever the extended one
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return true
	}
	return false
}

// CountRows returns, for a gauge, how many rows of the named table fall in
// each value of column: jobs by state, phraseanet_commits by state, uploads by state.
// table and column must be one of the pairs below (they are not
// parameters in SQL).
func (r Reader) CountRows(ctx context.Context, table, column string) (map[string]int64, error) {
	switch table + "." + column {
	case "jobs.state", "uploads.state", "phraseanet_commits.state":
	default:
		return nil, fmt.Errorf("store: count rows of %s.%s: not a countable column", table, column)
	}
	rows, err := r.q.QueryContext(ctx, "SELECT "+column+", COUNT(*) FROM "+table+" GROUP BY "+column)
	if err != nil {
		return nil, fmt.Errorf("store: count %s by %s: %w", table, column, describe(err))
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var k sql.NullString
		var n int64
		if err := rows.Scan(&k, &n); err != nil {
			return nil, fmt.Errorf("store: count %s by %s: %w", table, column, describe(err))
		}
		out[k.String] += n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: count %s by %s: %w", table, column, describe(err))
	}
	return out, nil
}

// CountLocks returns how many WebDAV locks have not expired at now.
func (r Reader) CountLocks(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := r.q.QueryRowContext(ctx, "SELECT COUNT(*) FROM locks WHERE expires_at > ?", nanos(now)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: count locks: %w", describe(err))
	}
	return n, nil
}
