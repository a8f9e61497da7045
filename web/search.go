package web

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wharfhq/wharf/internal/api"
	"github.com/wharfhq/wharf/space"
)

// SearchPath is the search API.
const SearchPath = "/api/v1/search"

// maxSearchResults bounds ?limit.
const maxSearchResults = 500

// searchHit is a node found, with its space.
type searchHit struct {
	Space string `json:"space"`
	nodeJSON
}

// handleSearch serves GET /api/v1/search?q=&type=&min_size=&max_size=
// &after=&before=&space=&limit=: nodes whose name holds q (case and
// accents ignored) in the spaces the caller may read (space= narrows them:
// one id, or several, comma-separated or repeated), a file's type (file,
// dir, or a MIME type or its first part: image), its size in bytes, its
// modification time (RFC 3339 or YYYY-MM-DD; after inclusive, before
// exclusive). At most limit (100, at most 500) results; truncated says
// whether there may be more.
func (h *Handler) handleSearch(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	v := r.URL.Query()
	q := space.SearchQuery{Text: v.Get("q"), Type: v.Get("type"), MinSize: -1, MaxSize: -1, Limit: 100}
	bad := func(msg string) { h.fail(w, r, &api.Error{Status: http.StatusBadRequest, Msg: msg}) }
	var err error
	for _, f := range []struct {
		name string
		dst  *int64
	}{{"min_size", &q.MinSize}, {"max_size", &q.MaxSize}} {
		if s := v.Get(f.name); s != "" {
			if *f.dst, err = strconv.ParseInt(s, 10, 64); err != nil || *f.dst < 0 {
				bad(f.name + " must be a number of bytes")
				return
			}
		}
	}
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"after", &q.After}, {"before", &q.Before}} {
		if s := v.Get(f.name); s != "" {
			if *f.dst, err = parseDate(s); err != nil {
				bad(f.name + " must be a date (2006-01-02) or a time (RFC 3339)")
				return
			}
		}
	}
	if s := v.Get("limit"); s != "" {
		if q.Limit, err = strconv.Atoi(s); err != nil || q.Limit < 1 || q.Limit > maxSearchResults {
			bad("limit must be between 1 and " + strconv.Itoa(maxSearchResults))
			return
		}
	}
	if len(q.Text) > 200 {
		bad("q is too long")
		return
	}
	roles, err := h.auth.SpaceRoles(r.Context(), p)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var asked []string
	for _, s := range v["space"] {
		for _, id := range strings.Split(s, ",") {
			if id = strings.TrimSpace(id); id != "" {
				asked = append(asked, id)
			}
		}
	}
	for id := range roles {
		if len(asked) == 0 || slices.Contains(asked, id) {
			q.Spaces = append(q.Spaces, id)
		}
	}
	slices.Sort(q.Spaces)
	found, err := h.tree.Search(r.Context(), q)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]searchHit, 0, len(found))
	for _, n := range found {
		// A token narrowed to a folder finds only what is below it.
		if p.Covers(n.SpaceID, n.Path) {
			out = append(out, searchHit{Space: n.SpaceID, nodeJSON: h.nodeJSON(n.SpaceID, n)})
		}
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"results": out, "truncated": len(found) == q.Limit})
}

func parseDate(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Parse(time.DateOnly, s)
}
