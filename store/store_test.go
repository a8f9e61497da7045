package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func openTest(t *testing.T) *DB {
	t.Helper()
	return openAt(t, testLocation(t))
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

// TestWritersSerialisedAcrossHandles: a write transaction of another
// handle (another process, another replica) starts only once the one in
// progress has committed, so it reads what that one wrote: SQLite's write
// lock, PostgreSQL's advisory lock.
func TestWritersSerialisedAcrossHandles(t *testing.T) {
	ctx := context.Background()
	loc := testLocation(t)
	var dbs [2]*DB
	for i := range dbs {
		db, err := Open(ctx, loc)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs[i] = db
	}
	inside, release := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		first <- dbs[0].Update(ctx, func(tx *Tx) error {
			close(inside)
			<-release
			return tx.PutSetting(ctx, "k", []byte("first"))
		})
	}()
	<-inside
	second := make(chan error, 1)
	var seen []byte
	go func() {
		second <- dbs[1].Update(ctx, func(tx *Tx) error {
			v, err := tx.Setting(ctx, "k")
			if err != nil {
				return err
			}
			seen = v
			return tx.PutSetting(ctx, "k", []byte("second"))
		})
	}()
	// Give the second writer time to try; however short, the test cannot
	// pass wrongly: it fails only if the second writer went ahead.
	time.Sleep(100 * time.Millisecond)
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-second; err != nil {
		t.Fatalf("second writer: %v (it must wait for the first, then see its write)", err)
	}
	if string(seen) != "first" {
		t.Errorf("the second writer read %q, want the first's write", seen)
	}
}
