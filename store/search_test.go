package store

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

// searchFixture makes spaces a and b with a few named files.
func searchFixture(t testing.TB) *DB {
	ctx := context.Background()
	db, err := Open(ctx, testLocation(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	now := time.Unix(1700000000, 0)
	err = db.Update(ctx, func(tx *Tx) error {
		for _, sp := range []string{"a", "b"} {
			if err := tx.CreateSpace(ctx, Space{ID: sp, Name: sp, CreatedAt: now}); err != nil {
				return err
			}
			root, err := tx.InsertNode(ctx, Node{SpaceID: sp, IsDir: true, MTime: now, CTime: now, ETag: `"r"`})
			if err != nil {
				return err
			}
			docs, err := tx.InsertNode(ctx, Node{SpaceID: sp, ParentID: root.ID, Path: "Docs", Name: "Docs", IsDir: true, MTime: now, CTime: now, ETag: `"d"`})
			if err != nil {
				return err
			}
			for i, name := range []string{"Résumé Final.pdf", "CAFÉ.jpg", "notes.txt", "Straße.png"} {
				mime := map[int]string{0: "application/pdf", 1: "image/jpeg", 2: "text/plain", 3: "image/png"}[i]
				_, err := tx.InsertNode(ctx, Node{SpaceID: sp, ParentID: docs.ID, Path: "Docs/" + name, Name: name,
					Size: int64(i+1) * 1000, MTime: now.Add(time.Duration(i) * time.Hour), CTime: now, ETag: `"x"`, MIME: mime})
				if err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func searchPaths(ns []Node) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.SpaceID+":"+n.Path)
	}
	return out
}

func TestSearch(t *testing.T) {
	db := searchFixture(t)
	ctx := context.Background()
	base := time.Unix(1700000000, 0)
	for _, c := range []struct {
		name string
		q    SearchQuery
		want []string
	}{
		{"accents and case", SearchQuery{Text: "resume", Spaces: []string{"a"}, MinSize: -1, MaxSize: -1}, []string{"a:Docs/Résumé Final.pdf"}},
		{"accented query", SearchQuery{Text: "Café", Spaces: []string{"a"}, MinSize: -1, MaxSize: -1}, []string{"a:Docs/CAFÉ.jpg"}},
		{"short query folds too", SearchQuery{Text: "É", Spaces: []string{"a"}, Type: "file", MinSize: -1, MaxSize: -1}, []string{"a:Docs/CAFÉ.jpg", "a:Docs/Résumé Final.pdf", "a:Docs/Straße.png", "a:Docs/notes.txt"}},
		{"short query, two letters", SearchQuery{Text: "ss", Spaces: []string{"a"}, MinSize: -1, MaxSize: -1}, []string{"a:Docs/Straße.png"}},
		{"only the spaces asked", SearchQuery{Text: "notes", Spaces: []string{"b"}, MinSize: -1, MaxSize: -1}, []string{"b:Docs/notes.txt"}},
		{"no spaces, nothing", SearchQuery{Text: "notes", MinSize: -1, MaxSize: -1}, nil},
		{"type dir", SearchQuery{Text: "doc", Spaces: []string{"a", "b"}, Type: "dir", MinSize: -1, MaxSize: -1}, []string{"a:Docs", "b:Docs"}},
		{"type image", SearchQuery{Spaces: []string{"a"}, Type: "image", MinSize: -1, MaxSize: -1}, []string{"a:Docs/CAFÉ.jpg", "a:Docs/Straße.png"}},
		{"sizes", SearchQuery{Spaces: []string{"a"}, MinSize: 2000, MaxSize: 3000}, []string{"a:Docs/CAFÉ.jpg", "a:Docs/notes.txt"}},
		{"dates", SearchQuery{Spaces: []string{"a"}, Type: "file", MinSize: -1, MaxSize: -1, After: base.Add(time.Hour), Before: base.Add(3 * time.Hour)}, []string{"a:Docs/CAFÉ.jpg", "a:Docs/notes.txt"}},
		{"quote in query", SearchQuery{Text: `a"b`, Spaces: []string{"a"}, MinSize: -1, MaxSize: -1}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := db.Search(ctx, c.q)
			if err != nil {
				t.Fatal(err)
			}
			if p := searchPaths(got); !slices.Equal(p, c.want) {
				t.Errorf("got %q, want %q", p, c.want)
			}
		})
	}
}

// TestSearchFollowsWrites: renames, moves and deletes reach the index.
func TestSearchFollowsWrites(t *testing.T) {
	db := searchFixture(t)
	ctx := context.Background()
	find := func(text string) []string {
		t.Helper()
		ns, err := db.Search(ctx, SearchQuery{Text: text, Spaces: []string{"a", "b"}, MinSize: -1, MaxSize: -1})
		if err != nil {
			t.Fatal(err)
		}
		return searchPaths(ns)
	}
	docs, err := db.Node(ctx, "a", "Docs")
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(ctx, func(tx *Tx) error {
		return tx.MoveSubtree(ctx, "a", "Docs/notes.txt", "a", "Docs/Protokoll.txt", docs.ID, "Protokoll.txt")
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := find("protokoll"); !slices.Equal(got, []string{"a:Docs/Protokoll.txt"}) {
		t.Errorf("after rename: %q", got)
	}
	if got := find("notes"); !slices.Equal(got, []string{"b:Docs/notes.txt"}) {
		t.Errorf("old name still found: %q", got)
	}
	if err := db.Update(ctx, func(tx *Tx) error { _, err := tx.DeleteSubtree(ctx, "b", "Docs"); return err }); err != nil {
		t.Fatal(err)
	}
	if got := find("notes"); len(got) != 0 {
		t.Errorf("deleted name still found: %q", got)
	}
}

// BenchmarkSearch100k: a name query over 100,000 nodes in 10 spaces (the
// user may read 5 of them), through the index.
func BenchmarkSearch100k(b *testing.B) {
	ctx := context.Background()
	db, err := Open(ctx, testLocation(b))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	now := time.Unix(1700000000, 0)
	words := []string{"invoice", "photo", "résumé", "report", "contract", "scan", "draft", "Überblick", "plan", "notes"}
	for s := range 10 {
		sp := fmt.Sprintf("s%d", s)
		err = db.Update(ctx, func(tx *Tx) error {
			if err := tx.CreateSpace(ctx, Space{ID: sp, Name: sp, CreatedAt: now}); err != nil {
				return err
			}
			root, err := tx.InsertNode(ctx, Node{SpaceID: sp, IsDir: true, MTime: now, CTime: now, ETag: `"r"`})
			if err != nil {
				return err
			}
			for d := range 100 {
				dname := fmt.Sprintf("folder-%03d", d)
				dir, err := tx.InsertNode(ctx, Node{SpaceID: sp, ParentID: root.ID, Path: dname, Name: dname, IsDir: true, MTime: now, CTime: now, ETag: `"d"`})
				if err != nil {
					return err
				}
				for i := range 99 {
					name := fmt.Sprintf("%s %d-%d.jpg", words[(i+d)%len(words)], d, i)
					_, err := tx.InsertNode(ctx, Node{SpaceID: sp, ParentID: dir.ID, Path: dname + "/" + name, Name: name,
						Size: int64(i) * 1000, MTime: now, CTime: now, ETag: `"x"`, MIME: "image/jpeg"})
					if err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if onPostgres() {
		// What autovacuum does within a minute of such a load: the
		// planner needs the statistics to prefer the trigram index.
		if _, err := db.w.ExecContext(ctx, "ANALYZE nodes"); err != nil {
			b.Fatal(err)
		}
	}
	spaces := []string{"s0", "s2", "s4", "s6", "s8"}
	for _, c := range []struct{ name, text string }{
		{"rare", "42-17"},    // a handful of matches
		{"common", "resume"}, // a tenth of all names, first 100 returned
		{"short", "üb"},      // under three characters: no index
		{"none", "nothing-at-all"},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := db.Search(ctx, SearchQuery{Text: c.text, Spaces: spaces, MinSize: -1, MaxSize: -1}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
