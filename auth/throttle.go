package auth

import (
	"crypto/sha256"
	"net"
	"sync"
	"time"
)

// throttleMax bounds how many user names (or addresses) are tracked.
const throttleMax = 10000

// throttle counts failures per key in a fixed window that opens at a key's
// first failure. Keys are hashed so that attacker-chosen user names of any
// length cost the same memory.
type throttle struct {
	max    int
	window time.Duration
	mu     sync.Mutex
	m      map[[16]byte]*failures
}

type failures struct {
	start time.Time
	n     int
}

func newThrottle(max int, window time.Duration) *throttle {
	return &throttle{max: max, window: window, m: make(map[[16]byte]*failures)}
}

func throttleKey(s string) [16]byte {
	sum := sha256.Sum256([]byte(s))
	return [16]byte(sum[:16])
}

// retryAfter returns how long until key may try again, or 0 if it may now.
func (t *throttle) retryAfter(key string, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.m[throttleKey(key)]
	if f == nil || f.n < t.max {
		return 0
	}
	d := f.start.Add(t.window).Sub(now)
	if d <= 0 {
		return 0
	}
	return (d + time.Second - 1).Truncate(time.Second)
}

// fail records a failure of key.
func (t *throttle) fail(key string, now time.Time) {
	k := throttleKey(key)
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.m[k]
	if f == nil {
		if len(t.m) >= throttleMax {
			t.prune(now)
		}
		f = &failures{start: now}
		t.m[k] = f
	}
	if !now.Before(f.start.Add(t.window)) {
		*f = failures{start: now}
	}
	f.n++
}

// prune drops the windows that are over and, if that is not enough, the
// oldest one.
func (t *throttle) prune(now time.Time) {
	var oldest [16]byte
	var oldestStart time.Time
	for k, f := range t.m {
		if !now.Before(f.start.Add(t.window)) {
			delete(t.m, k)
		} else if oldestStart.IsZero() || f.start.Before(oldestStart) {
			oldest, oldestStart = k, f.start
		}
	}
	if len(t.m) >= throttleMax {
		delete(t.m, oldest)
	}
}

// reset forgets the failures of key.
func (t *throttle) reset(key string) {
	k := throttleKey(key)
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, k)
}

// addrKey is the throttling key of a remote address (host:port as in
// http.Request.RemoteAddr): the IP, or for IPv6 its /64, since one machine
// commonly has a whole /64.
func addrKey(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return host
	}
	if ip4 := ip.To4(); ip4 != nil {
		return ip4.String()
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}
