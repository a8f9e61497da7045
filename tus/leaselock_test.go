package tus

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tus/tusd/v2/pkg/handler"

	"github.com/wharfhq/wharf/internal/testenv"
	"github.com/wharfhq/wharf/store"
)

// leaseTestID is an upload id for the lease tests.
const leaseTestID = "0123456789abcdef0123456789abcdef"

// TestLeaseLockAcrossLockers: two lease lockers on one database stand for
// two replicas: while one holds an upload, well past the lease's life (it
// is renewed), the other gets ErrFileLocked (423); once the first lets go
// the other has it at once; other uploads are not affected. A holder whose
// lease is taken from it is asked to stop.
func TestLeaseLockAcrossLockers(t *testing.T) {
	db := testenv.New(t, testenv.Options{}).DB
	quiet := func(string, ...any) {}
	a, b := newLeaseLocker(db, quiet), newLeaseLocker(db, quiet)
	a.ttl, b.ttl = 600*time.Millisecond, 600*time.Millisecond
	la, _ := a.NewLock(leaseTestID)
	if err := la.Lock(t.Context(), func() { t.Error("release requested while the lease is renewed") }); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * a.ttl)
	lb, _ := b.NewLock(leaseTestID)
	start := time.Now()
	if err := lb.Lock(t.Context(), func() {}); !errors.Is(err, handler.ErrFileLocked) {
		t.Fatalf("second replica's Lock after 3 lease lives: %v, want ErrFileLocked", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("refusal took %v", d)
	}
	other, _ := b.NewLock("fedcba9876543210fedcba9876543210")
	if err := other.Lock(t.Context(), func() {}); err != nil {
		t.Fatalf("another upload: %v", err)
	}
	other.Unlock()
	if err := la.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := lb.Lock(t.Context(), func() {}); err != nil {
		t.Fatalf("after the first let go: %v", err)
	}

	// b's lease is taken over (as if b had stalled past its end): b's
	// renewal finds it gone and asks its request to stop.
	var asked atomic.Bool
	lb.Unlock()
	if err := lb.Lock(t.Context(), func() { asked.Store(true) }); err != nil {
		t.Fatal(err)
	}
	err := db.Update(t.Context(), func(tx *store.Tx) error {
		if err := tx.DropLease(t.Context(), "tus:"+leaseTestID, lb.(*leaseLock).owner); err != nil {
			return err
		}
		_, err := tx.TakeLease(t.Context(), "tus:"+leaseTestID, "another", time.Now(), time.Now().Add(time.Minute))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !asked.Load(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the holder of a lost lease was never asked to stop")
		}
	}
	if err := lb.Unlock(); err != nil {
		t.Fatal(err)
	}
	// Its Unlock dropped nothing of the new holder's.
	if err := la.Lock(t.Context(), func() {}); !errors.Is(err, handler.ErrFileLocked) {
		t.Errorf("the new holder's lease: %v, want ErrFileLocked", err)
	}
}
