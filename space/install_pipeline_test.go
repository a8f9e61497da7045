package space

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wharfhq/wharf/store"
)

// TestInstallSyncLaterConcurrent: many writers whose staged files are
// fsynced in the background while they are installed (PutOptions.SyncLater,
// as WebDAV PUTs are), into one space, to the same names and to others,
// with -race: every write lands whole, the index matches the disk, no
// staging file is left, and once all are answered no batch leads.
func TestInstallSyncLaterConcurrent(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.space(t, "s", 0)
	const n = 64
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			body := fmt.Sprintf("writer %d", i)
			_, _, errs[i] = f.tree.Put(ctx, "s", fmt.Sprintf("f%d.txt", i%16), strings.NewReader(body),
				PutOptions{ExpectedSize: int64(len(body)), SyncLater: true})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("writer %d: %v", i, err)
		}
	}
	for i := range 16 {
		got, err := os.ReadFile(filepath.Join(f.dir, "spaces", "s", fmt.Sprintf("f%d.txt", i)))
		if err != nil || !strings.HasPrefix(string(got), "writer ") {
			t.Errorf("f%d.txt: %q, %v", i, got, err)
		}
	}
	problems, err := f.tree.Verify(ctx, "s", true)
	if err != nil || len(problems) > 0 {
		t.Errorf("Verify: %v %+v", err, problems)
	}
	if left := f.staging(t); len(left) > 0 {
		t.Errorf("staging files left behind: %v", left)
	}
	st, err := f.tree.open("s")
	if err != nil {
		t.Fatal(err)
	}
	st.qmu.Lock()
	idle := !st.installing && len(st.queue) == 0
	st.qmu.Unlock()
	if !idle {
		t.Error("a batch still leads, or writes are queued, after every write was answered")
	}
}

// TestInstallWakesBatch: a write installed in another write's batch is
// answered once its batch is done, and does not wait for the batch after
// it: here a write queued during the first batch (d.txt) stays blocked in
// its own batch until the three writes of the first are answered.
func TestInstallWakesBatch(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.space(t, "s", 0)
	st, err := f.tree.open("s")
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	later := make(chan error, 1)
	queueNext := func(*store.Tx, Node, bool) error {
		// Inside the first batch: queue d.txt, whose own install blocks
		// until the test is done.
		go func() {
			_, _, err := f.tree.Put(ctx, "s", "d.txt", strings.NewReader("d"), PutOptions{ExpectedSize: -1,
				Record: func(*store.Tx, Node, bool) error { <-release; return nil }})
			later <- err
		}()
		for queued(st) < 1 {
			time.Sleep(time.Millisecond)
		}
		return nil
	}
	names := []string{"a.txt", "b.txt", "c.txt"}
	done := make(chan error, len(names))
	st.mu.Lock()
	for i, name := range names {
		o := PutOptions{ExpectedSize: -1}
		if i == len(names)-1 {
			o.Record = queueNext
		}
		go func() {
			_, _, err := f.tree.Put(ctx, "s", name, strings.NewReader(name), o)
			done <- err
		}()
		for queued(st) < i+1 {
			time.Sleep(time.Millisecond)
		}
	}
	st.mu.Unlock()
	timeout := time.After(30 * time.Second)
	for range names {
		select {
		case err := <-done:
			if err != nil {
				t.Error(err)
			}
		case <-timeout:
			close(release)
			t.Fatal("a write of a finished batch waits for the next batch")
		}
	}
	close(release)
	if err := <-later; err != nil {
		t.Error(err)
	}
	problems, err := f.tree.Verify(ctx, "s", true)
	if err != nil || len(problems) > 0 {
		t.Errorf("Verify: %v %+v", err, problems)
	}
}
