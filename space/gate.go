package space

import (
	"context"
	"errors"
	"strings"

	"github.com/wharfhq/wharf/store"
)

// Gate decides whether files may land in a space other than by an upload:
// the space's policy on names, types and sizes, which uploads meet in
// processing (postproc.PolicyGate). Move and Copy ask it, inside their
// transaction, for every file that gets a new name or a new space: a
// rename, a move to another space, every copy. A directory renamed within
// its space changes no file's name, and asks nothing.
type Gate interface {
	// Admit returns nil if files may land in space spaceID, else an error
	// wrapping ErrPolicy that says why (a *PolicyError). It is safe for
	// concurrent use.
	Admit(ctx context.Context, spaceID string, files []Landing) error
}

// Landing is a file about to appear in a space by a move or copy: its new
// path, its media type and its size. The type is the one the index holds,
// sniffed from the content when the file was uploaded: a new name does not
// change what the file is (notes.txt renamed notes.png is no picture).
type Landing struct {
	Path string
	MIME string
	Size int64
}

// ErrPolicy: the space's policy does not accept the file (403).
var ErrPolicy = errors.New("refused by the space's policy")

// PolicyError is a Gate's refusal: Reason says what the policy refused.
type PolicyError struct{ Reason string }

func (e *PolicyError) Error() string { return e.Reason }
func (e *PolicyError) Is(target error) bool {
	return target == ErrPolicy
}

// admit asks the gate about the files of n (a file, or a directory and
// desc, its descendants, which are under src) landing at dst in space
// spaceID.
func (t *Tree) admit(ctx context.Context, spaceID string, n Node, desc []store.Node, src, dst string) error {
	if t.gate == nil {
		return nil
	}
	var files []Landing
	add := func(m Node, p string) {
		if !m.IsDir {
			files = append(files, Landing{Path: p, MIME: m.MIME, Size: m.Size})
		}
	}
	add(n, dst)
	for _, d := range desc {
		add(d, dst+strings.TrimPrefix(d.Path, src))
	}
	if len(files) == 0 {
		return nil
	}
	return t.gate.Admit(ctx, spaceID, files)
}
