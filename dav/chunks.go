package dav

// Chunked uploads as the Nextcloud desktop client makes them
// (docs/protocols/clients.md, "Chunked uploads"):
//
//	MKCOL  /remote.php/dav/uploads/<user>/<transfer>            start
//	PUT    /remote.php/dav/uploads/<user>/<transfer>/<chunk>    a piece, in any order
//	PROPFIND (Depth 1) on the transfer                          what is there, to resume
//	MOVE   /remote.php/dav/uploads/<user>/<transfer>/.file      assemble, Destination: the file
//	DELETE the transfer                                         give up
//
// The chunks wait in Config.ChunkDir/<user id>/<transfer>/, or in the
// object store in object-store mode (chunkstore.go); the MOVE reads them
// in order into the same path as a PUT's body (putBody: staging,
// processing, invisible until processed), then removes them.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/blob"
	"github.com/wharfhq/wharf/postproc"
)

// chunkExpiry is how long a transfer nobody touches is kept.
const chunkExpiry = 24 * time.Hour

// maxTransfers bounds the transfers one user has at once (each is a
// folder, and every new transfer sweeps them all for expired ones).
const maxTransfers = 1000

// validChunkName reports whether s may name a transfer or a chunk: a plain
// name, no dot first, short.
func validChunkName(s string) bool {
	if s == "" || len(s) > 128 || s[0] == '.' {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func (h *Handler) serveChunks(w http.ResponseWriter, r *http.Request) {
	status, err := h.chunks(w, r)
	if status != 0 {
		h.writeStatus(w, r, status, err)
	}
}

func (h *Handler) chunks(w http.ResponseWriter, r *http.Request) (int, error) {
	p := auth.FromContext(r.Context())
	if p == nil {
		return http.StatusUnauthorized, errors.New("authentication required")
	}
	ctx := r.Context()
	rest := strings.TrimPrefix(r.URL.Path, UploadsPrefix)
	user, rest, _ := strings.Cut(rest, "/")
	if user != p.User.Name {
		return http.StatusNotFound, clientError("no such upload folder")
	}
	transfer, chunk, _ := strings.Cut(strings.Trim(rest, "/"), "/")
	uid, cs := p.User.ID, h.chunkStore
	if transfer == "" {
		if r.Method == "PROPFIND" || r.Method == http.MethodOptions {
			// The folder of transfers exists for everyone, and is empty
			// as far as listings go.
			return h.propfindChunks(w, r, "", nil)
		}
		return http.StatusMethodNotAllowed, clientError("MKCOL a transfer folder below this one")
	}
	if !validChunkName(transfer) || strings.Contains(chunk, "/") || chunk != "" && chunk != ".file" && !validChunkName(chunk) {
		return http.StatusBadRequest, clientError("bad transfer or chunk name")
	}
	if r.Method == "MKCOL" || r.Method == http.MethodPut {
		// Chunks take disk space before any rule of a space can apply:
		// only someone who may write somewhere stores them.
		if status, err := h.writerSomewhere(r, p); status != 0 {
			return status, err
		}
	}
	switch {
	case r.Method == "MKCOL" && chunk == "":
		h.expireChunks(r)
		if n, err := cs.transfers(ctx, uid); err != nil {
			return http.StatusInternalServerError, err
		} else if n >= maxTransfers {
			return http.StatusInsufficientStorage, clientError(fmt.Sprintf("at most %d chunked uploads at once: assemble or delete one first", maxTransfers))
		}
		if err := cs.create(ctx, uid, transfer); errors.Is(err, os.ErrExist) {
			return http.StatusMethodNotAllowed, clientError("the transfer exists")
		} else if err != nil {
			return http.StatusInternalServerError, err
		}
		return http.StatusCreated, nil
	case r.Method == http.MethodPut && chunk != "" && chunk != ".file":
		return h.putChunk(r, uid, transfer, chunk)
	case r.Method == "PROPFIND":
		names, err := chunkFiles(ctx, cs, uid, transfer)
		if err != nil {
			return statusOfChunkDir(err)
		}
		return h.propfindChunks(w, r, transfer, names)
	case r.Method == http.MethodDelete:
		if chunk != "" {
			err := cs.removeChunk(ctx, uid, transfer, chunk)
			if errors.Is(err, os.ErrNotExist) {
				return http.StatusNotFound, clientError("no such chunk")
			}
			return cmp.Or(statusOf(err), http.StatusNoContent), err
		}
		if err := cs.removeTransfer(ctx, uid, transfer); err != nil {
			return statusOfChunkDir(err)
		}
		return http.StatusNoContent, nil
	case r.Method == "MOVE" && chunk == ".file":
		return h.assemble(w, r, p, transfer)
	}
	return http.StatusMethodNotAllowed, clientError("not an operation of chunked uploads")
}

func statusOf(err error) int {
	if err != nil {
		return http.StatusInternalServerError
	}
	return 0
}

func statusOfChunkDir(err error) (int, error) {
	if errors.Is(err, os.ErrNotExist) {
		return http.StatusNotFound, clientError("no such transfer")
	}
	return http.StatusInternalServerError, err
}

// writerSomewhere answers 403 unless p is an editor of some space.
func (h *Handler) writerSomewhere(r *http.Request, p *auth.Principal) (int, error) {
	roles, err := h.auth.SpaceRoles(r.Context(), p)
	if err != nil {
		return http.StatusInternalServerError, err
	}
	for _, role := range roles {
		if role.Allows(auth.Editor) {
			return 0, nil
		}
	}
	return http.StatusForbidden, clientError("you may write to no space: no chunked uploads")
}

// putChunk stores one chunk, atomically: a chunk cut short is not there.
// The chunks of user uid hold at most Config.MaxChunkBytes.
func (h *Handler) putChunk(r *http.Request, uid int64, transfer, chunk string) (int, error) {
	ctx := r.Context()
	if err := h.chunkStore.exists(ctx, uid, transfer); err != nil {
		return statusOfChunkDir(err)
	}
	room, release, err := h.reserveChunk(ctx, uid, transfer, chunk, r.ContentLength)
	if err != nil {
		if errors.Is(err, errNoRoom) {
			return http.StatusRequestEntityTooLarge, err
		}
		return http.StatusInternalServerError, err
	}
	defer release()
	size := r.ContentLength
	if size > room {
		size = -1 // refused by capped, which says why
	}
	err = h.chunkStore.put(ctx, uid, transfer, chunk, &capped{r: r.Body, left: room}, size)
	var tooBig *chunkTooBig
	switch {
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge, h.chunkRoomError()
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, blob.ErrTooLarge):
		return http.StatusBadRequest, clientError("the chunk arrived incomplete")
	case err != nil:
		return spaceStatus(err)
	}
	return http.StatusCreated, nil
}

// capped reads r and fails with a *chunkTooBig once it has given more than
// left bytes, so that no store keeps a chunk past the user's room.
type capped struct {
	r    io.Reader
	left int64
}

type chunkTooBig struct{}

func (*chunkTooBig) Error() string { return "the chunk is larger than the room left" }

func (c *capped) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.left -= int64(n); c.left < 0 {
		return n, &chunkTooBig{}
	}
	return n, err
}

// errNoRoom: a user's chunks hold all they may.
var errNoRoom = errors.New("no room for chunks")

// reserveChunk reserves room for a chunk of size bytes (-1: unknown, then
// all the room left) that replaces chunk of transfer, if it exists, among
// the chunks of user uid: it returns the bytes the chunk may hold and the
// function that releases them once the chunk is stored or dropped, or an
// error wrapping errNoRoom when there is no room.
func (h *Handler) reserveChunk(ctx context.Context, uid int64, transfer, chunk string, size int64) (int64, func(), error) {
	h.chunkMu.Lock()
	defer h.chunkMu.Unlock()
	held, err := h.chunkStore.held(ctx, uid, transfer, chunk)
	if err != nil {
		return 0, nil, err
	}
	held += h.chunkFlight[uid] // chunks being received by this process
	room := h.cfg.MaxChunkBytes - held
	want := size
	if want < 0 {
		want = room
	}
	if want > room || room <= 0 {
		return 0, nil, fmt.Errorf("%w: %w", errNoRoom, h.chunkRoomError())
	}
	h.chunkFlight[uid] += want
	return want, func() {
		h.chunkMu.Lock()
		defer h.chunkMu.Unlock()
		if h.chunkFlight[uid] -= want; h.chunkFlight[uid] <= 0 {
			delete(h.chunkFlight, uid)
		}
	}, nil
}

func (h *Handler) chunkRoomError() error {
	return clientError(fmt.Sprintf("your unassembled chunks may hold %d bytes in all: assemble or delete a transfer first", h.cfg.MaxChunkBytes))
}

type chunkFile struct {
	name string
	size int64
}

// chunkFiles lists the chunks of a transfer in the order they are
// assembled: by number when every name is a number (1…10000, or
// zero-padded offsets), else by name.
func chunkFiles(ctx context.Context, store chunkStore, uid int64, transfer string) ([]chunkFile, error) {
	cs, err := store.list(ctx, uid, transfer)
	if err != nil {
		return nil, err
	}
	numeric := true
	for _, c := range cs {
		if strings.Trim(c.name, "0123456789") != "" {
			numeric = false
		}
	}
	slices.SortFunc(cs, func(a, b chunkFile) int {
		x, y := a.name, b.name
		if numeric {
			x, y = strings.TrimLeft(x, "0"), strings.TrimLeft(y, "0")
			if c := cmp.Compare(len(x), len(y)); c != 0 {
				return c
			}
		}
		return strings.Compare(x, y)
	})
	return cs, nil
}

// assemble answers the MOVE of .file: the chunks, in order, become the
// body of a PUT on the Destination.
func (h *Handler) assemble(w http.ResponseWriter, r *http.Request, p *auth.Principal, transfer string) (int, error) {
	dst, status, err := h.destination(r, p)
	if status != 0 {
		return status, err
	}
	switch {
	case dst.virtual() || dst.Path == "":
		return http.StatusForbidden, clientError("the destination cannot be replaced")
	case !dst.Role.Allows(auth.Editor) || !p.Covers(dst.Space, dst.Path):
		return http.StatusForbidden, clientError("your role in the destination space does not allow changes")
	}
	ctx, uid := r.Context(), p.User.ID
	cs, err := chunkFiles(ctx, h.chunkStore, uid, transfer)
	if err != nil {
		return statusOfChunkDir(err)
	}
	var total int64
	for _, c := range cs {
		total += c.size
	}
	if v := r.Header.Get("OC-Total-Length"); v != "" {
		want, err := strconv.ParseInt(v, 10, 64)
		if err != nil || want < 0 {
			return http.StatusBadRequest, clientError("bad OC-Total-Length")
		}
		if want != total {
			return http.StatusBadRequest, clientError(fmt.Sprintf("the chunks hold %d bytes, OC-Total-Length says %d", total, want))
		}
	}
	if status, err := h.precondition(r, lockTarget{Space: dst.Space, Path: dst.Path}); status != 0 {
		return status, err
	}
	if n, err := h.tree.Stat(r.Context(), dst.Space, dst.Path); err == nil && n.IsDir {
		return http.StatusConflict, clientError("the destination is a folder")
	}
	body := &chunkReader{ctx: ctx, store: h.chunkStore, uid: uid, transfer: transfer, chunks: cs}
	defer body.Close()
	status, err = h.putBody(w, r, dst, body, total)
	var rej *postproc.RejectedError
	if status < 300 || errors.As(err, &rej) {
		// Done, or refused for good: the chunks have no further use.
		if rerr := h.chunkStore.removeTransfer(context.WithoutCancel(ctx), uid, transfer); rerr != nil {
			h.log.WarnContext(ctx, "cannot remove assembled chunks", "transfer", transfer, "err", rerr)
		}
	}
	return status, err
}

// propfindChunks lists a transfer's chunks (or, for transfer "", the
// user's folder of transfers, without its children).
func (h *Handler) propfindChunks(w http.ResponseWriter, r *http.Request, transfer string, cs []chunkFile) (int, error) {
	base := UploadsPrefix + auth.FromContext(r.Context()).User.Name + "/"
	if transfer != "" {
		base += transfer + "/"
	}
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.WriteHeader(http.StatusMultiStatus)
	m := newMSWriter(w)
	m.open()
	m.raw("<D:response><D:href>")
	m.hrefText(escapePath(base))
	m.raw("</D:href><D:propstat><D:prop><D:resourcetype><D:collection/></D:resourcetype></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>")
	if r.Header.Get("Depth") != "0" {
		for _, c := range cs {
			m.raw("<D:response><D:href>")
			m.hrefText(escapePath(base + c.name))
			m.raw("</D:href><D:propstat><D:prop><D:resourcetype/><D:getcontentlength>")
			m.int(c.size)
			m.raw("</D:getcontentlength></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>")
		}
	}
	if err := m.close(); err != nil {
		h.log.DebugContext(r.Context(), "writing PROPFIND response", "err", err)
	}
	return 0, nil
}

// expireChunks removes the transfers, of every user, untouched for
// chunkExpiry; each new transfer sweeps (transfers are few, and a user who
// never comes back must not keep their chunks forever).
func (h *Handler) expireChunks(r *http.Request) {
	if err := h.chunkStore.expire(r.Context(), h.now().Add(-chunkExpiry)); err != nil {
		h.log.WarnContext(r.Context(), "cannot remove expired chunked uploads", "err", err)
	}
}

// chunkReader reads a transfer's chunks one after the other, opening each
// when the one before is read: one open chunk at a time.
type chunkReader struct {
	ctx      context.Context
	store    chunkStore
	uid      int64
	transfer string
	chunks   []chunkFile
	cur      io.ReadCloser
}

func (c *chunkReader) Read(p []byte) (int, error) {
	for {
		if c.cur == nil {
			if len(c.chunks) == 0 {
				return 0, io.EOF
			}
			f, err := c.store.open(c.ctx, c.uid, c.transfer, c.chunks[0].name)
			if err != nil {
				return 0, fmt.Errorf("chunk %s: %w", c.chunks[0].name, err)
			}
			c.cur, c.chunks = f, c.chunks[1:]
		}
		n, err := c.cur.Read(p)
		if err == io.EOF {
			c.cur.Close()
			c.cur = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

func (c *chunkReader) Close() error {
	if c.cur != nil {
		return c.cur.Close()
	}
	return nil
}

func escapePath(p string) string { return (&url.URL{Path: p}).EscapedPath() }
