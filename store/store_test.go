package store

import (
	"context"
	"errors"
	"sync"
	"testing"
)

func openTest(t *testing.T) *DB {
	t.Helper()
	db, err := Open(t.Context(), testLocation(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestOpenMigratesAndReopens(t *testing.T) {
	path := testLocation(t)
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	have, known, err := db.SchemaVersion(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if have != known || known == 0 {
		t.Fatalf("schema version %d, binary knows %d", have, known)
	}
	if onPostgres() {
		var n int
		if err := db.r.QueryRowContext(t.Context(), "SELECT count(*) FROM wharf_schema").Scan(&n); err != nil || n != 1 {
			t.Fatalf("wharf_schema rows = %d, %v; want 1", n, err)
		}
	} else if err := sqliteSettings(t, db); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(t.Context(), path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	db.Close()
}

func sqliteSettings(t *testing.T, db *DB) error {
	var mode string
	if err := db.r.QueryRowContext(t.Context(), "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v; want wal", mode, err)
	}
	var fk int
	if err := db.r.QueryRowContext(t.Context(), "PRAGMA foreign_keys").Scan(&fk); err != nil || fk != 1 {
		t.Fatalf("foreign_keys = %d, %v; want 1", fk, err)
	}
	return nil
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := testLocation(t)
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	newer := "PRAGMA user_version = 999"
	if onPostgres() {
		newer = "UPDATE wharf_schema SET version = 999"
	}
	if _, err := db.w.ExecContext(t.Context(), newer); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = Open(t.Context(), path)
	if !errors.Is(err, ErrTooNew) {
		t.Fatalf("Open of a newer database: %v, want ErrTooNew", err)
	}
}

func TestReadPoolIsReadOnly(t *testing.T) {
	db := openTest(t)
	_, err := db.r.ExecContext(t.Context(), "INSERT INTO settings (key, value) VALUES ('x', 'y')")
	if err == nil {
		t.Fatal("write through the read pool succeeded")
	}
}

func TestUpdateRollsBackOnError(t *testing.T) {
	db := openTest(t)
	boom := errors.New("boom")
	err := db.Update(t.Context(), func(tx *Tx) error {
		if err := tx.PutSetting(t.Context(), "k", []byte("v")); err != nil {
			return err
		}
		return boom
	})
	if err != boom {
		t.Fatalf("Update returned %v, want fn's error unchanged", err)
	}
	if _, err := db.Setting(t.Context(), "k"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("setting after rollback: %v, want ErrNotFound", err)
	}
}

// TestConcurrentWritersFromTwoHandles is what happens when the command line
// writes while the server runs: two DBs on one file, both writing.
func TestConcurrentWritersFromTwoHandles(t *testing.T) {
	path := testLocation(t)
	var dbs [2]*DB
	for i := range dbs {
		db, err := Open(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs[i] = db
	}
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 200 {
		wg.Go(func() {
			db := dbs[i%2]
			errs <- db.Update(context.Background(), func(tx *Tx) error {
				return tx.PutSetting(context.Background(), "k"+string(rune('a'+i%26))+string(rune('a'+i/26)), []byte{byte(i)})
			})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := dbs[0].r.QueryRowContext(t.Context(), "SELECT count(*) FROM settings").Scan(&n); err != nil || n != 200 {
		t.Fatalf("rows = %d, %v; want 200", n, err)
	}
}
