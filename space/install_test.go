package space

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharfhq/wharf/store"
)

// TestInstallBatch: writes that wait for a space's lock are installed
// together, in the order they queued, each failing alone as it would have
// on its own: a later write sees an earlier one's file, a refused write
// leaves the disk and the index as they were, and what is left is
// consistent (Verify finds nothing).
func TestInstallBatch(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.space(t, "s", 0)
	f.put(t, "s", "old.txt", "old content")
	if _, err := f.tree.Mkdir(ctx, "s", "d"); err != nil {
		t.Fatal(err)
	}
	st, err := f.tree.open("s")
	if err != nil {
		t.Fatal(err)
	}
	refuse := errors.New("the job's record refuses")
	writes := []struct {
		p, body string
		o       PutOptions
		wantErr error
	}{
		{p: "a.txt", body: "a1"},
		{p: "d/b.txt", body: "b1"},
		{p: "a.txt", body: "a2"}, // replaces the first, in the same batch
		{p: "a.txt", body: "a3", o: PutOptions{IfNoneMatch: "*"}, // a.txt exists by now
			wantErr: ErrPreconditionFailed},
		{p: "old.txt", body: "replaced", o: PutOptions{Record: func(*store.Tx, Node, bool) error { return refuse }},
			wantErr: refuse}, // the old file must come back
		{p: "new.txt", body: "n", o: PutOptions{Record: func(*store.Tx, Node, bool) error { return refuse }},
			wantErr: refuse}, // nothing may be left
		{p: "d/c.txt", body: "c1"},
	}

	// Hold the lock while the writes queue, one after the other, so that
	// they form one batch in a known order.
	st.mu.Lock()
	errs := make(chan error, len(writes))
	results := make([]error, len(writes))
	for i, w := range writes {
		o := w.o
		o.ExpectedSize = -1
		go func() {
			_, _, err := f.tree.Put(ctx, "s", w.p, strings.NewReader(w.body), o)
			results[i] = err
			errs <- err
		}()
		for queued(st) < i+1 {
			time.Sleep(time.Millisecond)
		}
	}
	st.mu.Unlock()
	for range writes {
		<-errs
	}

	for i, w := range writes {
		if w.wantErr == nil && results[i] != nil || w.wantErr != nil && !errors.Is(results[i], w.wantErr) {
			t.Errorf("write %d (%s %q): %v, want %v", i, w.p, w.body, results[i], w.wantErr)
		}
	}
	for p, want := range map[string]string{"a.txt": "a2", "d/b.txt": "b1", "d/c.txt": "c1", "old.txt": "old content"} {
		got, err := os.ReadFile(filepath.Join(f.dir, "spaces", "s", filepath.FromSlash(p)))
		if err != nil || string(got) != want {
			t.Errorf("%s on disk: %q, %v; want %q", p, got, err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(f.dir, "spaces", "s", "new.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("new.txt, refused, is on disk: %v", err)
	}
	if _, err := f.db.Node(ctx, "s", "new.txt"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("new.txt, refused, is in the index: %v", err)
	}
	problems, err := f.tree.Verify(ctx, "s", true)
	if err != nil || len(problems) > 0 {
		t.Errorf("Verify: %v %+v", err, problems)
	}
	if left := f.staging(t); len(left) > 0 {
		t.Errorf("staging files left behind: %v", left)
	}
}

// queued is how many installs wait for st's lock.
func queued(st *spaceState) int {
	st.qmu.Lock()
	defer st.qmu.Unlock()
	return len(st.queue)
}

// TestInstallConcurrent: many writers into one space, to the same names
// and to others, with -race: every write either lands whole or fails, and
// the index matches the disk.
func TestInstallConcurrent(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.space(t, "s", 0)
	done := make(chan error)
	const n = 48
	for i := range n {
		go func() {
			_, _, err := f.tree.Put(ctx, "s", fmt.Sprintf("f%d.txt", i%12), strings.NewReader(fmt.Sprintf("writer %d", i)), PutOptions{ExpectedSize: -1})
			done <- err
		}()
	}
	for range n {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	problems, err := f.tree.Verify(ctx, "s", true)
	if err != nil || len(problems) > 0 {
		t.Errorf("Verify: %v %+v", err, problems)
	}
}

// TestInstallBatchPanic: a write whose Record panics takes its batch down
// with it, cleanly: the writes before it report an error (not a success)
// and leave nothing behind, the panic reaches the caller that held the
// lock, and the next write goes through (the writer connection is free).
func TestInstallBatchPanic(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.space(t, "s", 0)
	st, err := f.tree.open("s")
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"p0.txt", "p1.txt", "p2.txt"}
	type outcome struct {
		err      error
		panicked any
	}
	out := make([]chan outcome, len(names))
	st.mu.Lock()
	for i, name := range names {
		out[i] = make(chan outcome, 1)
		o := PutOptions{ExpectedSize: -1}
		if i == 1 {
			o.Record = func(*store.Tx, Node, bool) error { panic("record panics") }
		}
		go func() {
			var oc outcome
			defer func() {
				oc.panicked = recover()
				out[i] <- oc
			}()
			_, _, oc.err = f.tree.Put(ctx, "s", name, strings.NewReader(name), o)
		}()
		for queued(st) < i+1 {
			time.Sleep(time.Millisecond)
		}
	}
	st.mu.Unlock()
	panics := 0
	for i, name := range names {
		oc := <-out[i]
		if oc.panicked != nil {
			panics++
			continue
		}
		if oc.err == nil {
			t.Errorf("%s: Put succeeded in a batch that panicked", name)
		}
		if _, err := os.Stat(filepath.Join(f.dir, "spaces", "s", name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is on disk after its batch failed: %v", name, err)
		}
	}
	if panics != 1 {
		t.Errorf("%d callers saw the panic, want 1 (the one that held the lock)", panics)
	}
	f.put(t, "s", "after.txt", "the writer is free")
	problems, err := f.tree.Verify(ctx, "s", true)
	if err != nil || len(problems) > 0 {
		t.Errorf("Verify: %v %+v", err, problems)
	}
}
