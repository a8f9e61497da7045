package dav

// The mounts the ownCloud and Nextcloud desktop clients expect
// (docs/protocols/clients.md, "Desktop sync clients"): the same WebDAV,
// with the spaces the caller may read as the folders of one root.
//
//	/remote.php/dav/files/<user>/<space>/<path>   (the caller's own name only)
//	/remote.php/webdav/<space>/<path>             (the older name of the same)
//
// The root itself is read-only and lists the spaces; below it everything
// is served exactly as under /dav/spaces/, with the same authorization.

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/internal/api"
	"github.com/wharfhq/wharf/store"
)

// The sync clients' URL prefixes.
const (
	WebDAVPrefix  = "/remote.php/webdav/"
	FilesPrefix   = "/remote.php/dav/files/"
	UploadsPrefix = "/remote.php/dav/uploads/"
)

func (h *Handler) syncRoutes() []api.Route {
	rs := []api.Route{
		{Pattern: WebDAVPrefix, Handler: http.HandlerFunc(h.route), Surface: api.SurfaceDAV},
		{Pattern: strings.TrimSuffix(WebDAVPrefix, "/"), Handler: h, Surface: api.SurfaceDAV},
		{Pattern: FilesPrefix, Handler: http.HandlerFunc(h.route), Surface: api.SurfaceDAV},
	}
	if h.cfg.ChunkDir != "" {
		rs = append(rs, api.Route{Pattern: UploadsPrefix, Handler: http.HandlerFunc(h.serveChunks), Surface: api.SurfaceDAV})
	}
	return rs
}

// syncMount tells whether urlPath is under one of the sync clients' mounts
// and, if so, returns the mount's base (ending in "/") and the rest of the
// path below it, without its slashes at either end. A files/<user>/ mount
// of another user than the caller's is an error: it does not exist for
// them.
func syncMount(urlPath string, p *auth.Principal) (base, rest string, ok bool, err error) {
	if urlPath == strings.TrimSuffix(WebDAVPrefix, "/") {
		return WebDAVPrefix, "", true, nil
	}
	if rest, ok := strings.CutPrefix(urlPath, WebDAVPrefix); ok {
		return WebDAVPrefix, strings.Trim(rest, "/"), true, nil
	}
	rest, ok = strings.CutPrefix(urlPath, FilesPrefix)
	if !ok {
		return "", "", false, nil
	}
	user, rest, _ := strings.Cut(rest, "/")
	if p == nil || user != p.User.Name {
		return "", "", true, clientError("no such user folder")
	}
	return FilesPrefix + user + "/", strings.Trim(rest, "/"), true, nil
}

// ocPermissions are the ownCloud permission letters of a node for a role:
// what a client may try. R: share (meaningless here, but what
// clients are used to); W: write the file; C, K: create files, folders
// in the folder; D, N, V: delete, rename, move it. A space's root can be
// filled but not deleted, renamed or moved; a viewer gets none (and its
// client does not upload).
func ocPermissions(role auth.Role, n *store.Node) string {
	switch {
	case !role.Allows(auth.Editor):
		return ""
	case n.IsDir && n.Path == "":
		return "RCK"
	case n.IsDir:
		return "RDNVCK"
	}
	return "RDNVW"
}

// propfindSyncRoot answers for the root of a sync mount: a read-only
// folder whose ETag changes when any of the caller's spaces changes (or
// the list of them does), holding one folder per readable space.
func (h *Handler) propfindSyncRoot(w http.ResponseWriter, r *http.Request, res resource, req propfindRequest, depth int) (int, error) {
	ctx := r.Context()
	roles, err := h.auth.SpaceRoles(ctx, auth.FromContext(ctx))
	if err != nil {
		return http.StatusInternalServerError, err
	}
	spaces, err := h.tree.Spaces(ctx)
	if err != nil {
		return http.StatusInternalServerError, err
	}
	sort.Slice(spaces, func(i, j int) bool { return spaces[i].ID < spaces[j].ID })
	var children []propEntry
	var size int64
	var mtime time.Time
	sum := sha256.New()
	for _, s := range spaces {
		role, ok := roles[s.ID]
		if !ok {
			continue
		}
		n, err := h.tree.Stat(ctx, s.ID, "")
		if err != nil {
			continue // deleted meanwhile
		}
		sum.Write([]byte(s.ID + "\x00" + n.ETag + "\x00" + string(role) + "\x00"))
		size += s.UsedBytes
		if n.MTime.After(mtime) {
			mtime = n.MTime
		}
		children = append(children, propEntry{node: &n, name: s.ID, path: s.ID, size: s.UsedBytes, hasSize: true, role: role, ownRole: true})
	}
	if mtime.IsZero() {
		mtime = time.Unix(0, 0)
	}
	root := store.Node{IsDir: true, ETag: `"` + hex.EncodeToString(sum.Sum(nil))[:16] + `"`, MTime: mtime, CTime: mtime}
	self := propEntry{node: &root, name: "", size: size, hasSize: true, role: auth.Viewer, ownRole: true}

	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.WriteHeader(http.StatusMultiStatus)
	m := newMSWriter(w)
	pw := newPropWriter(m, req, auth.Viewer, h.now())
	m.open()
	pw.response(&self, func() {
		m.raw("<D:href>")
		m.hrefText((&url.URL{Path: res.Base}).EscapedPath())
		m.raw("</D:href>")
	})
	if depth != 0 {
		for i := range children {
			c := &children[i]
			pw.response(c, func() {
				m.raw("<D:href>")
				m.hrefText(res.href(c.path, "", true))
				m.raw("</D:href>")
			})
		}
	}
	if err := m.close(); err != nil {
		h.log.DebugContext(ctx, "writing PROPFIND response", "err", err)
	}
	return 0, nil
}

// creationOnSyncRoot rewrites a tus creation made on the root of a sync
// mount, whose Upload-Metadata filename is "<space>/<path…>", into one on
// the space's root with filename "<path…>". ok is false when the filename
// names no file inside a space.
func creationOnSyncRoot(r *http.Request) (*http.Request, string, bool) {
	var out []string
	spaceID := ""
	for kv := range strings.SplitSeq(r.Header.Get("Upload-Metadata"), ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), " ")
		if k != "filename" {
			out = append(out, strings.TrimSpace(kv))
			continue
		}
		name, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			return r, "", false
		}
		id, rest, _ := strings.Cut(strings.TrimLeft(string(name), "/"), "/")
		if id == "" || rest == "" {
			return r, "", false
		}
		spaceID = id
		out = append(out, "filename "+base64.StdEncoding.EncodeToString([]byte(rest)))
	}
	if spaceID == "" {
		return r, "", false
	}
	r2 := r.Clone(r.Context())
	r2.Header.Set("Upload-Metadata", strings.Join(out, ","))
	return r2, spaceID, true
}
