package client

import (
	"context"
	"sync"
	"time"
)

// limiter paces all transfers of a run to a rate (bytes per second; 0: none).
type limiter struct {
	rate int64
	mu   sync.Mutex
	next time.Time
}

func newLimiter(rate int64) *limiter { return &limiter{rate: rate} }

// wait blocks until n more bytes may be sent.
func (l *limiter) wait(ctx context.Context, n int64) error {
	if l.rate <= 0 {
		return nil
	}
	l.mu.Lock()
	now := time.Now()
	start := now
	if l.next.After(now) {
		start = l.next
	}
	l.next = start.Add(time.Duration(float64(n) / float64(l.rate) * float64(time.Second)))
	l.mu.Unlock()
	if d := time.Until(start); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
