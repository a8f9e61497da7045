package space

import (
	"context"
	"reflect"
	"testing"
)

// TestListingPatchedAfterPut: a listing cached before a PUT into its
// folder is patched by the PUT rather than dropped (the first listing
// after the change is served from memory), and is then exactly what the
// index holds; a PUT deeper below the folder, which changes a subfolder's
// ETag listed there, leaves it to be read again.
func TestListingPatchedAfterPut(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.space(t, "s", 0)
	f.mkdir(t, "s", "d")
	f.mkdir(t, "s", "d/sub")
	for _, n := range []string{"b", "d", "f"} {
		f.put(t, "s", "d/"+n, "x")
	}
	dir, err := f.tree.Stat(ctx, "s", "d")
	if err != nil {
		t.Fatal(err)
	}
	listed := func() []Node {
		t.Helper()
		var all []Node
		if err := f.tree.ListBatches(ctx, dir, 2, func(b []Node) error { all = append(all, b...); return nil }); err != nil {
			t.Fatal(err)
		}
		return all
	}
	cached := func() bool {
		gen, err := f.db.SpaceGeneration(ctx, "s")
		if err != nil {
			t.Fatal(err)
		}
		_, ok := f.tree.listings.get(dir.ID, gen)
		return ok
	}
	check := func(what string, wantCached bool) {
		t.Helper()
		if got := cached(); got != wantCached {
			t.Errorf("%s: listing cached at the current generation: %v, want %v", what, got, wantCached)
		}
		got := listed()
		want, err := f.db.Children(ctx, dir.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: listing\n%+v\nwant (the index)\n%+v", what, got, want)
		}
	}
	listed() // cache it
	f.put(t, "s", "d/a", "new first")
	check("new file first", true)
	f.put(t, "s", "d/e", "new middle")
	check("new file in the middle", true)
	f.put(t, "s", "d/f", "overwritten last")
	check("overwrite", true)
	f.put(t, "s", "d/sub/x", "deeper")
	check("file in a subfolder", false)
}
