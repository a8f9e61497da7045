package postproc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/wharfhq/wharf/events"
	"github.com/wharfhq/wharf/space"
)

// ScannerConfig configures a Scanner.
type ScannerConfig struct {
	// Clamd is the clamd socket, as Config.Clamd. Required.
	Clamd string
	// Reject and QuarantineDir are as in Config: what happens to the
	// bytes of a file found infected.
	Reject        string
	QuarantineDir string
	// Bus receives node.deleted for a file taken out of its space by the
	// scan. Nil: no events.
	Bus *events.Bus
}

// Scanner is the virus scan of files already in a space (space.Scanner):
// the same clamd, verdicts and quarantine as the pipeline's scan step, for
// the files the space tree finds unscanned on their first exposure. It is
// safe for concurrent use.
type Scanner struct {
	step       scanStep
	delete     bool
	quarantine string
	bus        *events.Bus
}

var _ space.Scanner = (*Scanner)(nil)

// NewScanner checks cfg and returns a Scanner.
func NewScanner(cfg ScannerConfig) (*Scanner, error) {
	network, addr, ok := strings.Cut(cfg.Clamd, ":")
	if !ok || addr == "" || (network != "unix" && network != "tcp") {
		return nil, fmt.Errorf("postproc: scanner: clamd is %q, want unix:/path or tcp:host:port", cfg.Clamd)
	}
	s := &Scanner{step: scanStep{network: network, addr: addr}, quarantine: cfg.QuarantineDir, bus: cfg.Bus}
	switch cfg.Reject {
	case "", "quarantine":
	case "delete":
		s.delete = true
	default:
		return nil, fmt.Errorf("postproc: scanner: reject is %q, want quarantine or delete", cfg.Reject)
	}
	if !s.delete && (s.quarantine == "" || !filepath.IsAbs(s.quarantine)) {
		return nil, fmt.Errorf("postproc: scanner: the quarantine must be an absolute directory, not %q", s.quarantine)
	}
	return s, nil
}

// Scan implements space.Scanner: a *space.ScanError for a virus found.
func (s *Scanner) Scan(ctx context.Context, r io.Reader, size int64) error {
	found, err := s.step.scan(ctx, r, size, func(int, string) {})
	if err != nil {
		return err
	}
	if found != "" {
		return &space.ScanError{Reason: "virus found: " + found}
	}
	return nil
}

// Quarantine implements space.Scanner: the bytes go to the quarantine
// directory as <id>, or are removed with Reject "delete"; node.deleted is
// published with the reason, as for a deletion.
func (s *Scanner) Quarantine(n space.Node, name, id, reason string) error {
	var err error
	if s.delete {
		err = os.RemoveAll(name)
	} else {
		if err = os.MkdirAll(s.quarantine, 0o700); err == nil {
			err = os.Rename(name, filepath.Join(s.quarantine, id))
		}
	}
	if s.bus != nil {
		s.bus.Publish(space.NodeEvent(events.NodeDeleted, n.SpaceID, n.Path, "", nil,
			map[string]any{"id": n.ID, "dir": false, "reason": reason, "quarantined": !s.delete}))
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
