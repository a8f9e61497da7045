package links

import (
	"errors"
	"net/http"
	"time"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/internal/api"
	"github.com/wharfhq/wharf/space"
	"github.com/wharfhq/wharf/store"
)

// linkJSON is a link as the API shows it. The secret, and so the URL, is
// only in the answer that creates it.
type linkJSON struct {
	ID           string     `json:"id"`
	URL          string     `json:"url,omitempty"`
	Space        string     `json:"space"`
	Path         string     `json:"path"`
	IsDir        bool       `json:"isDir"`
	Kind         string     `json:"kind"`
	Label        string     `json:"label"`
	Password     bool       `json:"password"`
	Creator      string     `json:"creator"`
	CreatedAt    time.Time  `json:"createdAt"`
	ExpiresAt    *time.Time `json:"expiresAt,omitempty"`
	MaxDownloads int64      `json:"maxDownloads"`
	Downloads    int64      `json:"downloads"`
	MaxUploads   int64      `json:"maxUploads"`
	Uploads      int64      `json:"uploads"`
}

func toJSON(l store.Link) linkJSON {
	out := linkJSON{ID: l.ID, Space: l.SpaceID, Path: l.Path, IsDir: l.IsDir, Kind: l.Kind, Label: l.Label,
		Password: l.PasswordHash != "", Creator: l.Creator, CreatedAt: l.CreatedAt,
		MaxDownloads: l.MaxDownloads, Downloads: l.Downloads, MaxUploads: l.MaxUploads, Uploads: l.Uploads}
	if !l.ExpiresAt.IsZero() {
		t := l.ExpiresAt
		out.ExpiresAt = &t
	}
	return out
}

// handleCreate serves POST /api/v1/links: {"space", "path", "kind": "read"
// or "upload", "label", "password", "expires": "7d", "maxDownloads",
// "maxUploads"}. It answers 201 with the link and its URL.
func (h *Handler) handleCreate(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Space        string `json:"space"`
		Path         string `json:"path"`
		Kind         string `json:"kind"`
		Label        string `json:"label"`
		Password     string `json:"password"`
		Expires      string `json:"expires"`
		MaxDownloads int64  `json:"maxDownloads"`
		MaxUploads   int64  `json:"maxUploads"`
	}
	if err := api.ReadJSON(r, 0, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	p := auth.FromContext(r.Context())
	clean, err := space.Clean(in.Path)
	if err != nil || in.Space == "" {
		h.fail(w, r, &api.Error{Status: http.StatusBadRequest, Msg: "a link needs a space and a valid path"})
		return
	}
	o := auth.LinkOptions{SpaceID: in.Space, Path: clean, Kind: in.Kind, Label: in.Label, Password: in.Password,
		MaxDownloads: in.MaxDownloads, MaxUploads: in.MaxUploads}
	if in.Expires != "" {
		if o.TTL, err = ParseDuration(in.Expires); err != nil {
			h.fail(w, r, &api.Error{Status: http.StatusBadRequest, Msg: "expires: " + err.Error()})
			return
		}
	}
	l, secret, err := h.auth.CreateLink(r.Context(), p, o)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := toJSON(l)
	out.URL = URL(h.base(r), secret)
	api.WriteJSON(w, http.StatusCreated, out)
}

// handleList serves GET /api/v1/links[?space=ID]: the links the caller
// may see (all of a space it manages, else its own).
func (h *Handler) handleList(w http.ResponseWriter, r *http.Request) {
	ls, err := h.auth.Links(r.Context(), auth.FromContext(r.Context()), r.URL.Query().Get("space"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]linkJSON, 0, len(ls))
	for _, l := range ls {
		out = append(out, toJSON(l))
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"links": out})
}

// handleRevoke serves DELETE /api/v1/links/{id}: 204, or 404 for a link
// that does not exist or that the caller may not revoke.
func (h *Handler) handleRevoke(w http.ResponseWriter, r *http.Request) {
	_, err := h.auth.RevokeLink(r.Context(), auth.FromContext(r.Context()), r.PathValue("id"))
	if errors.Is(err, auth.ErrNotFound) {
		h.fail(w, r, api.NotFound("no such link"))
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
