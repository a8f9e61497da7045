package store

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkChildren10k lists a directory of 10,000 files: the index side of
// a Depth 1 PROPFIND or a GET listing.
func BenchmarkChildren10k(b *testing.B) {
	ctx := context.Background()
	db, err := Open(ctx, testLocation(b))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var dir Node
	err = db.Update(ctx, func(tx *Tx) error {
		now := time.Unix(1700000000, 0)
		if err := tx.CreateSpace(ctx, Space{ID: "s", Name: "S", CreatedAt: now}); err != nil {
			return err
		}
		root, err := tx.InsertNode(ctx, Node{SpaceID: "s", IsDir: true, MTime: now, CTime: now, ETag: `"r"`})
		if err != nil {
			return err
		}
		dir, err = tx.InsertNode(ctx, Node{SpaceID: "s", ParentID: root.ID, Path: "big", Name: "big", IsDir: true, MTime: now, CTime: now, ETag: `"d"`})
		if err != nil {
			return err
		}
		for i := range 10000 {
			name := fmt.Sprintf("file-%05d.jpg", i)
			_, err := tx.InsertNode(ctx, Node{SpaceID: "s", ParentID: dir.ID, Path: "big/" + name, Name: name,
				Size: int64(i) * 1000, MTime: now.Add(time.Duration(i) * time.Second), CTime: now,
				ETag: fmt.Sprintf(`"%016x"`, i), SHA256: fmt.Sprintf("%064x", i), MIME: "image/jpeg"})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		ns, err := db.Children(ctx, dir.ID)
		if err != nil || len(ns) != 10000 {
			b.Fatal(len(ns), err)
		}
	}
}

// BenchmarkUpdateInsertNode is one write transaction inserting one node:
// the fixed cost of DB.Update (on PostgreSQL: the advisory write lock, the
// epoch's increment, the savepoint around the insert) plus one insert.
func BenchmarkUpdateInsertNode(b *testing.B) {
	ctx := context.Background()
	db, err := Open(ctx, testLocation(b))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	now := time.Unix(1700000000, 0)
	var root Node
	err = db.Update(ctx, func(tx *Tx) error {
		if err := tx.CreateSpace(ctx, Space{ID: "s", Name: "S", CreatedAt: now}); err != nil {
			return err
		}
		root, err = tx.InsertNode(ctx, Node{SpaceID: "s", IsDir: true, MTime: now, CTime: now, ETag: `"r"`})
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		name := fmt.Sprintf("f%d", i)
		err := db.Update(ctx, func(tx *Tx) error {
			_, err := tx.InsertNode(ctx, Node{SpaceID: "s", ParentID: root.ID, Path: name, Name: name,
				MTime: now, CTime: now, ETag: `"e"`})
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpdateEmpty is the fixed cost of a write transaction: on
// SQLite BEGIN IMMEDIATE and a commit with nothing to write; on PostgreSQL
// BEGIN, the advisory write lock, the epoch's increment and COMMIT.
func BenchmarkUpdateEmpty(b *testing.B) {
	ctx := context.Background()
	db, err := Open(ctx, testLocation(b))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	for b.Loop() {
		if err := db.Update(ctx, func(*Tx) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriteLock compares, in a PostgreSQL transaction, taking the
// advisory write lock (uncontended) with the cheapest statement: what the
// lock itself costs beyond its round trip.
func BenchmarkWriteLock(b *testing.B) {
	if !onPostgres() {
		b.Skip("PostgreSQL only")
	}
	ctx := context.Background()
	db, err := Open(ctx, testLocation(b))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	for _, c := range []struct{ name, query string }{
		{"lock", "SELECT pg_advisory_xact_lock(2)"},
		{"select1", "SELECT 1"},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				tx, err := db.w.BeginTx(ctx, nil)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := tx.ExecContext(ctx, c.query); err != nil {
					b.Fatal(err)
				}
				if err := tx.Rollback(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
