package store

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// epochMemo holds the Epoch a request read first, so the several
// lookups of one request ask the database once.
type epochMemo struct {
	v atomic.Pointer[memoized]
}

type memoized struct {
	v  Epoch
	g  gens
	at time.Time
}

// memoMaxAge bounds how long a request reuses its first Epoch: the
// lookups of an ordinary request happen within a millisecond or two, and
// a long-lived one (an event socket, a long upload) that checks a role or
// a credential again later must see changes made meanwhile by another
// process too.
const memoMaxAge = 20 * time.Millisecond

type versionMemoKey struct{}

// NewEpochContext returns a copy of ctx in which DB.Epoch answers
// every call after the first with the first call's Epoch, as long as
// this process has committed nothing in between (any commit of this DB,
// by this request or another, makes the next call read again) and for at
// most memoMaxAge. The server
// gives each request such a context: all of a request's reads then see
// the database as it was at one moment after the request arrived, and a
// change committed before the request arrived, by any process, is seen.
func NewEpochContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, versionMemoKey{}, &epochMemo{})
}

func memoFrom(ctx context.Context) *epochMemo {
	m, _ := ctx.Value(versionMemoKey{}).(*epochMemo)
	return m
}

// EpochCache keeps values read from the database, each labelled with
// the Epoch read before it was read, and gives one back only while the
// database is still at that Epoch and the value is younger than MaxAge:
// whoever changes the database, whatever they change, every entry read
// before is dropped. It is meant for rows read on every request (a
// credential's principal, a role, a file's index row). Safe for concurrent
// use.
type EpochCache[K comparable, V any] struct {
	max    int
	maxAge time.Duration

	mu  sync.Mutex
	ver Epoch // the Epoch of every entry in m
	m   map[K]versionEntry[V]
}

type versionEntry[V any] struct {
	v       V
	expires time.Time
}

// NewEpochCache returns a cache of at most max entries (past which it
// starts over empty), each served for at most maxAge.
func NewEpochCache[K comparable, V any](max int, maxAge time.Duration) *EpochCache[K, V] {
	return &EpochCache[K, V]{max: max, maxAge: maxAge, m: make(map[K]versionEntry[V])}
}

// Get returns the value of k if it was put at Epoch ver less than MaxAge
// before now.
func (c *EpochCache[K, V]) Get(k K, ver Epoch, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var zero V
	if c.ver != ver || ver == (Epoch{}) {
		return zero, false
	}
	e, ok := c.m[k]
	if !ok || !now.Before(e.expires) {
		return zero, false
	}
	return e.v, true
}

// Put records v, read from the database after Epoch ver was read.
// Entries of an older Epoch are dropped; a Put of an older Epoch than
// the entries' is ignored.
func (c *EpochCache[K, V]) Put(k K, ver Epoch, now time.Time, v V) {
	if ver == (Epoch{}) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ver != ver {
		if ver.older(c.ver) {
			return
		}
		clear(c.m)
		c.ver = ver
	}
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[k] = versionEntry[V]{v: v, expires: now.Add(c.maxAge)}
}

// older reports whether v was certainly read before o. Both counters only
// grow, within one process; data_version is per connection and this
// process reads it on one connection only.
func (v Epoch) older(o Epoch) bool {
	return v.data < o.data || v.own < o.own
}
