package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"sync"
	"time"
)

const (
	verifiedTTL = 5 * time.Minute
	verifiedMax = 4096
)

// verifiedCache remembers recent successful account-password verifications.
// WebDAV clients send Basic credentials with every request and argon2id
// costs about 40 ms and 19 MiB, so without it a folder listing would spend
// seconds hashing.
//
// An entry's key is a keyed SHA-256 (HMAC, with a random per-process key so
// the cache is no offline guessing oracle) of the user id, the user's stored
// password hash and the password. The stored hash is read from the database
// on every request, so a password changed anywhere, even by another process,
// can no longer match an old entry, and a removed user is not found before
// the cache is consulted; evictUser only frees memory early. Entries live
// verifiedTTL; at most verifiedMax are kept.
type verifiedCache struct {
	key []byte
	mu  sync.Mutex
	m   map[[sha256.Size]byte]verifiedEntry
}

type verifiedEntry struct {
	userID  int64
	expires time.Time
}

func newVerifiedCache() *verifiedCache {
	return &verifiedCache{key: randomBytes(32), m: make(map[[sha256.Size]byte]verifiedEntry)}
}

func (c *verifiedCache) sum(userID int64, hash, password string) [sha256.Size]byte {
	h := hmac.New(sha256.New, c.key)
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(userID))
	binary.BigEndian.PutUint64(b[8:], uint64(len(hash)))
	h.Write(b[:])
	h.Write([]byte(hash))
	h.Write([]byte(password))
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

func (c *verifiedCache) has(userID int64, hash, password string, now time.Time) bool {
	k := c.sum(userID, hash, password)
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if ok && !now.Before(e.expires) {
		delete(c.m, k)
		return false
	}
	return ok
}

func (c *verifiedCache) put(userID int64, hash, password string, now time.Time) {
	k := c.sum(userID, hash, password)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= verifiedMax {
		for k, e := range c.m {
			if !now.Before(e.expires) {
				delete(c.m, k)
			}
		}
		// Still full: drop arbitrary entries; they only cost a rehash.
		for k := range c.m {
			if len(c.m) < verifiedMax {
				break
			}
			delete(c.m, k)
		}
	}
	c.m[k] = verifiedEntry{userID: userID, expires: now.Add(verifiedTTL)}
}

func (c *verifiedCache) evictUser(userID int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.m {
		if e.userID == userID {
			delete(c.m, k)
		}
	}
}
