package cmd

import (
	"io"
	"runtime"
	"sync"
)

// logSink is the server's log output: lines are handed to a goroutine of
// its own, which writes all those that arrived while its previous write
// ran in one write. Under load a request's access-log line then costs an
// append instead of a system call of its own (one of the eight of a small
// GET); when the server is idle each line goes out at once, as before.
// Lines keep their order and stay whole (slog writes a record in one
// Write). Close writes what is left.
type logSink struct {
	w    io.Writer
	mu   sync.Mutex
	room *sync.Cond // signalled when the writer took the pending lines
	buf  []byte     // lines not handed to w yet
	more chan struct{}
	done chan struct{}
	shut bool
}

// logSinkMax bounds the lines waiting: a Write past it waits for the
// writer, as a write to a slow terminal or pipe would.
const logSinkMax = 1 << 20

func newLogSink(w io.Writer) *logSink {
	s := &logSink{w: w, more: make(chan struct{}, 1), done: make(chan struct{})}
	s.room = sync.NewCond(&s.mu)
	go s.run()
	return s
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shut {
		return s.w.Write(p)
	}
	for len(s.buf) >= logSinkMax && !s.shut {
		s.room.Wait()
	}
	if s.shut {
		return s.w.Write(p)
	}
	s.buf = append(s.buf, p...)
	select {
	case s.more <- struct{}{}:
	default: // the writer is told already
	}
	return len(p), nil
}

func (s *logSink) run() {
	defer close(s.done)
	var out []byte
	for range s.more {
		// Let the goroutines ready to run go first: under load they are
		// requests about to log, and their lines join this write; when
		// the server is idle there are none, and the line goes at once.
		runtime.Gosched()
		s.mu.Lock()
		out, s.buf = s.buf, out[:0]
		s.room.Broadcast()
		s.mu.Unlock()
		if len(out) > 0 {
			s.w.Write(out) // a log with nowhere to go has no one to tell
		}
	}
}

// Close writes the lines still waiting; later Writes go straight to w.
func (s *logSink) Close() error {
	s.mu.Lock()
	if s.shut {
		s.mu.Unlock()
		return nil
	}
	s.shut = true
	close(s.more)
	s.room.Broadcast()
	s.mu.Unlock()
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.buf) > 0 {
		_, err := s.w.Write(s.buf)
		s.buf = nil
		return err
	}
	return nil
}
