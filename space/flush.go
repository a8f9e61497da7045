package space

import (
	"errors"
	"fmt"
	"os"
	"sync"
)

// A Flush is the fsync of a staged file running in the background. Stage
// starts it as soon as the body is written (PutOptions.SyncLater) and the
// install waits for it just before the rename that gives the file its
// name: the disk's flush runs while the upload is processed and its index
// rows are written, instead of before them. Concurrent writes' flushes run
// side by side, whatever batch they are installed in.
type Flush struct {
	done chan struct{}
	err  error
}

// startFlush fsyncs f, then closes it, in a goroutine of its own.
func startFlush(f *os.File) *Flush {
	fl := &Flush{done: make(chan struct{})}
	go func() {
		err := f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			fl.err = fmt.Errorf("space: sync staged file: %w", err)
		}
		close(fl.done)
	}()
	return fl
}

// Wait returns once the fsync is done, with its error. A nil Flush is
// done.
func (fl *Flush) Wait() error {
	if fl == nil {
		return nil
	}
	<-fl.done
	return fl.err
}

// flushes are fsyncs running side by side, each in a goroutine.
type flushes struct {
	wg   sync.WaitGroup
	mu   sync.Mutex
	errs []error
}

func (fs *flushes) start(fn func() error) {
	fs.wg.Go(func() {
		if err := fn(); err != nil {
			fs.mu.Lock()
			fs.errs = append(fs.errs, err)
			fs.mu.Unlock()
		}
	})
}

// wait returns once every fsync started is done, with their errors.
func (fs *flushes) wait() error {
	fs.wg.Wait()
	return errors.Join(fs.errs...)
}
