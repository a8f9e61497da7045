package store

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestEpoch: the Epoch moves with a commit of this DB and with a
// commit made through another handle on the same file (as the command
// line, another process, makes them), and stays put otherwise.
func TestEpoch(t *testing.T) {
	ctx := context.Background()
	db, other := openTwice(t)

	v0, err := db.Epoch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v0 == (Epoch{}) {
		t.Fatal("Epoch returned the zero Epoch")
	}
	if _, err := db.Node(ctx, "nope", "x"); err == nil {
		t.Fatal("found a node in an empty database")
	}
	if v, _ := db.Epoch(ctx); v != v0 {
		t.Errorf("a read moved the Epoch: %v -> %v", v0, v)
	}
	createUser(t, db, "own")
	v1, _ := db.Epoch(ctx)
	if v1 == v0 {
		t.Error("a commit of this DB did not move the Epoch")
	}
	createUser(t, other, "other")
	v2, _ := db.Epoch(ctx)
	if v2 == v1 {
		t.Error("a commit through another handle did not move the Epoch")
	}
	if v2.own != v1.own {
		t.Error("another handle's commit counted as this DB's own")
	}

	// Many callers at once all get an answer, and the same one while
	// nothing commits.
	var wg sync.WaitGroup
	vs := make([]Epoch, 64)
	for i := range vs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := db.Epoch(ctx)
			if err != nil {
				t.Error(err)
			}
			vs[i] = v
		}()
	}
	wg.Wait()
	for _, v := range vs {
		if v != v2 {
			t.Fatalf("concurrent Epoch = %v, want %v", v, v2)
		}
	}
}

// BenchmarkEpoch: the cost of asking, one caller at a time.
func BenchmarkEpoch(b *testing.B) {
	ctx := context.Background()
	db, err := Open(ctx, testLocation(b))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	for b.Loop() {
		if _, err := db.Epoch(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUserByName: an indexed lookup of one row, for comparison.
func BenchmarkUserByName(b *testing.B) {
	ctx := context.Background()
	db, err := Open(ctx, testLocation(b))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	err = db.Update(ctx, func(tx *Tx) error {
		_, err := tx.CreateUser(ctx, User{Name: "u", PasswordHash: "x", CreatedAt: time.Unix(1, 0)})
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := db.UserByName(ctx, "u"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestEpochContext: in a request's context the first Epoch is reused,
// until this process commits or memoMaxAge passes.
func TestEpochContext(t *testing.T) {
	ctx := context.Background()
	db, other := openTwice(t)
	mk := func(d *DB, name string) {
		t.Helper()
		err := d.Update(ctx, func(tx *Tx) error {
			_, err := tx.CreateUser(ctx, User{Name: name, PasswordHash: "x", CreatedAt: time.Unix(1, 0)})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	rctx := NewEpochContext(ctx)
	v1, err := db.Epoch(rctx)
	if err != nil {
		t.Fatal(err)
	}
	mk(db, "own")
	if v, _ := db.Epoch(rctx); v == v1 {
		t.Error("a commit of this process did not end the request's Epoch")
	}
	v2, _ := db.Epoch(rctx)
	mk(other, "other")
	time.Sleep(memoMaxAge + 5*time.Millisecond)
	if v, _ := db.Epoch(rctx); v == v2 {
		t.Error("another process's commit not seen after memoMaxAge")
	}
}

// TestEpochCache: an entry is served at the Epoch it was put at only,
// young enough; a Put of an older Epoch does not replace newer entries.
func TestEpochCache(t *testing.T) {
	now := time.Unix(1000, 0)
	c := NewEpochCache[string, int](2, time.Second)
	v1 := Epoch{data: 1, own: 1}
	v2 := Epoch{data: 2, own: 1}
	c.Put("a", v1, now, 1)
	if got, ok := c.Get("a", v1, now); !ok || got != 1 {
		t.Errorf("Get(a, v1) = %d, %v; want 1, true", got, ok)
	}
	if _, ok := c.Get("a", v2, now); ok {
		t.Error("an entry of v1 served at v2")
	}
	if _, ok := c.Get("a", v1, now.Add(time.Second)); ok {
		t.Error("an entry served past its max age")
	}
	c.Put("b", v2, now, 2)
	if _, ok := c.Get("a", v1, now); ok {
		t.Error("v1's entries kept after a Put at v2")
	}
	c.Put("c", v1, now, 3) // read before v2: ignored
	if _, ok := c.Get("c", v1, now); ok {
		t.Error("a Put of an older Epoch was kept")
	}
	if _, ok := c.Get("b", v2, now); !ok {
		t.Error("a Put of an older Epoch dropped the newer entries")
	}
	if _, ok := c.Get("x", Epoch{}, now); ok {
		t.Error("the zero Epoch matched")
	}
	c.Put("c", v2, now, 3)
	c.Put("d", v2, now, 4) // full: starts over
	if _, ok := c.Get("d", v2, now); !ok {
		t.Error("the last Put is missing")
	}
}

// openTwice opens one database through two handles, as the server and the
// command line do.
func openTwice(t *testing.T) (db, other *DB) {
	t.Helper()
	path := testLocation(t)
	db = openAt(t, path)
	return db, openAt(t, path)
}

func openAt(t *testing.T, path string) *DB {
	t.Helper()
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestEpochAfterOwnCommit: after a commit of this DB, the Epoch and the
// generations are known without a query (the change it made to the users
// generation included), while a commit through another handle, even one
// that lands between this DB's commit and its reading of the WAL index,
// makes the next read query and see it.
func TestEpochAfterOwnCommit(t *testing.T) {
	ctx := context.Background()
	db, other := openTwice(t)
	if db.d.pg {
		t.Skip("PostgreSQL: no WAL index, every Epoch is a query")
	}
	if _, ok := db.watch.wal.header(); !ok {
		t.Skip("the WAL index cannot be mapped here")
	}
	usersGen := func() int64 {
		t.Helper()
		var n int64
		if err := other.Reader.q.QueryRowContext(ctx, "SELECT n FROM generations WHERE kind = 'users'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	v0, _ := db.Epoch(ctx)
	a0 := db.AccessEpoch(ctx)
	queries := db.watch.queries.Load()
	createUser(t, db, "own")
	v1, _ := db.Epoch(ctx)
	a1 := db.AccessEpoch(ctx)
	if v1 == v0 || a1 == a0 {
		t.Fatalf("after a commit of this DB: Epoch %v -> %v, AccessEpoch %v -> %v; both must move", v0, v1, a0, a1)
	}
	if n := db.watch.queries.Load() - queries; n != 0 {
		t.Errorf("%d queries after a commit of this DB, want none", n)
	}
	if g, _ := db.generations(ctx); g.users != usersGen() {
		t.Errorf("users generation %d after this DB's commit, the database has %d", g.users, usersGen())
	}

	createUser(t, other, "other")
	v2, _ := db.Epoch(ctx)
	if a2 := db.AccessEpoch(ctx); v2 == v1 || a2 == a1 {
		t.Fatalf("after another handle's commit: Epoch %v -> %v, AccessEpoch %v -> %v; both must move", v1, v2, a1, a2)
	}

	// Another handle commits right after this DB's commit, before it
	// reads the WAL index: its change must not pass for this DB's.
	testAfterCommit = func() {
		testAfterCommit = nil
		createUser(t, other, "between")
	}
	defer func() { testAfterCommit = nil }()
	queries = db.watch.queries.Load()
	createUser(t, db, "own2")
	v3, _ := db.Epoch(ctx)
	if v3 == v2 {
		t.Fatal("the Epoch did not move")
	}
	if db.watch.queries.Load() == queries {
		t.Error("no query after a commit another handle made between this DB's commit and its reading of the WAL index")
	}
	if g, _ := db.generations(ctx); g.users != usersGen() {
		t.Errorf("users generation %d, the database has %d: the other handle's commit was missed", g.users, usersGen())
	}
}

// createUser commits an account named name through d.
func createUser(t testing.TB, d *DB, name string) {
	t.Helper()
	err := d.Update(context.Background(), func(tx *Tx) error {
		_, err := tx.CreateUser(context.Background(), User{Name: name, PasswordHash: "x", CreatedAt: time.Unix(1, 0)})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
