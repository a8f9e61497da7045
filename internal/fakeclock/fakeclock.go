// Package fakeclock is a clock for tests: it tells the time it is set to
// and moves only when told. It is safe for concurrent use and imports
// nothing of Wharf.
package fakeclock

import (
	"sync"
	"time"
)

// Clock is a settable time; pass its Now where a Config takes one.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// New returns a Clock at t.
func New(t time.Time) *Clock { return &Clock{now: t} }

// Now tells the Clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the Clock by d (back, if d is negative).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Set puts the Clock at t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}
