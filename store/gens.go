package store

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Rows that change rarely but are read on almost every request (a space's
// quota and upload policy, whether a space has WebDAV locks, the account
// an account password names, what a credential or a membership allows)
// are kept in memory labelled with a generation: a counter in the
// generations table that triggers move with every committed change of
// that kind of row, whoever makes it (migrations 0021, 0022). The Epoch
// alone cannot keep them: every write moves it, so under a stream of
// uploads an Epoch-labelled entry would never be read twice. The
// generations are read with the Epoch, by the same query (versionQuery);
// a value is read after the generations and labelled with them, so it is
// at least as new as its label, and it is served while the label is still
// current.

// gens are the generations, as read with one Epoch.
type gens struct {
	spaces, locks, users int64
}

// generations returns the current generations; ok is false when they
// cannot be read (the caller then reads the rows themselves).
func (db *DB) generations(ctx context.Context) (g gens, ok bool) {
	_, g, err := db.epochGens(ctx)
	if err != nil || g.spaces == 0 || g.locks == 0 || g.users == 0 {
		return gens{}, false
	}
	return g, true
}

// genMap holds values of one kind labelled with the generation read
// before them. The zero value is empty and ready.
type genMap[K comparable, V any] struct {
	mu  sync.Mutex
	gen int64
	m   map[K]V
}

// genMapMax bounds a genMap; past it, it starts over empty.
const genMapMax = 4096

func (c *genMap[K, V]) get(k K, gen int64) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	if !ok || c.gen != gen {
		var zero V
		return zero, false
	}
	return v, true
}

// put records v, read after generation gen; entries of an older
// generation are dropped, and a value of an older one than the entries'
// is not kept.
func (c *genMap[K, V]) put(k K, gen int64, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen < c.gen {
		return
	}
	if gen > c.gen || c.m == nil || len(c.m) >= genMapMax {
		c.gen, c.m = gen, make(map[K]V)
	}
	c.m[k] = v
}

// fromGen returns the value of k in m if it was read at the current
// generation of its kind (gen picks that kind's counter), else reads it
// (read) and keeps it, labelled with the counter read before it. When the
// generations cannot be read, it reads the value and keeps nothing.
func fromGen[K comparable, V any](ctx context.Context, db *DB, m *genMap[K, V], gen func(gens) int64, k K, read func() (V, error)) (V, error) {
	g, ok := db.generations(ctx)
	if ok {
		if v, hit := m.get(k, gen(g)); hit {
			return v, nil
		}
	}
	v, err := read()
	if err == nil && ok {
		m.put(k, gen(g), v)
	}
	return v, err
}

func spacesGen(g gens) int64 { return g.spaces }
func locksGen(g gens) int64  { return g.locks }
func usersGen(g gens) int64  { return g.users }

// spaceSettings are the columns of a space that only its manager changes.
type spaceSettings struct {
	quota  int64
	policy string
}

func (db *DB) spaceSettings(ctx context.Context, id string) (spaceSettings, error) {
	return fromGen(ctx, db, &db.spaceSet, spacesGen, id, func() (spaceSettings, error) {
		var s spaceSettings
		err := db.Reader.q.QueryRowContext(ctx, "SELECT quota_bytes, policy FROM spaces WHERE id = ?", id).Scan(&s.quota, &s.policy)
		if err != nil {
			return spaceSettings{}, fmt.Errorf("store: get space %q: %w", id, describe(err))
		}
		return s, nil
	})
}

// SpacePolicy returns a space's upload policy (JSON, "" for none), or an
// error wrapping ErrNotFound; from memory while no space's settings
// changed (see generations). Inside a transaction, Tx.SpacePolicy reads
// the row.
func (db *DB) SpacePolicy(ctx context.Context, id string) (string, error) {
	s, err := db.spaceSettings(ctx, id)
	return s.policy, err
}

// SpaceQuota returns a space's quota in bytes (0: none), or an error
// wrapping ErrNotFound; from memory as SpacePolicy.
func (db *DB) SpaceQuota(ctx context.Context, id string) (int64, error) {
	s, err := db.spaceSettings(ctx, id)
	return s.quota, err
}

// PathLocks is Reader.PathLocks, answered without a query for a space
// known to have no lock at all (expired or not) since the locks last
// changed: the case of nearly every request.
func (db *DB) PathLocks(ctx context.Context, spaceID, p string, below bool, now time.Time) ([]Lock, error) {
	has, err := fromGen(ctx, db, &db.lockSpaces, locksGen, spaceID, func() (bool, error) {
		var has bool
		err := db.Reader.q.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM locks WHERE space_id = ?)", spaceID).Scan(&has)
		if err != nil {
			return false, fmt.Errorf("store: any lock in %s: %w", spaceID, describe(err))
		}
		return has, nil
	})
	if err != nil || !has {
		return nil, err
	}
	return db.Reader.PathLocks(ctx, spaceID, p, below, now)
}

// AccessEpoch returns a label of the rows that decide who may do what:
// the accounts, their app passwords and tokens, the space memberships (the
// users generation, migrations 0021 and 0022). It is an Epoch that moves
// only when one of them changes, whoever changes it; the caches of
// credentials and roles (auth) are labelled with it, so that the writes of
// files, which move the Epoch at every upload, do not drop them. It is the
// zero Epoch, which no cache entry matches, when it cannot be read. Only
// values labelled with AccessEpoch may be compared with it.
func (db *DB) AccessEpoch(ctx context.Context) Epoch {
	g, ok := db.generations(ctx)
	if !ok {
		return Epoch{}
	}
	return Epoch{data: uint64(g.users), own: accessLabel}
}

// accessLabel is the own field of every AccessEpoch: a count of commits
// never reaches it, so no Epoch of DB.Epoch equals an AccessEpoch.
const accessLabel = 1 << 63

// UserByName is Reader.UserByName, from memory while no account changed
// (see generations): every request with an account password reads it.
// Inside a transaction, Tx.UserByName reads the row.
func (db *DB) UserByName(ctx context.Context, name string) (User, error) {
	return fromGen(ctx, db, &db.userSet, usersGen, name, func() (User, error) {
		return db.Reader.UserByName(ctx, name)
	})
}
