package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"sync"
	"time"
)

// attempts coalesces identical account-password attempts in flight (same
// user name, password and address): a WebDAV client opening sixteen
// connections at once, or a burst of requests after a restart, sends the
// same credentials on each. Only the first takes a slot in the throttle and
// is verified; the others wait for its outcome. Without this, the slots
// the identical attempts reserve before verification would fill the
// window and refuse the right password with 429. Keys are keyed hashes, so
// the map holds no password; entries live while their attempt runs.
type attempts struct {
	key []byte
	mu  sync.Mutex
	m   map[[sha256.Size]byte]*attempt
}

// The outcome of an attempt.
const (
	attemptFailed    = iota // not known: a database error, a cancelled request
	attemptOK               // the password was right
	attemptWrong            // the password was wrong
	attemptThrottled        // refused by the throttle; wait says for how long
)

type attempt struct {
	done    chan struct{}
	outcome int
	wait    time.Duration
}

func newAttempts() *attempts {
	return &attempts{key: randomBytes(32), m: make(map[[sha256.Size]byte]*attempt)}
}

// join returns the attempt in flight with these credentials, or registers
// a new one of which the caller is the leader: it must call finish.
func (a *attempts) join(name, addr, password string) (k [sha256.Size]byte, at *attempt, leader bool) {
	h := hmac.New(sha256.New, a.key)
	for _, s := range []string{name, addr, password} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	h.Sum(k[:0])
	a.mu.Lock()
	defer a.mu.Unlock()
	if at := a.m[k]; at != nil {
		return k, at, false
	}
	at = &attempt{done: make(chan struct{})}
	a.m[k] = at
	return k, at, true
}

// finish records the leader's outcome and wakes the attempts waiting on it.
func (a *attempts) finish(k [sha256.Size]byte, at *attempt, outcome int, wait time.Duration) {
	a.mu.Lock()
	delete(a.m, k)
	a.mu.Unlock()
	at.outcome, at.wait = outcome, wait
	close(at.done)
}
