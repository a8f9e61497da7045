package web

import (
	"net/http"
	"time"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/events"
	"github.com/wharfhq/wharf/internal/api"
	"github.com/wharfhq/wharf/space"
)

// The trash and versions API (docs/trash-versions.md). Roles: a space's
// viewers list versions and download them; its editors list the trash,
// restore trash items and versions (what they could have written
// themselves); its managers purge the trash (what cannot be undone).

// trashRoutes are the trash's and the versions' endpoints, for Routes.
func (h *Handler) trashRoutes(fn func(string, http.HandlerFunc, string) api.Route, sp string) []api.Route {
	return []api.Route{
		fn("GET "+sp+"/trash", h.handleTrash, ""),
		fn("POST "+sp+"/trash/{id}/restore", h.handleTrashRestore, ""),
		fn("DELETE "+sp+"/trash/{id}", h.handleTrashPurge, ""),
		fn("DELETE "+sp+"/trash", h.handleTrashPurge, ""),
		fn("GET "+sp+"/versions", h.handleVersions, ""),
		fn("GET "+sp+"/versions/{id}", h.handleVersionDownload, ""),
		fn("POST "+sp+"/versions/{id}/restore", h.handleVersionRestore, ""),
	}
}

type trashItemJSON struct {
	ID        string    `json:"id"`
	Path      string    `json:"path"`
	Dir       bool      `json:"dir"`
	Size      int64     `json:"size"`
	Files     int       `json:"files"`
	DeletedBy string    `json:"deleted_by"`
	DeletedAt time.Time `json:"deleted_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

type retainedJSON struct {
	TrashBytes   int64 `json:"trash_bytes"`
	TrashItems   int   `json:"trash_items"`
	VersionBytes int64 `json:"version_bytes"`
	Versions     int   `json:"versions"`
	// TrashDays, KeepVersions and VersionDays are the space's retention.
	TrashDays    int `json:"trash_days"`
	KeepVersions int `json:"keep_versions"`
	VersionDays  int `json:"version_days"`
}

// handleTrash serves GET .../trash: the items, newest first, and what the
// space keeps out of its tree.
func (h *Handler) handleTrash(w http.ResponseWriter, r *http.Request) {
	t, err := h.resolve(r, r.PathValue("space"), "", auth.Editor)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ctx := r.Context()
	items, err := h.tree.Trash(ctx, t.Space)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ret, err := h.tree.Retention(ctx, t.Space)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	sum, err := h.tree.Retained(ctx, t.Space)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	pr := principal(r)
	out := []trashItemJSON{}
	for _, it := range items {
		if !pr.Covers(t.Space, it.Path) {
			continue
		}
		out = append(out, trashItemJSON{ID: it.ID, Path: it.Path, Dir: it.IsDir, Size: it.Size, Files: it.Files,
			DeletedBy: it.DeletedBy, DeletedAt: it.DeletedAt.UTC(), ExpiresAt: it.DeletedAt.AddDate(0, 0, ret.TrashDays).UTC()})
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"items": out, "retained": retainedJSON{
		TrashBytes: sum.TrashBytes, TrashItems: sum.TrashItems, VersionBytes: sum.VersionBytes, Versions: sum.Versions,
		TrashDays: ret.TrashDays, KeepVersions: ret.KeepVersions, VersionDays: ret.VersionDays}})
}

// handleTrashRestore serves POST .../trash/{id}/restore with an optional
// {"to": "path"}: 200 and the node restored; 409 if its place (or to) is
// taken or its folder gone.
func (h *Handler) handleTrashRestore(w http.ResponseWriter, r *http.Request) {
	t, err := h.resolve(r, r.PathValue("space"), "", auth.Editor)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var in struct {
		To string `json:"to"`
	}
	if err := api.ReadJSON(r, 0, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	ctx := r.Context()
	it, err := h.tree.TrashItem(ctx, t.Space, r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	dst := it.Path
	if in.To != "" {
		if dst, err = space.Clean(in.To); err != nil || dst == "" {
			h.fail(w, r, api.BadRequest("invalid destination %q", in.To))
			return
		}
	}
	pr := principal(r)
	if !pr.Covers(t.Space, it.Path) || !pr.Covers(t.Space, dst) {
		h.fail(w, r, api.Forbidden("your token does not reach that path"))
		return
	}
	if err := h.locked(ctx, t.Space, dst); err != nil {
		h.fail(w, r, err)
		return
	}
	n, err := h.tree.Restore(ctx, t.Space, it.ID, in.To)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.publish(r, events.NodeCreated, t.Space, n.Path, &n, map[string]any{"restored_from_trash": it.ID})
	api.WriteJSON(w, http.StatusOK, map[string]any{"node": h.nodeJSON(t.Space, n)})
}

// handleTrashPurge serves DELETE .../trash/{id} (one item; 204) and DELETE
// .../trash (all; 200 {"purged": n}). Managers only.
func (h *Handler) handleTrashPurge(w http.ResponseWriter, r *http.Request) {
	t, err := h.resolve(r, r.PathValue("space"), "", auth.Manager)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if !principal(r).Covers(t.Space, "") {
		h.fail(w, r, api.Forbidden("your token does not reach the whole space"))
		return
	}
	var ids []string
	if id := r.PathValue("id"); id != "" {
		ids = []string{id}
	}
	n, err := h.tree.Purge(r.Context(), t.Space, ids...)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if len(ids) > 0 {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"purged": n})
}

type versionJSON struct {
	ID        string    `json:"id"`
	Size      int64     `json:"size"`
	MTime     time.Time `json:"mtime"`
	SHA256    string    `json:"sha256"`
	MIME      string    `json:"mime,omitempty"`
	CreatedBy string    `json:"replaced_by"`
	CreatedAt time.Time `json:"replaced_at"`
}

// handleVersions serves GET .../versions?path=P: the file's versions,
// newest first.
func (h *Handler) handleVersions(w http.ResponseWriter, r *http.Request) {
	t, err := h.resolve(r, r.PathValue("space"), r.URL.Query().Get("path"), auth.Viewer)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	vs, err := h.tree.Versions(r.Context(), t.Space, t.Path)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := []versionJSON{}
	for _, v := range vs {
		out = append(out, versionJSON{ID: v.ID, Size: v.Size, MTime: v.MTime.UTC(), SHA256: v.SHA256, MIME: v.MIME,
			CreatedBy: v.CreatedBy, CreatedAt: v.CreatedAt.UTC()})
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"path": t.Path, "versions": out})
}

// handleVersionDownload serves GET .../versions/{id}?path=P: the
// version's bytes, as a download.
func (h *Handler) handleVersionDownload(w http.ResponseWriter, r *http.Request) {
	t, err := h.resolve(r, r.PathValue("space"), r.URL.Query().Get("path"), auth.Viewer)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	f, v, err := h.tree.OpenVersion(r.Context(), t.Space, t.Path, r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	defer f.Close()
	hd := w.Header()
	ctype := v.MIME
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	_, name := splitLast(t.Path)
	hd.Set("Content-Type", ctype)
	hd.Set("Content-Disposition", "attachment; filename*=UTF-8''"+encodeRFC5987(name))
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Security-Policy", "sandbox")
	hd.Set("Cache-Control", "private, no-cache")
	http.ServeContent(w, r, "", v.MTime, f)
}

func splitLast(p string) (string, string) {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[:i], p[i+1:]
		}
	}
	return "", p
}

// handleVersionRestore serves POST .../versions/{id}/restore?path=P: the
// version becomes the file's content, the content a version; 200 and the
// file's node.
func (h *Handler) handleVersionRestore(w http.ResponseWriter, r *http.Request) {
	t, err := h.resolve(r, r.PathValue("space"), r.URL.Query().Get("path"), auth.Editor)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ctx := r.Context()
	if err := h.locked(ctx, t.Space, t.Path); err != nil {
		h.fail(w, r, err)
		return
	}
	n, err := h.tree.RestoreVersion(ctx, t.Space, t.Path, r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.publish(r, events.NodeUpdated, t.Space, n.Path, &n, map[string]any{"restored_version": r.PathValue("id")})
	api.WriteJSON(w, http.StatusOK, map[string]any{"node": h.nodeJSON(t.Space, n)})
}
