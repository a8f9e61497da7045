package store

import (
	"errors"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// IsFull reports whether err is SQLite's "database or disk is full"
// (SQLITE_FULL), or PostgreSQL's disk_full,: the file system holding the database has no room for the
// journal or the pages a write needs. Callers map it to their "disk full"
// answer (HTTP 507) rather than a server error; the transaction it ended
// was rolled back, so nothing of it is visible.
func IsFull(err error) bool {
	if pgCode(err) == pgDiskFull {
		return true
	}
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_FULL
}
