package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path"
	"time"
)

// fileUpload is the upload of one file of a push, from its tus creation (or
// the one an earlier run left) to the verified checksum.
type fileUpload struct {
	p    *pusher
	f    pushFile
	file *os.File
	dest string // path in the space

	loc      string // the tus upload's URL; "" until created
	firstLoc string // the one the state held at the start
	h        hash.Hash
	hashed   int64 // bytes of the file in h
	buf      []byte
	fails    int  // failed attempts in a row
	started  bool // the reporter was told
}

// upload sends f over tus, resuming from the state's upload when there is
// one, and returns its verified hex SHA-256.
func (p *pusher) upload(ctx context.Context, f pushFile) (string, error) {
	file, err := os.Open(f.abs)
	if err != nil {
		return "", err
	}
	defer file.Close()
	st := p.state.get(f.rel)
	u := &fileUpload{p: p, f: f, file: file, dest: path.Join(p.to, f.rel),
		loc: st.URL, firstLoc: st.URL, h: sha256.New(), buf: make([]byte, p.chunk)}
	if err := u.send(ctx); err != nil {
		return "", err
	}
	sum, err := u.sum()
	if err != nil {
		return "", err
	}
	if err := u.verify(ctx, sum); err != nil {
		return "", err
	}
	if err := p.state.update(f.rel, func(s *fileState) { s.Done, s.SHA256, s.Offset = true, sum, f.size }); err != nil {
		return "", err
	}
	return sum, nil
}

// retry counts a failed attempt and waits before the next, or gives up.
func (u *fileUpload) retry(ctx context.Context, err error) error {
	u.fails++
	if u.fails >= maxAttempts {
		return fmt.Errorf("giving up after %d attempts: %w", u.fails, err)
	}
	var se *StatusError
	var ra time.Duration
	if errors.As(err, &se) {
		ra = se.RetryAfter
	}
	u.p.rep.retry(u.f, err)
	return backoff(ctx, u.fails, ra)
}

// send gets all of the file to the server: each round finds where the
// upload stands (creating it when there is none), catches the hash up with
// that, and PATCHes from there, until the server has it all.
func (u *fileUpload) send(ctx context.Context) error {
	for {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		offset, ok, err := u.position(ctx)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if ok, err := u.catchUp(offset); err != nil {
			return err
		} else if !ok {
			continue
		}
		if offset >= u.f.size {
			return nil
		}
		if !u.started {
			u.p.rep.start(u.f, offset, u.firstLoc != "" && u.loc == u.firstLoc)
			u.started = true
		}
		done, err := u.patch(ctx, offset)
		if err != nil || done {
			return err
		}
	}
}

// position is where the server's upload stands: a new upload starts at 0,
// an existing one is asked (HEAD). ok false: ask again.
func (u *fileUpload) position(ctx context.Context) (offset int64, ok bool, err error) {
	p, f := u.p, u.f
	if u.loc == "" {
		if p.state.get(f.rel).Rejected != "" {
			p.state.update(f.rel, func(s *fileState) { s.Rejected = "" })
		}
		l, err := p.cl.Create(ctx, p.space, u.dest, f.size)
		var se *StatusError
		switch {
		case errors.As(err, &se) && !se.Temporary():
			return 0, false, &errRejected{msg: se.Error()}
		case err != nil:
			return 0, false, u.retry(ctx, err)
		}
		u.loc = l
		if err := p.state.update(f.rel, func(s *fileState) { s.URL, s.Offset = u.loc, 0 }); err != nil {
			return 0, false, err
		}
		if f.size == 0 {
			return 0, false, nil // no PATCH for an empty file: HEAD tells when it is in
		}
		return 0, true, nil
	}
	off, _, err := p.cl.Offset(ctx, u.loc)
	var se *StatusError
	switch {
	case errors.As(err, &se) && se.Status == http.StatusLocked:
		return 0, false, backoff(ctx, 0, max(se.RetryAfter, time.Second)) // processing: not a failure
	case errors.As(err, &se) && se.Status == http.StatusGone:
		return 0, false, &errRejected{msg: se.Message}
	case errors.As(err, &se) && (se.Status == http.StatusNotFound || se.Status == http.StatusForbidden):
		u.loc = "" // expired or unknown: start over
		return 0, false, nil
	case err != nil:
		return 0, false, u.retry(ctx, err)
	}
	return off, true, nil
}

// catchUp brings the hash to offset, the server's position. When the
// server went back before what is hashed, the hash starts over and ok is
// false: ask again.
func (u *fileUpload) catchUp(offset int64) (ok bool, err error) {
	if offset > u.hashed {
		if _, err := io.Copy(u.h, io.NewSectionReader(u.file, u.hashed, offset-u.hashed)); err != nil {
			return false, err
		}
		u.hashed = offset
	} else if offset < u.hashed {
		u.h.Reset()
		u.hashed = 0
		return false, nil
	}
	return true, nil
}

// patch sends the file from offset, a chunk per PATCH. done: the server has
// it all; else the caller asks where the upload stands and goes on from
// there.
func (u *fileUpload) patch(ctx context.Context, offset int64) (done bool, err error) {
	p, f := u.p, u.f
	for offset < f.size {
		n := min(p.chunk, f.size-offset)
		chunk := u.buf[:n]
		if _, err := u.file.ReadAt(chunk, offset); err != nil && !errors.Is(err, io.EOF) {
			return false, err
		}
		if err := p.limit.wait(ctx, n); err != nil {
			return false, err
		}
		sum := sha256.Sum256(chunk)
		next, status, err := p.cl.Patch(ctx, u.loc, offset, chunk, sum[:])
		var se *StatusError
		switch {
		case ctx.Err() != nil:
			return false, ctx.Err()
		case errors.As(err, &se) && (se.Status == http.StatusGone || se.Status == http.StatusUnprocessableEntity):
			return false, &errRejected{msg: se.Message, step: se.Step}
		case errors.As(err, &se) && se.Status == http.StatusLocked:
			return false, backoff(ctx, 0, max(se.RetryAfter, time.Second))
		case errors.As(err, &se) && (se.Status == http.StatusNotFound || se.Status == http.StatusForbidden):
			u.loc = ""
			return false, nil
		case errors.As(err, &se) && !se.Temporary() && se.Status != http.StatusConflict && se.Status != 460:
			return false, &errRejected{msg: se.Error()}
		case err != nil: // 5xx, 409, 460 or the network: ask where we are
			return false, u.retry(ctx, err)
		}
		u.fails = 0
		if next == offset+n {
			u.h.Write(chunk)
			u.hashed = next
		}
		offset = next
		p.rep.advance(f, offset, n)
		if err := p.state.update(f.rel, func(s *fileState) { s.Offset = offset }); err != nil {
			return false, err
		}
		if offset >= f.size && status == http.StatusAccepted {
			return false, nil // processing goes on: HEAD until it is in
		}
		if u.hashed != offset {
			return false, nil
		}
	}
	return true, nil
}

// sum is the hex SHA-256 of the whole file: the running hash, or the file
// read again when the hash could not follow the server.
func (u *fileUpload) sum() (string, error) {
	if u.hashed != u.f.size {
		u.h.Reset()
		if _, err := io.Copy(u.h, io.NewSectionReader(u.file, 0, u.f.size)); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(u.h.Sum(nil)), nil
}

// verify compares sum with what the server computed for the file.
func (u *fileUpload) verify(ctx context.Context, sum string) error {
	var entries []Entry
	for {
		var err error
		entries, err = u.p.cl.Propfind(ctx, DAVPath(u.p.space, u.dest), 0)
		if err == nil {
			break
		}
		if err := u.retry(ctx, err); err != nil {
			return fmt.Errorf("verifying: %w", err)
		}
	}
	if len(entries) == 0 || entries[0].SHA256 == "" {
		return fmt.Errorf("verifying: the server gives no SHA-256 for %s", u.dest)
	}
	if entries[0].SHA256 != sum {
		return &errRejected{msg: fmt.Sprintf("checksum mismatch: sent %s, the server has %s", sum, entries[0].SHA256)}
	}
	return nil
}
