package store

import (
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// TestIsFull: SQLite's "database or disk is full" is recognised, here made
// with max_page_count, the way a full file system makes it; other errors
// are not.
func TestIsFull(t *testing.T) {
	sqliteOnly(t)
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "full.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	for _, q := range []string{"CREATE TABLE t (b BLOB)", "PRAGMA max_page_count = 8"} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	var full error
	for range 100 {
		if _, full = db.Exec("INSERT INTO t VALUES (?)", []byte(strings.Repeat("x", 4000))); full != nil {
			break
		}
	}
	if full == nil || !IsFull(full) {
		t.Fatalf("inserting into a database at its page limit: %v; IsFull = false, want an error it recognises", full)
	}
	_, other := db.Exec("INSERT INTO missing VALUES (1)")
	for _, err := range []error{nil, other, errors.New("database or disk is full")} {
		if IsFull(err) {
			t.Errorf("IsFull(%v) = true", err)
		}
	}
}
