package cmd

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// slowWriter records what it is given, one write at a time, slowly.
type slowWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
	delay  time.Duration
}

func (w *slowWriter) Write(p []byte) (int, error) {
	time.Sleep(w.delay)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes++
	return w.buf.Write(p)
}

// TestLogSink: every line written by concurrent writers comes out whole,
// each writer's in its order, many lines per write under load, and
// nothing is lost at Close.
func TestLogSink(t *testing.T) {
	out := &slowWriter{delay: 200 * time.Microsecond}
	s := newLogSink(out)
	const writers, lines = 8, 500
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range lines {
				fmt.Fprintf(s, "w=%d i=%d %s\n", w, i, strings.Repeat("x", i%50))
			}
		})
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(out.buf.String(), "\n"), "\n")
	if len(got) != writers*lines {
		t.Fatalf("%d lines out, want %d", len(got), writers*lines)
	}
	next := make([]int, writers)
	for _, l := range got {
		var w, i int
		var pad string
		if _, err := fmt.Sscanf(l, "w=%d i=%d %s", &w, &i, &pad); err != nil && i%50 != 0 {
			t.Fatalf("line %q is not whole: %v", l, err)
		}
		if i != next[w] || len(pad) != i%50 {
			t.Fatalf("line %q out of order or cut (want i=%d of writer %d)", l, next[w], w)
		}
		next[w]++
	}
	if out.writes >= writers*lines/2 {
		t.Errorf("%d writes for %d lines: they were not gathered", out.writes, writers*lines)
	}
	// After Close, lines go straight through.
	fmt.Fprintf(s, "after\n")
	if !strings.HasSuffix(out.buf.String(), "after\n") {
		t.Error("a line written after Close was not written")
	}
}

// TestLogSinkIdle: a line written while nothing else is going on reaches
// the output at once, not at the next line or at Close.
func TestLogSinkIdle(t *testing.T) {
	out := &slowWriter{}
	s := newLogSink(out)
	defer s.Close()
	fmt.Fprintf(s, "one\n")
	deadline := time.Now().Add(5 * time.Second)
	for {
		out.mu.Lock()
		got := out.buf.String()
		out.mu.Unlock()
		if got == "one\n" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("output %q, want the line", got)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestLogSinkBounded: with the output stuck, writers wait once the
// pending lines reach the bound instead of growing without end.
func TestLogSinkBounded(t *testing.T) {
	out := &slowWriter{delay: 50 * time.Millisecond}
	s := newLogSink(out)
	line := []byte(strings.Repeat("y", 1023) + "\n")
	done := make(chan struct{})
	go func() {
		for range 4 * logSinkMax / len(line) {
			s.Write(line)
		}
		close(done)
	}()
	time.Sleep(20 * time.Millisecond)
	s.mu.Lock()
	pending := len(s.buf)
	s.mu.Unlock()
	if pending > logSinkMax+len(line) {
		t.Errorf("%d bytes pending, bound %d", pending, logSinkMax)
	}
	<-done
	s.Close()
	if n := out.buf.Len(); n != 4*logSinkMax/len(line)*len(line) {
		t.Errorf("%d bytes out, want %d", n, 4*logSinkMax/len(line)*len(line))
	}
}
