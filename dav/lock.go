package dav

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/webdav"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/space"
	"github.com/wharfhq/wharf/store"
)

// LockSystem keeps WebDAV write locks (RFC 4918 §6-7), exclusive and
// shared, of depth 0 or infinity, in the store, so they survive restarts.
// A lock names a path, not a node: it may be taken on a name where nothing
// exists yet, and it does not follow a MOVE or COPY. Expired locks are
// ignored by every method and purged whenever a lock is created.
//
// Conflicts: two locks conflict if their scopes overlap (one is rooted at
// the other's root, or inside the other's depth-infinity scope) and either
// is exclusive.
//
// Tokens are "opaquelocktoken:" and a random (version 4) UUID from
// crypto/rand. Timeouts are whole seconds, capped at the configured
// maximum; Infinite means that maximum.
//
// It is safe for concurrent use; creating a lock checks for conflicts and
// inserts it in one write transaction.
type LockSystem struct {
	db         *store.DB
	maxTimeout time.Duration
	now        func() time.Time

	// held are the tokens Confirm (webdav.LockSystem) has confirmed and
	// not yet released.
	mu   sync.Mutex
	held map[string]bool
}

var _ webdav.LockSystem = (*LockSystem)(nil)

func newLockSystem(db *store.DB, maxTimeout time.Duration, now func() time.Time) *LockSystem {
	maxTimeout = maxTimeout.Truncate(time.Second)
	if maxTimeout < time.Second {
		maxTimeout = time.Second
	}
	return &LockSystem{db: db, maxTimeout: maxTimeout, now: now, held: map[string]bool{}}
}

// Lock is an active lock.
type Lock struct {
	Token    string // "opaquelocktoken:<uuid>"
	Space    string
	Root     string // locked path in Space
	Depth    int    // 0 or -1 (infinity)
	Shared   bool
	OwnerXML string // the LOCK request's <owner> content, verbatim
	// UserID is the user who took the lock; 0 for a lock taken through the
	// webdav.LockSystem methods, which any user holding its token may use.
	UserID int64
	// IsDir reports whether a collection was at Root when the lock was
	// read, for its href.
	IsDir   bool
	Timeout time.Duration // as granted, whole seconds
	Expires time.Time
}

func toLock(l store.Lock) Lock {
	return Lock{Token: l.Token, Space: l.SpaceID, Root: l.Root, Depth: l.Depth, Shared: l.Shared,
		OwnerXML: l.OwnerXML, UserID: l.UserID, IsDir: l.IsDir, Timeout: l.Timeout, Expires: l.ExpiresAt}
}

// covers reports whether l applies to path p of its space.
func (l Lock) covers(p string) bool {
	return l.Root == p || l.Depth < 0 && isBelow(p, l.Root)
}

// href is the escaped URL path of the lock's root.
func (l Lock) href() string { return href(l.Space, l.Root, l.IsDir) }

// heldBy reports whether user may use l (with its token).
func (l Lock) heldBy(userID int64) bool { return l.UserID == 0 || l.UserID == userID }

// isBelow reports whether p is strictly inside dir.
func isBelow(p, dir string) bool {
	if dir == "" {
		return p != ""
	}
	return strings.HasPrefix(p, dir+"/")
}

func (ls *LockSystem) pathLocks(ctx context.Context, spaceID, p string, below bool, now time.Time) ([]Lock, error) {
	rows, err := ls.db.PathLocks(ctx, spaceID, p, below, now)
	if err != nil {
		return nil, err
	}
	out := make([]Lock, 0, len(rows))
	for _, r := range rows {
		if l := toLock(r); l.covers(p) || below && isBelow(l.Root, p) {
			out = append(out, l)
		}
	}
	return out, nil
}

// Covering returns the unexpired locks that apply to path: locks rooted at
// it and infinite-depth locks rooted at an ancestor. Errors are the
// store's.
func (ls *LockSystem) Covering(ctx context.Context, spaceID, p string) ([]Lock, error) {
	return ls.pathLocks(ctx, spaceID, p, false, ls.now())
}

// Under returns the unexpired locks that apply to dir or to any of its
// descendants, for a listing: covering locks of dir plus locks rooted below,
// ordered by root, in one query. Errors are the store's.
func (ls *LockSystem) Under(ctx context.Context, spaceID, dir string) ([]Lock, error) {
	return ls.pathLocks(ctx, spaceID, dir, true, ls.now())
}

// ReleaseTree removes every lock rooted at p or below it (after DELETE, and
// on the source of a MOVE).
func (ls *LockSystem) ReleaseTree(ctx context.Context, spaceID, p string) error {
	return ls.db.Update(ctx, func(tx *store.Tx) error {
		_, err := tx.DeleteLocksUnder(ctx, spaceID, p)
		return err
	})
}

// lockRequest asks for a new lock.
type lockRequest struct {
	Space, Root string
	Depth       int // 0 or -1
	Shared      bool
	OwnerXML    string
	UserID      int64
	Timeout     time.Duration // capped at the maximum; <= 0: the maximum
}

// lockedError is a refused lock: the locks it conflicts with.
type lockedError struct{ Conflicts []Lock }

func (e *lockedError) Error() string {
	return fmt.Sprintf("conflicts with %d lock(s), the first on %s/%q", len(e.Conflicts), e.Conflicts[0].Space, e.Conflicts[0].Root)
}

// errNoSuchLock: no unexpired lock has that token.
var errNoSuchLock = errors.New("no such lock")

// timeout caps d at the maximum, in whole seconds; d <= 0 means the
// maximum.
func (ls *LockSystem) timeout(d time.Duration) time.Duration {
	if d <= 0 || d > ls.maxTimeout {
		return ls.maxTimeout
	}
	return max(d.Truncate(time.Second), time.Second)
}

// create takes a lock, or returns a *lockedError listing the locks it
// conflicts with. It purges expired locks on the way.
func (ls *LockSystem) create(ctx context.Context, now time.Time, req lockRequest) (Lock, error) {
	if req.Depth != 0 {
		req.Depth = -1
	}
	l := Lock{Token: newToken(), Space: req.Space, Root: req.Root, Depth: req.Depth, Shared: req.Shared,
		OwnerXML: req.OwnerXML, UserID: req.UserID, Timeout: ls.timeout(req.Timeout)}
	l.Expires = now.Add(l.Timeout)
	err := ls.db.Update(ctx, func(tx *store.Tx) error {
		if _, err := tx.DeleteExpiredLocks(ctx, now); err != nil {
			return err
		}
		rows, err := tx.PathLocks(ctx, l.Space, l.Root, l.Depth < 0, now)
		if err != nil {
			return err
		}
		var conflicts []Lock
		for _, r := range rows {
			o := toLock(r)
			if (o.covers(l.Root) || l.covers(o.Root)) && (!o.Shared || !l.Shared) {
				conflicts = append(conflicts, o)
			}
		}
		if len(conflicts) > 0 {
			return &lockedError{Conflicts: conflicts}
		}
		return tx.InsertLock(ctx, store.Lock{Token: l.Token, SpaceID: l.Space, Root: l.Root, Depth: l.Depth,
			Shared: l.Shared, OwnerXML: l.OwnerXML, UserID: l.UserID, Timeout: l.Timeout,
			ExpiresAt: l.Expires, CreatedAt: now})
	})
	if err != nil {
		return Lock{}, err
	}
	return l, nil
}

// get returns the unexpired lock with the given token, or errNoSuchLock.
func (ls *LockSystem) get(ctx context.Context, now time.Time, token string) (Lock, error) {
	r, err := ls.db.Lock(ctx, token, now)
	if errors.Is(err, store.ErrNotFound) {
		return Lock{}, errNoSuchLock
	}
	if err != nil {
		return Lock{}, err
	}
	return toLock(r), nil
}

// refresh gives the lock with the given token a new timeout from now, or
// returns errNoSuchLock.
func (ls *LockSystem) refresh(ctx context.Context, now time.Time, token string, d time.Duration) (Lock, error) {
	var l Lock
	err := ls.db.Update(ctx, func(tx *store.Tx) error {
		r, err := tx.Lock(ctx, token, now)
		if err != nil {
			return err
		}
		l = toLock(r)
		l.Timeout = ls.timeout(d)
		l.Expires = now.Add(l.Timeout)
		return tx.RefreshLock(ctx, token, l.Timeout, l.Expires)
	})
	if errors.Is(err, store.ErrNotFound) {
		return Lock{}, errNoSuchLock
	}
	if err != nil {
		return Lock{}, err
	}
	return l, nil
}

// unlock removes the lock with the given token, or returns errNoSuchLock.
func (ls *LockSystem) unlock(ctx context.Context, token string) error {
	err := ls.db.Update(ctx, func(tx *store.Tx) error { return tx.DeleteLock(ctx, token) })
	if errors.Is(err, store.ErrNotFound) {
		return errNoSuchLock
	}
	return err
}

// newToken returns "opaquelocktoken:" and a random version 4 UUID.
func newToken() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("opaquelocktoken:%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// parseTimeout reads a Timeout header (RFC 4918 §10.7): a list of
// "Second-N" and "Infinite" of which the first acceptable one is taken,
// capped at max; Infinite, an absent header or one with nothing acceptable
// (Second-0, unknown forms) mean max.
func parseTimeout(v string, max time.Duration) time.Duration {
	for _, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		if strings.EqualFold(item, "Infinite") {
			return max
		}
		if len(item) < 8 || !strings.EqualFold(item[:7], "Second-") {
			continue
		}
		digits := item[7:]
		if strings.Trim(digits, "0123456789") != "" {
			continue
		}
		if n, err := strconv.ParseInt(digits, 10, 64); err != nil || time.Duration(n) > max/time.Second {
			return max // too large to parse is larger than max
		} else if n > 0 {
			return time.Duration(n) * time.Second
		}
	}
	return max
}

// timeoutValue is a lock's remaining time as a Timeout value, at least
// Second-1 (Second-0 would read as "already gone").
func timeoutValue(l Lock, now time.Time) string {
	left := l.Expires.Sub(now)
	secs := int64((left + time.Second - 1) / time.Second)
	return "Second-" + strconv.FormatInt(max(secs, 1), 10)
}

// writeActiveLock writes l as one DAV:activelock element (RFC 4918 §14.1)
// with its remaining timeout at now, everything escaped but the owner,
// which is the client's XML verbatim. The "D" prefix must be bound to
// "DAV:" where it is written. It returns w's error.
func writeActiveLock(w io.Writer, l Lock, now time.Time) error {
	var b strings.Builder
	b.WriteString("<D:activelock><D:locktype><D:write/></D:locktype><D:lockscope>")
	if l.Shared {
		b.WriteString("<D:shared/>")
	} else {
		b.WriteString("<D:exclusive/>")
	}
	b.WriteString("</D:lockscope><D:depth>")
	if l.Depth == 0 {
		b.WriteString("0")
	} else {
		b.WriteString("infinity")
	}
	b.WriteString("</D:depth>")
	if l.OwnerXML != "" {
		b.WriteString("<D:owner>" + l.OwnerXML + "</D:owner>")
	}
	b.WriteString("<D:timeout>" + timeoutValue(l, now) + "</D:timeout>")
	b.WriteString("<D:locktoken><D:href>" + xmlEscape(l.Token) + "</D:href></D:locktoken>")
	b.WriteString("<D:lockroot><D:href>" + xmlEscape(l.href()) + "</D:href></D:lockroot>")
	b.WriteString("</D:activelock>")
	_, err := io.WriteString(w, b.String())
	return err
}

// lockTarget is a resource a write changes; with Deep, everything below it
// changes too (DELETE or MOVE of a collection, COPY onto one).
type lockTarget struct {
	Space, Path string
	Deep        bool
	// OwnerMay lets a lock held by the requesting user pass without its
	// token, provided the request proved itself with the token of another
	// of that user's locks on an earlier target. It exists for Office,
	// which MOVEs its locked temp file over its own locked original while
	// submitting only the temp file's token.
	OwnerMay bool
}

// precondition checks the If header (RFC 4918 §10.4) and the locks on the
// targets of a write, and returns 0 if the write may go ahead:
//
//   - 400 if the If header is malformed;
//   - 412 if it is present and evaluates to false (see evalIf);
//   - 423 with DAV:lock-token-submitted naming the lock's root if a target
//     (or, for a Deep target, a resource below it) is locked and no lock on
//     it has its token submitted in the If header by its own user; a shared
//     lock's token is enough for a resource held by several shared locks,
//     and an OwnerMay target accepts the caller's own lock once another
//     of the caller's tokens has matched.
func (h *Handler) precondition(r *http.Request, targets ...lockTarget) (int, error) {
	ih, present, err := readIf(r)
	if err != nil {
		return http.StatusBadRequest, clientError(err.Error())
	}
	if present {
		ok, err := h.evalIf(r, ih)
		if err != nil {
			return http.StatusInternalServerError, err
		}
		if !ok {
			return http.StatusPreconditionFailed, clientError("the If header's conditions are not met")
		}
	}
	submitted := ih.tokens()
	var userID int64
	if p := auth.FromContext(r.Context()); p != nil {
		userID = p.User.ID
	}
	ctx := r.Context()
	proved := false // a submitted token matched one of the user's locks
	for _, t := range targets {
		var locks []Lock
		if t.Deep {
			locks, err = h.locks.Under(ctx, t.Space, t.Path)
		} else {
			locks, err = h.locks.Covering(ctx, t.Space, t.Path)
		}
		if err != nil {
			return http.StatusInternalServerError, err
		}
		// Each locked resource needs one of the locks covering it: the
		// target itself, and the root of every lock below it.
		paths := []string{t.Path}
		for _, l := range locks {
			if isBelow(l.Root, t.Path) {
				paths = append(paths, l.Root)
			}
		}
		for _, p := range paths {
			var blocking []string
			ok := true
			for _, l := range locks {
				if !l.covers(p) {
					continue
				}
				if submitted[l.Token] && l.heldBy(userID) {
					ok, proved = true, true
					break
				}
				if t.OwnerMay && proved && userID != 0 && l.UserID == userID {
					ok = true
					break
				}
				ok = false
				blocking = append(blocking, l.href())
			}
			if !ok {
				return http.StatusLocked, &condError{Cond: "lock-token-submitted", Hrefs: dedupe(blocking)}
			}
		}
	}
	return 0, nil
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	out := s[:0]
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// maxLockBody is the largest lockinfo body LOCK reads.
const maxLockBody = 64 << 10

// lockInfo is the body of a LOCK that creates a lock (RFC 4918 §14.11).
type lockInfo struct {
	Shared bool
	// Owner is the content of DAV:owner, re-serialised with every namespace
	// declared where it is used, so that it can be echoed in lockdiscovery
	// whatever prefixes the request declared on its root.
	Owner string
}

// readLockInfo reads a LOCK body: empty (a refresh: nil, 0, nil) or a
// lockinfo for a write lock.
func readLockInfo(body io.Reader) (*lockInfo, int, error) {
	if body == nil {
		return nil, 0, nil
	}
	data, err := io.ReadAll(io.LimitReader(body, maxLockBody+1))
	if err != nil {
		return nil, http.StatusBadRequest, clientError("reading the body: " + err.Error())
	}
	if len(data) > maxLockBody {
		return nil, http.StatusRequestEntityTooLarge, clientError(fmt.Sprintf("LOCK body larger than %d bytes", maxLockBody))
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, 0, nil
	}
	var (
		li                lockInfo
		scopes, writeType int
	)
	x := newXMLReader(data)
	err = x.root(xml.Name{Space: nsDAV, Local: "lockinfo"})
	if err == nil {
		err = x.children(func(t xmlToken) error {
			if t.name.Space != nsDAV {
				return x.skip()
			}
			switch t.name.Local {
			case "lockscope":
				return x.children(func(t xmlToken) error {
					if t.name.Space == nsDAV && (t.name.Local == "exclusive" || t.name.Local == "shared") {
						scopes++
						li.Shared = t.name.Local == "shared"
					}
					return x.skip()
				})
			case "locktype":
				return x.children(func(t xmlToken) error {
					if t.name == (xml.Name{Space: nsDAV, Local: "write"}) {
						writeType++
					}
					return x.skip()
				})
			case "owner":
				v, err := x.value()
				li.Owner = v
				return err
			}
			return x.skip()
		})
	}
	if err == nil {
		err = x.rest()
	}
	switch {
	case err != nil:
		return nil, http.StatusBadRequest, clientError("invalid lockinfo XML: " + err.Error())
	case scopes != 1:
		return nil, http.StatusBadRequest, clientError("lockinfo needs a lockscope of exclusive or shared")
	case writeType != 1:
		return nil, http.StatusBadRequest, clientError("lockinfo needs a locktype of write, the only one supported")
	}
	return &li, 0, nil
}

// handleLock creates a lock (201 if it created an empty file at an
// unmapped URL, else 200) or, with an empty body, refreshes the locks whose
// tokens the If header submits (200); either way it answers with the
// lockdiscovery of the locks concerned.
//
// Statuses: 400 bad Depth, If header or lockinfo; 413 body over 64 KiB;
// 409 parent collection missing; 412 If header false, or (refresh) no
// submitted token is a lock covering the resource; 403 (refresh) the lock
// is another user's; 423 no-conflicting-lock naming the conflicting locks'
// roots.
func (h *Handler) handleLock(w http.ResponseWriter, r *http.Request, res resource) (int, error) {
	ctx := r.Context()
	now := h.now()
	if r.ContentLength > maxLockBody {
		// Refused before reading, so a client that sent Expect:
		// 100-continue never sends the body.
		return http.StatusRequestEntityTooLarge, clientError(fmt.Sprintf("LOCK body larger than %d bytes", maxLockBody))
	}
	li, status, err := readLockInfo(r.Body)
	if status != 0 {
		return status, err
	}
	timeout := parseTimeout(r.Header.Get("Timeout"), h.locks.maxTimeout)
	p := auth.FromContext(ctx)
	if li == nil {
		return h.refreshLocks(w, r, res, p, now, timeout)
	}
	depth := -1
	switch d := strings.TrimSpace(r.Header.Get("Depth")); {
	case d == "" || strings.EqualFold(d, "infinity"):
	case d == "0":
		depth = 0
	default:
		return http.StatusBadRequest, clientError("Depth must be 0 or infinity on LOCK")
	}
	if ih, present, err := readIf(r); err != nil {
		return http.StatusBadRequest, clientError(err.Error())
	} else if present {
		ok, err := h.evalIf(r, ih)
		if err != nil {
			return http.StatusInternalServerError, err
		}
		if !ok {
			return http.StatusPreconditionFailed, clientError("the If header's conditions are not met")
		}
	}
	n, err := h.tree.Stat(ctx, res.Space, res.Path)
	exists := err == nil
	switch {
	case errors.Is(err, space.ErrNotFound):
		parent, _, _ := cutLast(res.Path)
		pn, err := h.tree.Stat(ctx, res.Space, parent)
		if errors.Is(err, space.ErrNotFound) || err == nil && !pn.IsDir {
			return http.StatusConflict, clientError("the parent collection does not exist")
		}
		if err != nil {
			return http.StatusInternalServerError, err
		}
	case err != nil:
		return spaceStatus(err)
	}
	l, err := h.locks.create(ctx, now, lockRequest{Space: res.Space, Root: res.Path, Depth: depth,
		Shared: li.Shared, OwnerXML: li.Owner, UserID: userID(p), Timeout: timeout})
	var le *lockedError
	if errors.As(err, &le) {
		hrefs := make([]string, 0, len(le.Conflicts))
		for _, c := range le.Conflicts {
			hrefs = append(hrefs, c.href())
		}
		return http.StatusLocked, &condError{Cond: "no-conflicting-lock", Hrefs: dedupe(hrefs)}
	}
	if err != nil {
		return http.StatusInternalServerError, err
	}
	created := false
	if !exists {
		// RFC 4918 §7.3: locking an unmapped URL creates an empty
		// resource. If-None-Match keeps a file created meanwhile.
		_, created, err = h.tree.Put(ctx, res.Space, res.Path, strings.NewReader(""),
			space.PutOptions{ExpectedSize: 0, IfNoneMatch: "*"})
		if err != nil && !errors.Is(err, space.ErrPreconditionFailed) {
			if uerr := h.locks.unlock(ctx, l.Token); uerr != nil {
				h.log.WarnContext(r.Context(), "removing the lock of a failed LOCK", "space", res.Space, "path", res.Path, "err", uerr)
			}
			return spaceStatus(err)
		}
	} else {
		l.IsDir = n.IsDir
	}
	w.Header().Set("Lock-Token", "<"+l.Token+">")
	status = http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return h.writeLockDiscovery(w, status, []Lock{l}, now)
}

// refreshLocks serves a LOCK without a body (RFC 4918 §9.10.2).
func (h *Handler) refreshLocks(w http.ResponseWriter, r *http.Request, res resource, p *auth.Principal, now time.Time, timeout time.Duration) (int, error) {
	ctx := r.Context()
	ih, present, err := readIf(r)
	switch {
	case err != nil:
		return http.StatusBadRequest, clientError(err.Error())
	case !present:
		return http.StatusBadRequest, clientError("a LOCK without a body refreshes a lock and needs an If header with its token")
	}
	ok, err := h.evalIf(r, ih)
	if err != nil {
		return http.StatusInternalServerError, err
	}
	if !ok {
		return http.StatusPreconditionFailed, clientError("the If header's conditions are not met")
	}
	covering, err := h.locks.Covering(ctx, res.Space, res.Path)
	if err != nil {
		return http.StatusInternalServerError, err
	}
	submitted := ih.tokens()
	var refreshed []Lock
	others := false
	for _, l := range covering {
		if !submitted[l.Token] {
			continue
		}
		if !l.heldBy(userID(p)) {
			others = true
			continue
		}
		l, err := h.locks.refresh(ctx, now, l.Token, timeout)
		if errors.Is(err, errNoSuchLock) {
			continue // unlocked meanwhile
		}
		if err != nil {
			return http.StatusInternalServerError, err
		}
		refreshed = append(refreshed, l)
	}
	if len(refreshed) == 0 {
		if others {
			return http.StatusForbidden, clientError("that lock belongs to another user")
		}
		return http.StatusPreconditionFailed, &condError{Cond: "lock-token-matches-request-uri"}
	}
	return h.writeLockDiscovery(w, http.StatusOK, refreshed, now)
}

func userID(p *auth.Principal) int64 {
	if p == nil {
		return 0
	}
	return p.User.ID
}

// writeLockDiscovery writes the body of a successful LOCK.
func (h *Handler) writeLockDiscovery(w http.ResponseWriter, status int, locks []Lock, now time.Time) (int, error) {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n" + `<D:prop xmlns:D="DAV:"><D:lockdiscovery>`)
	for _, l := range locks {
		writeActiveLock(&b, l, now) // a strings.Builder does not fail
	}
	b.WriteString("</D:lockdiscovery></D:prop>\n")
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(status)
	if _, err := io.WriteString(w, b.String()); err != nil {
		h.log.Debug("writing LOCK response", "err", err)
	}
	return 0, nil
}

// handleUnlock removes the lock named by the Lock-Token header (RFC 4918
// §9.11): 204; 400 without a well-formed header; 409
// lock-token-matches-request-uri if no unexpired lock with that token
// covers the request URL; 403 if the lock is another user's.
func (h *Handler) handleUnlock(w http.ResponseWriter, r *http.Request, res resource) (int, error) {
	ctx := r.Context()
	v := strings.TrimSpace(r.Header.Get("Lock-Token"))
	if len(v) < 3 || v[0] != '<' || v[len(v)-1] != '>' || !ifAbsoluteURI(v[1:len(v)-1]) ||
		strings.ContainsAny(v[1:len(v)-1], " \t<>") {
		return http.StatusBadRequest, clientError("UNLOCK needs a Lock-Token header: <opaquelocktoken:…>")
	}
	token := v[1 : len(v)-1]
	l, err := h.locks.get(ctx, h.now(), token)
	if errors.Is(err, errNoSuchLock) || err == nil && (l.Space != res.Space || !l.covers(res.Path)) {
		return http.StatusConflict, &condError{Cond: "lock-token-matches-request-uri"}
	}
	if err != nil {
		return http.StatusInternalServerError, err
	}
	if !l.heldBy(userID(auth.FromContext(ctx))) {
		return http.StatusForbidden, clientError("that lock belongs to another user")
	}
	if err := h.locks.unlock(ctx, token); errors.Is(err, errNoSuchLock) {
		return http.StatusConflict, &condError{Cond: "lock-token-matches-request-uri"}
	} else if err != nil {
		return http.StatusInternalServerError, err
	}
	return http.StatusNoContent, nil
}

// The webdav.LockSystem methods name resources "<space>/<path>" and know
// no users: the locks they create have UserID 0.

func splitName(name string) (spaceID, p string, err error) {
	spaceID, rest, _ := strings.Cut(strings.TrimPrefix(name, "/"), "/")
	if spaceID == "" {
		return "", "", fmt.Errorf("dav: lock name %q has no space", name)
	}
	p, err = space.Clean(rest)
	if err != nil {
		return "", "", fmt.Errorf("dav: lock name %q: %w", name, err)
	}
	return spaceID, p, nil
}

// Confirm implements webdav.LockSystem: each non-empty name must be covered
// by an unexpired lock whose token a condition (without Not) names and that
// no other Confirm holds; those locks are held until release is called.
func (ls *LockSystem) Confirm(now time.Time, name0, name1 string, conditions ...webdav.Condition) (func(), error) {
	ctx := context.Background()
	tokens := map[string]bool{}
	for _, c := range conditions {
		if c.Token != "" && !c.Not {
			tokens[c.Token] = true
		}
	}
	var claim []string
	for _, name := range []string{name0, name1} {
		if name == "" {
			continue
		}
		spaceID, p, err := splitName(name)
		if err != nil {
			return nil, webdav.ErrConfirmationFailed
		}
		locks, err := ls.pathLocks(ctx, spaceID, p, false, now)
		if err != nil {
			return nil, err
		}
		found := false
		for _, l := range locks {
			if tokens[l.Token] {
				found = true
				if len(claim) == 0 || claim[0] != l.Token {
					claim = append(claim, l.Token)
				}
				break
			}
		}
		if !found {
			return nil, webdav.ErrConfirmationFailed
		}
	}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	for _, t := range claim {
		if ls.held[t] {
			return nil, webdav.ErrConfirmationFailed
		}
	}
	for _, t := range claim {
		ls.held[t] = true
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			ls.mu.Lock()
			defer ls.mu.Unlock()
			for _, t := range claim {
				delete(ls.held, t)
			}
		})
	}, nil
}

// Create implements webdav.LockSystem: an exclusive lock; a negative
// Duration means the maximum timeout. It returns webdav.ErrLocked on a
// conflict.
func (ls *LockSystem) Create(now time.Time, details webdav.LockDetails) (string, error) {
	spaceID, p, err := splitName(details.Root)
	if err != nil {
		return "", err
	}
	depth := -1
	if details.ZeroDepth {
		depth = 0
	}
	l, err := ls.create(context.Background(), now, lockRequest{Space: spaceID, Root: p, Depth: depth,
		OwnerXML: details.OwnerXML, Timeout: details.Duration})
	var le *lockedError
	if errors.As(err, &le) {
		return "", webdav.ErrLocked
	}
	if err != nil {
		return "", err
	}
	return l.Token, nil
}

// Refresh implements webdav.LockSystem; it returns webdav.ErrNoSuchLock
// for an unknown or expired token.
func (ls *LockSystem) Refresh(now time.Time, token string, duration time.Duration) (webdav.LockDetails, error) {
	l, err := ls.refresh(context.Background(), now, token, duration)
	if errors.Is(err, errNoSuchLock) {
		return webdav.LockDetails{}, webdav.ErrNoSuchLock
	}
	if err != nil {
		return webdav.LockDetails{}, err
	}
	return webdav.LockDetails{Root: l.Space + "/" + l.Root, Duration: l.Timeout, OwnerXML: l.OwnerXML,
		ZeroDepth: l.Depth == 0}, nil
}

// Unlock implements webdav.LockSystem; it returns webdav.ErrLocked while
// Confirm holds the lock and webdav.ErrNoSuchLock for an unknown or expired
// token.
func (ls *LockSystem) Unlock(now time.Time, token string) error {
	ls.mu.Lock()
	held := ls.held[token]
	ls.mu.Unlock()
	if held {
		return webdav.ErrLocked
	}
	ctx := context.Background()
	if _, err := ls.get(ctx, now, token); errors.Is(err, errNoSuchLock) {
		return webdav.ErrNoSuchLock
	} else if err != nil {
		return err
	}
	if err := ls.unlock(ctx, token); errors.Is(err, errNoSuchLock) {
		return webdav.ErrNoSuchLock
	} else if err != nil {
		return err
	}
	return nil
}
