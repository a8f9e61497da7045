//go:build windows

package cmd

import (
	"context"
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/windows/svc"
)

// TestServiceHandlerStops: a Stop request cancels the server's context, and
// Execute returns once the server has finished, with its error.
func TestServiceHandlerStops(t *testing.T) {
	for _, cmd := range []svc.Cmd{svc.Stop, svc.Shutdown} {
		stopped := errors.New("stopped")
		h := &serviceHandler{ctx: context.Background(), wait: time.Second, run: func(ctx context.Context) error {
			<-ctx.Done()
			return stopped
		}}
		requests := make(chan svc.ChangeRequest, 1)
		status := make(chan svc.Status, 10)
		done := make(chan uint32, 1)
		go func() {
			_, code := h.Execute(nil, requests, status)
			done <- code
		}()
		for s := range status {
			if s.State == svc.Running {
				if s.Accepts&svc.AcceptStop == 0 || s.Accepts&svc.AcceptShutdown == 0 {
					t.Errorf("Running accepts %v, want Stop and Shutdown", s.Accepts)
				}
				break
			}
		}
		requests <- svc.ChangeRequest{Cmd: cmd}
		select {
		case code := <-done:
			if code != 1 || h.err != stopped {
				t.Errorf("cmd %v: exit code %d, err %v", cmd, code, h.err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("cmd %v: Execute did not return", cmd)
		}
	}
}
