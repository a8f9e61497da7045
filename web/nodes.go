package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/events"
	"github.com/wharfhq/wharf/internal/api"
	"github.com/wharfhq/wharf/postproc"
	"github.com/wharfhq/wharf/space"
)

// spaceJSON is a space as GET SpacesPath lists it.
type spaceJSON struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Role  string `json:"role"`
	Quota int64  `json:"quota"`
	Used  int64  `json:"used"`
	// Retained is what the trash and versions hold (trash.go): it counts
	// against the quota beside Used.
	Retained int64 `json:"retained"`
}

// nodeJSON is a file or folder as the API answers it.
type nodeJSON struct {
	Name   string    `json:"name"`
	Path   string    `json:"path"`
	Dir    bool      `json:"dir"`
	Size   int64     `json:"size"`
	MTime  time.Time `json:"mtime"`
	MIME   string    `json:"mime"`
	ETag   string    `json:"etag"`
	ID     string    `json:"id"`
	SHA256 string    `json:"sha256"`
	Thumb  string    `json:"thumb"`
	// Meta is what is known of a file's content (files only, in the
	// answers of GET .../nodes/…).
	Meta *postproc.FileMeta `json:"meta,omitempty"`
}

func (h *Handler) nodeJSON(spaceID string, n space.Node) nodeJSON {
	out := nodeJSON{Name: n.Name, Path: n.Path, Dir: n.IsDir, Size: n.Size, MTime: n.MTime.UTC(), MIME: n.MIME,
		ETag: n.ETag, ID: strconv.FormatInt(n.ID, 10), SHA256: n.SHA256}
	if h.thumbFile(n) != "" {
		out.Thumb = apiURL(spaceID, "thumbs", n.Path)
	}
	return out
}

// apiURL is the escaped URL path of what (nodes, thumbs, download) of path
// p in a space.
func apiURL(spaceID, what, p string) string {
	return (&url.URL{Path: SpacesPath + "/" + spaceID + "/" + what + "/" + p}).EscapedPath()
}

// thumbFile returns the thumbnail the pipeline made of n, or "" if there
// is none. Only images are looked for, so a listing stats few files.
func (h *Handler) thumbFile(n space.Node) string {
	if h.cfg.ThumbsDir == "" || h.objectThumbs() || !thumbable(n) {
		return ""
	}
	name := filepath.Join(h.cfg.ThumbsDir, n.SHA256+".jpg")
	if fi, err := os.Stat(name); err != nil || !fi.Mode().IsRegular() {
		return ""
	}
	return name
}

func isHex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// target is a space and a path in it that a request names, resolved for
// the caller.
type target struct {
	Space string
	Path  string
	Role  auth.Role
}

// resolve checks the caller may see space id and has role need there, and
// cleans p. A space the caller has no role in, or that does not exist, is
// 404 (it does not exist for them); a role below need is 403; a write
// outside what the caller's token covers is 403.
func (h *Handler) resolve(r *http.Request, id, p string, need auth.Role) (target, error) {
	pr := principal(r)
	role, ok, err := h.auth.RoleIn(r.Context(), pr, id)
	if err != nil {
		return target{}, err
	}
	if !ok {
		return target{}, api.NotFound("no such space")
	}
	if _, err := h.tree.Space(r.Context(), id); errors.Is(err, space.ErrNotFound) {
		return target{}, api.NotFound("no such space")
	} else if err != nil {
		return target{}, err
	}
	clean, err := space.Clean(p)
	if err != nil {
		return target{}, api.BadRequest("invalid path %q: %v", p, err)
	}
	if !role.Allows(need) {
		if need == auth.Manager {
			return target{}, api.Forbidden("only the space's managers may do that")
		}
		return target{}, api.Forbidden("your role in this space does not allow changes")
	}
	if need != auth.Viewer && !pr.Covers(id, clean) {
		return target{}, api.Forbidden("your token does not reach that path")
	}
	return target{Space: id, Path: clean, Role: role}, nil
}

// handleSpaces serves GET SpacesPath: the spaces the caller has a role in
// (every space for an admin), ordered by name.
func (h *Handler) handleSpaces(w http.ResponseWriter, r *http.Request) {
	roles, err := h.auth.SpaceRoles(r.Context(), principal(r))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	all, err := h.tree.Spaces(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := []spaceJSON{}
	for _, s := range all {
		if role, ok := roles[s.ID]; ok {
			ret, err := h.tree.Retained(r.Context(), s.ID)
			if err != nil {
				h.fail(w, r, err)
				return
			}
			out = append(out, spaceJSON{ID: s.ID, Name: s.Name, Role: string(role), Quota: s.QuotaBytes, Used: s.UsedBytes, Retained: ret.Bytes()})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return strings.ToLower(out[i].Name) < strings.ToLower(out[j].Name) })
	api.WriteJSON(w, http.StatusOK, out)
}

// handleNode serves GET .../nodes/{path...}: a node, with its children if
// it is a folder.
func (h *Handler) handleNode(w http.ResponseWriter, r *http.Request) {
	t, err := h.resolve(r, r.PathValue("space"), r.PathValue("path"), auth.Viewer)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	n, err := h.tree.Stat(r.Context(), t.Space, t.Path)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if !n.IsDir {
		out := []nodeJSON{h.nodeJSON(t.Space, n)}
		if err := h.withMeta(r.Context(), out, []space.Node{n}); err != nil {
			h.fail(w, r, err)
			return
		}
		api.WriteJSON(w, http.StatusOK, map[string]any{"node": out[0]})
		return
	}
	children, err := h.tree.List(r.Context(), t.Space, t.Path)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]nodeJSON, len(children))
	for i, c := range children {
		out[i] = h.nodeJSON(t.Space, c)
	}
	if err := h.withMeta(r.Context(), out, children); err != nil {
		h.fail(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"node": h.nodeJSON(t.Space, n), "children": out})
}

// handleThumb serves GET .../thumbs/{path...}: the thumbnail of an image.
func (h *Handler) handleThumb(w http.ResponseWriter, r *http.Request) {
	t, err := h.resolve(r, r.PathValue("space"), r.PathValue("path"), auth.Viewer)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	n, err := h.tree.Stat(r.Context(), t.Space, t.Path)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	f, err := h.openThumb(r.Context(), n)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	defer f.Close()
	hd := w.Header()
	hd.Set("Content-Type", "image/jpeg")
	hd.Set("Cache-Control", "private, max-age=3600")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("ETag", `"thumb-`+n.SHA256+`"`)
	http.ServeContent(w, r, "", time.Time{}, f)
}

// handleDownload serves GET .../download/{path...}: the file as an
// attachment, with Range and conditional requests.
func (h *Handler) handleDownload(w http.ResponseWriter, r *http.Request) {
	t, err := h.resolve(r, r.PathValue("space"), r.PathValue("path"), auth.Viewer)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	f, n, err := h.tree.Open(r.Context(), t.Space, t.Path)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	defer f.Close()
	hd := w.Header()
	hd.Set("ETag", n.ETag)
	ctype := n.MIME
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	hd.Set("Content-Type", ctype)
	hd.Set("Content-Disposition", "attachment; filename*=UTF-8''"+encodeRFC5987(n.Name))
	// Files are data: never rendered as a page of this origin.
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Security-Policy", "sandbox")
	hd.Set("Cache-Control", "private, no-cache")
	http.ServeContent(w, r, "", n.MTime, f)
}

// encodeRFC5987 percent-encodes s for an ext-value (RFC 8187 §3.2.1):
// everything but attr-char.
func encodeRFC5987(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// locked refuses a change at p while a WebDAV client holds a lock that
// protects it (on p or below, on an ancestor with Depth infinity, or on the
// parent folder, whose membership the change alters): the web UI cannot
// present lock tokens, so it must not overwrite a client's work.
func (h *Handler) locked(ctx context.Context, spaceID, p string) error {
	if h.cfg.Locks == nil {
		return nil
	}
	locks, err := h.cfg.Locks.PathLocks(ctx, spaceID, p, true, h.cfg.Now())
	if err != nil {
		return err
	}
	parent, _ := splitPath(p)
	for _, l := range locks {
		switch {
		case l.Root == p, strings.HasPrefix(l.Root, p+"/"), p == "" && l.Root != "":
		case l.Root == parent, l.Depth != 0:
		default:
			continue
		}
		return &api.Error{Status: http.StatusLocked, Msg: "locked by a WebDAV client; try again when it is done"}
	}
	return nil
}

func splitPath(p string) (dir, name string) {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return "", p
	}
	return p[:i], p[i+1:]
}

// handleMkdir serves POST .../mkdir {"path","parents"}: 201 with the new
// folder; with parents, missing parents are made too and an existing
// folder is 200.
func (h *Handler) handleMkdir(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Path    string `json:"path"`
		Parents bool   `json:"parents"`
	}
	if err := api.ReadJSON(r, 0, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	t, err := h.resolve(r, r.PathValue("space"), in.Path, auth.Editor)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if t.Path == "" && !in.Parents {
		h.fail(w, r, &api.Error{Status: http.StatusConflict, Msg: "the space's root folder exists"})
		return
	}
	ctx := r.Context()
	var made *space.Node
	var p string
	segs := strings.Split(t.Path, "/")
	if !in.Parents {
		segs = []string{t.Path}
	}
	for _, seg := range segs {
		if t.Path == "" {
			break
		}
		if in.Parents && p != "" {
			p += "/"
		}
		p += seg
		if err := h.locked(ctx, t.Space, p); err != nil {
			h.fail(w, r, err)
			return
		}
		n, err := h.tree.Mkdir(ctx, t.Space, p)
		if errors.Is(err, space.ErrExists) {
			existing, serr := h.tree.Stat(ctx, t.Space, p)
			switch {
			case serr != nil:
				h.fail(w, r, serr)
				return
			case !existing.IsDir:
				h.fail(w, r, &api.Error{Status: http.StatusConflict, Msg: fmt.Sprintf("%q is a file", p)})
				return
			case !in.Parents:
				h.fail(w, r, &api.Error{Status: http.StatusConflict, Msg: fmt.Sprintf("%q exists", p)})
				return
			}
			made = nil
			continue
		}
		if err != nil {
			h.fail(w, r, err)
			return
		}
		h.publish(r, events.NodeCreated, t.Space, n.Path, &n, nil)
		made = &n
	}
	if made != nil {
		api.WriteJSON(w, http.StatusCreated, map[string]any{"node": h.nodeJSON(t.Space, *made)})
		return
	}
	n, err := h.tree.Stat(ctx, t.Space, t.Path)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"node": h.nodeJSON(t.Space, n)})
}

// handleMove serves POST .../move {"from","to","toSpace","overwrite"}:
// a move or rename, within the space or into another the caller may edit.
func (h *Handler) handleMove(w http.ResponseWriter, r *http.Request) {
	var in struct {
		From      string `json:"from"`
		To        string `json:"to"`
		ToSpace   string `json:"toSpace"`
		Overwrite bool   `json:"overwrite"`
	}
	if err := api.ReadJSON(r, 0, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	src, err := h.resolve(r, r.PathValue("space"), in.From, auth.Editor)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if in.ToSpace == "" {
		in.ToSpace = src.Space
	}
	dst, err := h.resolve(r, in.ToSpace, in.To, auth.Editor)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	switch {
	case src.Path == "":
		h.fail(w, r, api.BadRequest("a space's root folder cannot be moved"))
		return
	case dst.Path == "":
		h.fail(w, r, api.BadRequest("the target cannot be a space's root folder"))
		return
	case src.Space == dst.Space && src.Path == dst.Path:
		h.fail(w, r, api.BadRequest("source and target are the same"))
		return
	}
	ctx := r.Context()
	if _, err := h.tree.Stat(ctx, src.Space, src.Path); err != nil {
		h.fail(w, r, err)
		return
	}
	for _, t := range []target{src, dst} {
		if err := h.locked(ctx, t.Space, t.Path); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	_, err = h.tree.Move(ctx, src.Space, src.Path, dst.Space, dst.Path, in.Overwrite)
	switch {
	case errors.Is(err, space.ErrExists):
		h.fail(w, r, &api.Error{Status: http.StatusPreconditionFailed, Msg: fmt.Sprintf("%q exists", dst.Path)})
		return
	case errors.Is(err, space.ErrBadPath):
		h.fail(w, r, api.BadRequest("a folder cannot be moved into itself"))
		return
	case err != nil:
		h.fail(w, r, err)
		return
	}
	n, err := h.tree.Stat(ctx, dst.Space, dst.Path)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	// As WebDAV tells a MOVE: node.moved within a space; across spaces,
	// whose subscribers may differ, node.deleted and node.created.
	if src.Space == dst.Space {
		h.publishMove(r, dst.Space, src.Path, &n)
	} else {
		h.publish(r, events.NodeDeleted, src.Space, src.Path, nil, map[string]any{"to": dst.Space + "/" + n.Path})
		h.publish(r, events.NodeCreated, dst.Space, n.Path, &n, nil)
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"node": h.nodeJSON(dst.Space, n)})
}

// handleDelete serves DELETE .../nodes/{path...}: a file, or a folder with
// everything in it.
func (h *Handler) handleDelete(w http.ResponseWriter, r *http.Request) {
	t, err := h.resolve(r, r.PathValue("space"), r.PathValue("path"), auth.Editor)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if t.Path == "" {
		h.fail(w, r, api.BadRequest("a space's root folder cannot be deleted; an admin deletes the space"))
		return
	}
	ctx := r.Context()
	n, err := h.tree.Stat(ctx, t.Space, t.Path)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.locked(ctx, t.Space, t.Path); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.tree.Delete(ctx, t.Space, t.Path); err != nil {
		h.fail(w, r, err)
		return
	}
	h.publish(r, events.NodeDeleted, t.Space, n.Path, &n, nil)
	w.WriteHeader(http.StatusNoContent)
}
