package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"hash"
	"io"
	"sync"
	"time"

	"github.com/wharfhq/wharf/store"
)

// The fresh caches spare a request the database lookups of its credential
// and of its role, which every WebDAV request repeats. An entry is served
// only while no account, app password, token or membership has changed
// since it was read (store.DB.AccessEpoch: any such commit, by this process
// or another one such as the command line, drops every entry; the writes
// of files do not) and for at most freshMaxAge. So a revoked app password
// or token, a removed user or a lowered role is refused on the first
// request that begins after the change committed, as without the caches. docs/reliability.md ("What the server keeps in memory between requests")
// gives the reasoning.
const (
	freshMaxAge = 30 * time.Second
	freshMax    = 4096
)

// credKey is a keyed SHA-256 (HMAC with a random per-process key) of a
// credential: the cache holds no secret and cannot be used to test guesses
// offline.
type credKey [sha256.Size]byte

type roleKey struct {
	space string
	user  int64
}

// roleEntry is a cached membership: ok false when there is none.
type roleEntry struct {
	role Role
	ok   bool
}

type freshCaches struct {
	key   []byte
	macs  sync.Pool // HMAC-SHA256 keyed with key (credKey)
	creds *store.EpochCache[credKey, Principal]
	roles *store.EpochCache[roleKey, roleEntry]
}

func newFreshCaches() *freshCaches {
	return &freshCaches{
		key:   randomBytes(32),
		creds: store.NewEpochCache[credKey, Principal](freshMax, freshMaxAge),
		roles: store.NewEpochCache[roleKey, roleEntry](freshMax, freshMaxAge),
	}
}

// credKey keys credential secret of kind (an app password of user name, a
// token).
func (c *freshCaches) credKey(kind, name, secret string) credKey {
	// The keyed HMACs are reused (Reset brings one back to its keyed
	// start): one made per request cost more than the hashing.
	h, _ := c.macs.Get().(hash.Hash)
	if h == nil {
		h = hmac.New(sha256.New, c.key)
	}
	h.Reset()
	io.WriteString(h, kind)
	h.Write([]byte{0})
	io.WriteString(h, name)
	h.Write([]byte{0})
	io.WriteString(h, secret)
	var k credKey
	h.Sum(k[:0])
	c.macs.Put(h)
	return k
}

// version returns the label of the credentials and memberships
// (store.DB.AccessEpoch), or the zero Epoch (which no cache entry
// matches) if it cannot be read: then the lookups run as without the
// caches.
func (s *Service) version(ctx context.Context) store.Epoch {
	return s.db.AccessEpoch(ctx)
}

// cachedPrincipal returns a copy of the Principal cached under k at v, if
// its credential is not due for a last-use update or expired.
func (s *Service) cachedPrincipal(k credKey, v store.Epoch, now time.Time) *Principal {
	p, ok := s.fresh.creds.Get(k, v, now)
	if !ok {
		return nil
	}
	switch {
	case p.AppPassword != nil:
		if now.Sub(p.AppPassword.LastUsedAt) >= touchEvery {
			return nil
		}
		a := *p.AppPassword
		p.AppPassword = &a
	case p.Token != nil:
		if p.Token.Expired(now) || now.Sub(p.Token.LastUsedAt) >= touchEvery {
			return nil
		}
		t := *p.Token
		p.Token = &t
	default:
		return nil
	}
	return &p
}

// cachePrincipal remembers p, read at v, under k.
func (s *Service) cachePrincipal(k credKey, v store.Epoch, now time.Time, p *Principal) {
	c := *p
	switch {
	case p.AppPassword != nil:
		a := *p.AppPassword
		c.AppPassword = &a
	case p.Token != nil:
		t := *p.Token
		c.Token = &t
	default:
		return
	}
	s.fresh.creds.Put(k, v, now, c)
}
