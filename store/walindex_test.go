//go:build linux

package store

import (
	"context"
	"database/sql"
	"os"
	"os/exec"
	"testing"
	"time"
	"unsafe"
)

// TestEpochWithoutQuery: once read with its query, the Epoch is answered
// from the WAL index's header, and a commit by another process or by
// another connection that is no DB of this package is noticed on the next
// call, which then reads the new Epoch with a query; a commit by this DB
// gives the new Epoch itself.
func TestEpochWithoutQuery(t *testing.T) {
	if testPG != nil {
		t.Skip("SQLite's WAL index only")
	}
	ctx := context.Background()
	path := testLocation(t)
	db := openAt(t, path)
	w := db.watch
	if w.wal == nil || w.wal.s.mem == nil {
		t.Fatal("the WAL index is not mapped")
	}
	v0, err := db.Epoch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fast := func(what string, want bool) Epoch {
		t.Helper()
		v, _, ok := w.unchanged()
		if ok != want {
			t.Fatalf("%s: answered without a query = %v, want %v", what, ok, want)
		}
		return v
	}
	if v := fast("nothing changed", true); v != v0 {
		t.Fatalf("Epoch without a query = %v, want %v", v, v0)
	}
	if _, err := db.UserByName(ctx, "nobody"); err == nil {
		t.Fatal("found a user in an empty database")
	}
	fast("after a read", true)

	// Another process commits.
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), commitEnv+"="+path)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the other process: %v\n%s", err, out)
	}
	fast("after another process's commit", false)
	v1, err := db.Epoch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v1 == v0 {
		t.Fatal("another process's commit did not move the Epoch")
	}
	if _, err := db.UserByName(ctx, "from-another-process"); err != nil {
		t.Fatalf("the other process's user: %v", err)
	}
	if v := fast("after the new Epoch was read", true); v != v1 {
		t.Fatalf("Epoch without a query = %v, want %v", v, v1)
	}

	// A plain connection of this process, outside any DB.
	raw, err := sql.Open("sqlite", dsn(path, false, busyTimeout))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.ExecContext(ctx, "UPDATE users SET password_hash = 'y' WHERE name = 'from-another-process'"); err != nil {
		t.Fatal(err)
	}
	fast("after another connection's commit", false)
	v2, _ := db.Epoch(ctx)
	if v2 == v1 {
		t.Fatal("another connection's commit did not move the Epoch")
	}

	// This DB.
	err = db.Update(ctx, func(tx *Tx) error {
		_, err := tx.CreateUser(ctx, User{Name: "own", PasswordHash: "x", CreatedAt: time.Unix(1, 0)})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// This DB's own commit is known without a query
	// (TestEpochAfterOwnCommit has more).
	if v3 := fast("after this DB's commit", true); v3 == v2 {
		t.Fatal("this DB's commit did not move the Epoch")
	}
}

// TestWALIndexShared: two DBs of one process on one file share one
// descriptor of the WAL index, closed with the last of them, and the
// first to close leaves the other's locks and mapping alone.
func TestWALIndexShared(t *testing.T) {
	if testPG != nil {
		t.Skip("SQLite's WAL index only")
	}
	ctx := context.Background()
	path := testLocation(t)
	a, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	b := openAt(t, path)
	if a.watch.wal.s != b.watch.wal.s || a.watch.wal.s.refs != 2 {
		t.Fatal("two DBs on one file do not share the WAL index")
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if b.watch.wal.s.refs != 1 || b.watch.wal.s.mem == nil {
		t.Fatal("closing one DB released the other's WAL index")
	}
	if _, err := b.Epoch(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := b.watch.unchanged(); !ok {
		t.Fatal("no Epoch without a query after the other DB closed")
	}
}

// TestWALHeaderRejected: a header copy that is not initialised, of
// another version, or whose checksum does not match is not trusted.
func TestWALHeaderRejected(t *testing.T) {
	sum := func(h *walHeader) {
		var s1, s2 uint32
		for i := 0; i < 10; i += 2 {
			s1 += h[i] + s2
			s2 += h[i+1] + s1
		}
		h[10], h[11] = s1, s2
	}
	isInit := func(h *walHeader) *byte { return (*byte)(unsafe.Pointer(&h[3])) }
	var h walHeader
	h[0] = walIdxVersion
	h[2] = 7 // iChange
	*isInit(&h) = 1
	h[4] = 42 // mxFrame
	h[8] = 99 // a salt
	sum(&h)
	if !h.valid() {
		t.Fatal("a good header rejected")
	}
	for _, c := range []struct {
		name string
		bad  func(*walHeader)
	}{
		{"torn", func(h *walHeader) { h[4]++ }},
		{"checksum", func(h *walHeader) { h[11]++ }},
		{"version", func(h *walHeader) { h[0]++; sum(h) }},
		{"not initialised", func(h *walHeader) { *isInit(h) = 0; sum(h) }},
	} {
		b := h
		c.bad(&b)
		if b.valid() {
			t.Errorf("%s: header accepted", c.name)
		}
	}
}
