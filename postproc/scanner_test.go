package postproc

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wharfhq/wharf/events"
	"github.com/wharfhq/wharf/space"
)

// TestScanner: the scan of files already in a space gives the scan step's
// verdicts as space wants them (a *space.ScanError for a virus, an error
// when clamd cannot tell), and its Quarantine keeps the bytes and
// announces the file's removal with the reason.
func TestScanner(t *testing.T) {
	ctx := context.Background()
	sock := filepath.Join(shortTempDir(t), "clamd.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	fakeClamd(t, ln, 0, scanAnswer)
	bus := events.New()
	qdir := filepath.Join(t.TempDir(), "quarantine")
	s, err := NewScanner(ScannerConfig{Clamd: "unix:" + sock, QuarantineDir: qdir, Bus: bus})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Scan(ctx, bytes.NewReader([]byte("clean")), 5); err != nil {
		t.Errorf("clean: %v", err)
	}
	err = s.Scan(ctx, bytes.NewReader(eicar), int64(len(eicar)))
	var se *space.ScanError
	if !errors.As(err, &se) || !errors.Is(err, space.ErrInfected) || se.Reason != "virus found: Eicar-Test-Signature" {
		t.Errorf("EICAR: %v, want a ScanError naming the signature", err)
	}
	down, _ := NewScanner(ScannerConfig{Clamd: "unix:" + sock + ".none", QuarantineDir: qdir})
	if err := down.Scan(ctx, bytes.NewReader(eicar), int64(len(eicar))); err == nil || errors.Is(err, space.ErrInfected) {
		t.Errorf("clamd unreachable: %v, want an error that is no verdict", err)
	}

	sub := bus.Subscribe(nil, 4)
	defer sub.Close()
	trash := filepath.Join(t.TempDir(), "trash")
	if err := os.WriteFile(trash, eicar, 0o600); err != nil {
		t.Fatal(err)
	}
	n := space.Node{ID: 7, SpaceID: "s", Path: "a/bad.com", Name: "bad.com", Size: int64(len(eicar))}
	if err := s.Quarantine(n, trash, "found-1", "virus found: X"); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(qdir, "found-1")); err != nil || !bytes.Equal(b, eicar) {
		t.Errorf("quarantined bytes: %v", err)
	}
	select {
	case e := <-sub.C():
		if e.Type != events.NodeDeleted || e.Space != "s" || e.Path != "a/bad.com" || e.Data["reason"] != "virus found: X" || e.Data["quarantined"] != true {
			t.Errorf("event %+v", e)
		}
	case <-time.After(5 * time.Second):
		t.Error("no node.deleted for the quarantined file")
	}
	for _, bad := range []ScannerConfig{{Clamd: "clamd"}, {Clamd: "unix:/x", Reject: "keep", QuarantineDir: qdir}, {Clamd: "unix:/x"}} {
		if _, err := NewScanner(bad); err == nil {
			t.Errorf("NewScanner(%+v) accepted", bad)
		}
	}
}
