package tus

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/tus/tusd/v2/pkg/handler"
	"github.com/tus/tusd/v2/pkg/memorylocker"

	"github.com/wharfhq/wharf/store"
)

// The lease of an upload's lock in object-store mode: taken for leaseTTL,
// renewed every leaseTTL/3 while the request runs. A replica killed while
// it holds one lets go when the lease ends, leaseTTL at most after its
// last renewal.
const leaseTTL = 6 * time.Second

// leaseLocker is tusd's locker in object-store mode, where replicas share
// the database and the object store but no directory. Inside one process
// it is tusd's memorylocker, as fileLocker's is; across processes it adds
// a named lease in the database ("tus:<id>", store.TakeLease) with a short
// lifetime, renewed while the request runs. A request that finds the lease
// held by another process is answered 423 (tusd's ErrFileLocked) after a
// short wait, as with fileLocker, and the client retries; a holder killed
// without letting go is replaced once its lease has run out.
type leaseLocker struct {
	mem *memorylocker.MemoryLocker
	db  *store.DB
	// wait is how long Lock polls a lease held by another process before
	// it gives up with ErrFileLocked.
	wait time.Duration
	ttl  time.Duration
	now  func() time.Time
	log  func(msg string, args ...any)
}

func newLeaseLocker(db *store.DB, log func(msg string, args ...any)) *leaseLocker {
	return &leaseLocker{mem: memorylocker.New(), db: db, wait: 500 * time.Millisecond, ttl: leaseTTL,
		now: time.Now, log: log}
}

func (l *leaseLocker) UseIn(composer *handler.StoreComposer) { composer.UseLocker(l) }

func (l *leaseLocker) NewLock(id string) (handler.Lock, error) {
	mem, err := l.mem.NewLock(id)
	if err != nil || !validID(id) {
		return mem, err
	}
	return &leaseLock{l: l, mem: mem, name: "tus:" + id}, nil
}

type leaseLock struct {
	l    *leaseLocker
	mem  handler.Lock
	name string

	owner string        // this hold's owner id, fresh for each Lock
	stop  chan struct{} // closed by Unlock: the renewal ends
	done  chan struct{} // closed when the renewal has ended
}

// take takes or renews the lease; ok is false when another holds it.
func (k *leaseLock) take(ctx context.Context) (bool, error) {
	var ok bool
	now := k.l.now()
	err := k.l.db.Update(ctx, func(tx *store.Tx) (err error) {
		ok, err = tx.TakeLease(ctx, k.name, k.owner, now, now.Add(k.l.ttl))
		return err
	})
	return ok, err
}

// Lock takes the in-process lock, then the lease, and keeps renewing the
// lease until Unlock. If a renewal fails past the lease's end (the
// database unreachable), requestRelease is called: the request stops
// reading its body, so that it no longer writes once another may hold the
// lock.
func (k *leaseLock) Lock(ctx context.Context, requestRelease func()) error {
	if err := k.mem.Lock(ctx, requestRelease); err != nil {
		return err
	}
	k.owner = store.NewOwner()
	deadline := time.Now().Add(k.l.wait)
	for {
		ok, err := k.take(ctx)
		if err != nil {
			k.mem.Unlock()
			return fmt.Errorf("tus: take the lock of %s: %w", k.name, err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			k.mem.Unlock()
			return handler.ErrFileLocked
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	k.stop, k.done = make(chan struct{}), make(chan struct{})
	go k.renew(requestRelease)
	return nil
}

func (k *leaseLock) renew(requestRelease func()) {
	defer close(k.done)
	t := time.NewTicker(k.l.ttl / 3)
	defer t.Stop()
	until := time.Now().Add(k.l.ttl)
	var once sync.Once
	for {
		select {
		case <-k.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), k.l.ttl/3)
		ok, err := k.take(ctx)
		cancel()
		switch {
		case ok:
			until = time.Now().Add(k.l.ttl)
		case err == nil || time.Until(until) < k.l.ttl/3:
			// Taken by another (this process was too slow), or not
			// renewed and ending before the next try: stop writing.
			once.Do(func() {
				k.l.log("upload lock lost; the request stops", "lock", k.name, "err", err)
				requestRelease()
			})
		}
	}
}

// Unlock stops the renewal, drops the lease, then the in-process lock.
func (k *leaseLock) Unlock() error {
	var err error
	if k.stop != nil {
		close(k.stop)
		<-k.done
		k.stop = nil
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = k.l.db.Update(ctx, func(tx *store.Tx) error { return tx.DropLease(ctx, k.name, k.owner) })
		cancel()
	}
	if merr := k.mem.Unlock(); merr != nil && err == nil {
		err = merr
	}
	return err
}
