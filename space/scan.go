package space

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/wharfhq/wharf/store"
)

// Scanner is the virus scanner as the tree uses it (postproc.Scanner): to
// scan, on its first exposure, a file that is in a space without having
// been found clean — a file installed while no scanner was configured,
// one put in place by a restore or a repair (Reindex), one written without
// the pipeline. Uploads are scanned by the pipeline before they are
// installed, and their content is recorded clean then
// (store.Tx.MarkScanned), so they are never scanned twice.
//
// The exposures are the ones that show a file to someone or something new:
// every read (Open: WebDAV GET, the web API's download, Phraseanet's
// download), every copy, a move to another space or under another name
// (the files the Gate is asked about), and a commit (Vet, called by
// phraseanet). The verdict is kept per content (SHA-256), so a file is
// scanned once whatever happens to it, and again only once its bytes
// change. An empty file holds nothing to scan and is clean.
type Scanner interface {
	// Scan reads the bytes of a file (size bytes) from r and returns nil
	// if they are clean, an error wrapping ErrInfected (a *ScanError) if
	// they are not, or another error if it could not tell. It is safe for
	// concurrent use.
	Scan(ctx context.Context, r io.Reader, size int64) error
	// Quarantine takes the bytes of file n, found infected for reason and
	// already taken out of its space (index and disk) to name (in
	// uploads/): it renames them to the quarantine or removes them, and
	// tells whoever watches the space. id names them uniquely.
	Quarantine(n Node, name, id, reason string) error
}

// ErrInfected: the virus scanner refused the file (422); the file has been
// taken out of its space.
var ErrInfected = errors.New("refused by the virus scan")

// ErrScanFailed: a file must be scanned before it is exposed, and the
// scanner could not tell (503).
var ErrScanFailed = errors.New("the virus scan failed")

// ScanError is the scanner's refusal of a file: Path says which, Reason
// what the scanner found.
type ScanError struct{ Path, Reason string }

func (e *ScanError) Error() string {
	if e.Path == "" {
		return e.Reason
	}
	return e.Path + ": " + e.Reason
}
func (e *ScanError) Is(target error) bool { return target == ErrInfected }

// Vet makes sure that the files among nodes (directories are skipped) are
// clean: those whose content was not found clean yet are scanned now, when
// a scanner is configured, and recorded clean. A file found infected is
// taken out of its space (quarantined by the Scanner, its node removed)
// and Vet returns a *ScanError; if the scanner cannot tell, an error
// wrapping ErrScanFailed. Without a scanner Vet does nothing.
func (t *Tree) Vet(ctx context.Context, nodes ...Node) error {
	if t.scanner == nil {
		return nil
	}
	var shas []string
	for _, n := range nodes {
		if !n.IsDir && n.Size > 0 {
			shas = append(shas, n.SHA256)
		}
	}
	if len(shas) == 0 {
		return nil
	}
	known, err := t.db.Contents(ctx, shas)
	if err != nil {
		return err
	}
	for _, n := range nodes {
		if n.IsDir || n.Size == 0 || known[n.SHA256].Scanned() {
			continue
		}
		sum, err := t.vetOne(ctx, n)
		if err != nil {
			return err
		}
		known[sum] = store.Content{SHA256: sum, ScannedAt: t.clock()}
	}
	return nil
}

// vetOne scans the file of n and returns the SHA-256 of the bytes found
// clean (n's, unless the file was replaced meanwhile).
func (t *Tree) vetOne(ctx context.Context, n Node) (string, error) {
	what := op("scan", n.SpaceID, n.Path)
	st, err := t.open(n.SpaceID)
	if err != nil {
		return "", fail(what, err)
	}
	var f File
	var size int64
	if t.objects() {
		f, err = t.openObject(ctx, n)
		size = n.Size
	} else {
		var of *os.File
		if of, err = st.root.Open(filepath.FromSlash(n.Path)); err == nil {
			f = of
			var fi os.FileInfo
			if fi, err = of.Stat(); err == nil {
				size = fi.Size()
			}
		}
	}
	if err != nil {
		if f != nil {
			f.Close()
		}
		return "", fail(what, err)
	}
	defer f.Close()
	// The bytes scanned are hashed as they go: what is recorded clean is
	// what was scanned, even if the file was replaced since n was read.
	h := sha256.New()
	err = t.scanner.Scan(ctx, io.TeeReader(f, h), size)
	sum := hex.EncodeToString(h.Sum(nil))
	var se *ScanError
	switch {
	case errors.As(err, &se):
		t.log.Warn("a file found unscanned was refused by the virus scan; quarantining it", "space", n.SpaceID, "path", n.Path, "reason", se.Reason)
		if qerr := t.quarantine(ctx, st, n, sum, se.Reason); qerr != nil {
			return "", fail(what, qerr)
		}
		return "", &ScanError{Path: n.Path, Reason: se.Reason}
	case err != nil:
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", fmt.Errorf("space: %s: %w: %v", what, ErrScanFailed, err)
	}
	err = t.db.Update(ctx, func(tx *store.Tx) error { return tx.MarkScanned(ctx, sum, t.clock()) })
	if err != nil {
		return "", fail(what, err)
	}
	return sum, nil
}

// quarantine takes file n out of its space, if its path still holds the
// content sum, and hands its bytes to the Scanner's Quarantine.
func (t *Tree) quarantine(ctx context.Context, st *spaceState, n Node, sum, reason string) error {
	p := n.Path
	st.mu.Lock()
	defer st.mu.Unlock()
	now := t.clock()
	trash := t.trashName()
	moved := false
	key := "" // object-store mode: the content quarantined
	err := t.commit(ctx, func(tx *store.Tx) (func(), error) {
		n, err := tx.Node(ctx, st.id, p)
		if errors.Is(err, store.ErrNotFound) || (err == nil && (n.IsDir || n.SHA256 != sum)) {
			return nil, nil // replaced or gone meanwhile: nothing of it is left to serve
		}
		if err != nil {
			return nil, err
		}
		if err := unindex(ctx, tx, st.id, p, now); err != nil {
			return nil, err
		}
		moved = true
		if t.objects() {
			key = n.Blob
			return func() {}, letGo(ctx, tx, now, key)
		}
		return t.moveOut(st, p, trash)
	})
	if err != nil || !moved {
		return err
	}
	if key != "" {
		// The Scanner's quarantine takes a file: the object's bytes are
		// fetched into one, then the object goes.
		err := t.fetchObject(ctx, key, trash)
		t.dropObjects(key)
		if err != nil {
			t.log.Error("cannot fetch an infected file for the quarantine; it is deleted", "key", key, "err", err)
			os.Remove(trash)
			return nil
		}
	}
	id := "found-" + strings.TrimPrefix(filepath.Base(trash), stagingPfx)
	if err := t.scanner.Quarantine(n, trash, id, reason); err != nil {
		t.log.Error("cannot quarantine an infected file; removing it", "path", trash, "err", err)
		t.removeTrash(trash)
	}
	return nil
}

// Contents returns what is known of the content of each file among nodes,
// by SHA-256 (see store.Content); contents nothing is known of have no
// entry.
func (t *Tree) Contents(ctx context.Context, nodes ...Node) (map[string]store.Content, error) {
	shas := make([]string, 0, len(nodes))
	for _, n := range nodes {
		if !n.IsDir {
			shas = append(shas, n.SHA256)
		}
	}
	m, err := t.db.Contents(ctx, shas)
	if err != nil {
		return nil, fmt.Errorf("space: contents: %w", err)
	}
	return m, nil
}
