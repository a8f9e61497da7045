package links

import (
	"archive/zip"
	"errors"
	"io"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/internal/api"
	"github.com/wharfhq/wharf/space"
	"github.com/wharfhq/wharf/store"
)

// serveLink serves Prefix + secret [+ "/" + rest]: a link's password
// form, file, listing, zip, drop page or tus endpoint.
func (h *Handler) serveLink(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	// The secret is in the URL: never send it on as a Referer, never
	// cache or index what it shows.
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("X-Robots-Tag", "noindex, nofollow")
	secret, rest := r.PathValue("secret"), r.PathValue("rest")
	ctx := r.Context()
	l, err := h.auth.ResolveLink(ctx, secret)
	if errors.Is(err, auth.ErrLinkGone) {
		h.refuse(w, r, http.StatusNotFound, "This link does not exist, has expired or was revoked.")
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	api.NoteUser(w, "link:"+l.ID)
	base := Prefix + secret + "/"
	if l.PasswordHash != "" && !h.admitted(w, r, l, base, rest) {
		return
	}
	if l.Kind == store.LinkUpload {
		h.serveDrop(w, r, l, base, rest)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		h.refuse(w, r, http.StatusMethodNotAllowed, "A share link can only be read.")
		return
	}
	rel, err := space.Clean(rest)
	if err != nil || strings.Contains("/"+rest+"/", "/../") {
		h.refuse(w, r, http.StatusNotFound, "No such file.")
		return
	}
	if !l.IsDir && rel != "" {
		h.refuse(w, r, http.StatusNotFound, "No such file.")
		return
	}
	full := joinPath(l.Path, rel)
	n, err := h.tree.Stat(ctx, l.SpaceID, full)
	if errors.Is(err, space.ErrNotFound) || errors.Is(err, space.ErrBadPath) {
		h.refuse(w, r, http.StatusNotFound, "No such file.")
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if !n.IsDir {
		h.serveFile(w, r, l, full)
		return
	}
	if wantsZip(r) {
		h.serveZip(w, r, l, n)
		return
	}
	h.serveListing(w, r, l, n, base, rel)
}

// admitted checks the password of link l: a cookie set by the password
// form, or Basic credentials (any user name, the link's password), checked
// through the throttle. A POST of the form sets the cookie. When the
// caller is not admitted it answers and returns false.
func (h *Handler) admitted(w http.ResponseWriter, r *http.Request, l store.Link, base, rest string) bool {
	name := "wharf_link_" + l.ID
	if c, err := r.Cookie(name); err == nil && h.auth.LinkCookieOK(l, c.Value) {
		return true
	}
	var password string
	form := r.Method == http.MethodPost && rest == "" && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded")
	if form {
		r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
		password = r.PostFormValue("password")
	} else if _, pw, ok := r.BasicAuth(); ok {
		password = pw
	}
	err := h.auth.CheckLinkPassword(r.Context(), r.RemoteAddr, l, password)
	var te *auth.ThrottledError
	switch {
	case err == nil:
		if form {
			http.SetCookie(w, &http.Cookie{Name: name, Value: h.auth.LinkCookie(l), Path: strings.TrimSuffix(base, "/"),
				HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode})
			http.Redirect(w, r, base, http.StatusSeeOther)
			return false
		}
		return true
	case errors.As(err, &te):
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(te.RetryAfter.Seconds()+0.999))))
		h.refuse(w, r, http.StatusTooManyRequests, "Too many wrong passwords for this link; try again later.")
	case errors.Is(err, auth.ErrLinkPassword):
		if password != "" || !wantsHTML(r) || r.Method != http.MethodGet && !form {
			w.Header().Set("WWW-Authenticate", `Basic realm="Wharf link", charset="UTF-8"`)
		}
		if wantsHTML(r) && (r.Method == http.MethodGet || form) {
			w.Header().Set("Cache-Control", "no-store")
			h.page(w, http.StatusUnauthorized, "password", map[string]any{"Action": strings.TrimSuffix(base, "/"), "Wrong": password != ""})
			return false
		}
		h.refuse(w, r, http.StatusUnauthorized, "This link needs its password (send it as the Basic password).")
	default:
		h.fail(w, r, err)
	}
	return false
}

// serveDrop serves a drop link: its page, and its tus endpoint.
func (h *Handler) serveDrop(w http.ResponseWriter, r *http.Request, l store.Link, base, rest string) {
	if rest == "tus" || strings.HasPrefix(rest, "tus/") {
		if h.cfg.Uploads == nil {
			h.refuse(w, r, http.StatusServiceUnavailable, "Uploads are not available.")
			return
		}
		p, err := h.auth.LinkPrincipal(r.Context(), l)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		id := strings.Trim(strings.TrimPrefix(rest, "tus"), "/")
		h.cfg.Uploads.ServeLink(w, r, p, base+"tus/", l.SpaceID, l.Path, id)
		return
	}
	if rest != "" || r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.refuse(w, r, http.StatusNotFound, "Nothing here: this link only takes files.")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	h.page(w, http.StatusOK, "drop", map[string]any{"Endpoint": base + "tus/", "Label": l.Label})
}

// serveFile serves file full of link l through http.ServeContent, as
// WebDAV's GET does, counting a download unless it is a HEAD or a Range
// continuing one.
func (h *Handler) serveFile(w http.ResponseWriter, r *http.Request, l store.Link, full string) {
	f, n, err := h.tree.Open(r.Context(), l.SpaceID, full)
	if errors.Is(err, space.ErrNotFound) {
		h.refuse(w, r, http.StatusNotFound, "No such file.")
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	defer f.Close()
	if r.Method == http.MethodGet && !continues(r.Header.Get("Range")) {
		if !h.charge(w, r, l) {
			return
		}
	}
	hd := w.Header()
	hd.Set("ETag", n.ETag)
	if n.MIME != "" {
		hd.Set("Content-Type", n.MIME)
	}
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Security-Policy", "sandbox")
	hd.Set("Cache-Control", "private, no-cache")
	hd.Set("Content-Disposition", disposition("inline", n.Name))
	http.ServeContent(w, r, n.Name, n.MTime, f)
}

// continues reports whether Range header rg asks for one range starting
// past the first byte: a download resumed, which is not counted again.
// Anything else that may reach byte 0 (no Range, a suffix range, several
// ranges, a start of 0 however written) is a download.
func continues(rg string) bool {
	spec, ok := strings.CutPrefix(strings.TrimSpace(rg), "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return false
	}
	start, _, ok := strings.Cut(strings.TrimSpace(spec), "-")
	n, err := strconv.ParseInt(strings.TrimSpace(start), 10, 64)
	return ok && err == nil && n > 0
}

// charge counts a download of l; when its limit is reached it answers 410
// and returns false.
func (h *Handler) charge(w http.ResponseWriter, r *http.Request, l store.Link) bool {
	ctx := background(r.Context())
	err := h.cfg.DB.Update(ctx, func(tx *store.Tx) error { return tx.ChargeLink(ctx, l.ID, store.LinkRead) })
	switch {
	case err == nil:
		return true
	case errors.Is(err, store.ErrLinkUsedUp):
		h.refuse(w, r, http.StatusGone, "This link's downloads are used up.")
	case errors.Is(err, store.ErrNotFound):
		h.refuse(w, r, http.StatusNotFound, "This link does not exist, has expired or was revoked.")
	default:
		h.fail(w, r, err)
	}
	return false
}

// serveZip streams folder dir of link l as a zip, each file stored as it
// is (no compression: most shared files are compressed already, and the
// archive streams at disk speed). The archive's names are below the
// folder's name. A file that vanishes meanwhile is left out.
func (h *Handler) serveZip(w http.ResponseWriter, r *http.Request, l store.Link, dir space.Node) {
	if r.Method == http.MethodGet && !h.charge(w, r, l) {
		return
	}
	ctx := r.Context()
	nodes, err := h.tree.Descendants(ctx, l.SpaceID, dir.Path)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	top := dir.Name
	if top == "" {
		top = "files"
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/zip")
	hd.Set("Content-Disposition", disposition("attachment", top+".zip"))
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	zw := zip.NewWriter(w)
	for _, n := range nodes {
		rel := strings.TrimPrefix(n.Path, dir.Path)
		name := top + "/" + strings.TrimPrefix(rel, "/")
		if n.IsDir {
			if _, err := zw.CreateHeader(&zip.FileHeader{Name: name + "/", Modified: n.MTime}); err != nil {
				return
			}
			continue
		}
		f, _, err := h.tree.Open(ctx, l.SpaceID, n.Path)
		if err != nil {
			continue
		}
		fw, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store, Modified: n.MTime})
		if err == nil {
			_, err = io.Copy(fw, f)
		}
		f.Close()
		if err != nil {
			// The client left, or the disk failed: the archive is cut
			// short and the client sees a broken zip, not a whole one.
			h.log.WarnContext(ctx, "zip of a link cut short", "link", l.ID, "err", err)
			return
		}
	}
	if err := zw.Close(); err != nil {
		h.log.WarnContext(ctx, "zip of a link cut short", "link", l.ID, "err", err)
	}
}

// entry is a row of a listing page.
type entry struct {
	Name, Href, Size, Modified string
	IsDir                      bool
}

// serveListing answers the read-only listing page of folder dir (rel below
// the link's folder).
func (h *Handler) serveListing(w http.ResponseWriter, r *http.Request, l store.Link, dir space.Node, base, rel string) {
	if !strings.HasSuffix(r.URL.Path, "/") {
		// Relative links in the page resolve against a folder's URL.
		to := base
		if rel != "" {
			to += escapePath(rel) + "/"
		}
		http.Redirect(w, r, to, http.StatusMovedPermanently)
		return
	}
	nodes, err := h.tree.List(r.Context(), l.SpaceID, dir.Path)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	// Folders first, then files, each by name as the index orders them.
	sort.SliceStable(nodes, func(i, j int) bool { return nodes[i].IsDir && !nodes[j].IsDir })
	var es []entry
	for _, n := range nodes {
		// "./": a name such as "https:evil.example" would otherwise be
		// read as an absolute URL (another site) by the browser.
		e := entry{Name: n.Name, Href: "./" + url.PathEscape(n.Name), Modified: n.MTime.UTC().Format("2006-01-02 15:04"), IsDir: n.IsDir}
		if n.IsDir {
			e.Href += "/"
		} else {
			e.Size = formatSize(n.Size)
		}
		es = append(es, e)
	}
	title := path.Base("/" + l.Path)
	if title == "/" {
		title = "Shared files"
	}
	if rel != "" {
		title += " / " + rel
	}
	w.Header().Set("Cache-Control", "no-store")
	h.page(w, http.StatusOK, "listing", map[string]any{"Title": title, "Label": l.Label, "Entries": es, "Up": rel != ""})
}

// page renders one of the pages with the headers every page gets.
func (h *Handler) page(w http.ResponseWriter, status int, name string, data map[string]any) {
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "+
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	w.WriteHeader(status)
	if err := h.tmpl.ExecuteTemplate(w, name, data); err != nil {
		h.log.Warn("render link page", "page", name, "err", err)
	}
}

// refuse answers a refusal: a small page for a browser, plain text
// otherwise.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if wantsHTML(r) && r.Method == http.MethodGet {
		h.page(w, status, "refusal", map[string]any{"Message": msg})
		return
	}
	api.WriteText(w, status, msg)
}

func wantsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

func wantsZip(r *http.Request) bool {
	return r.URL.Query().Get("download") == "zip" || strings.Contains(r.Header.Get("Accept"), "application/zip")
}

func joinPath(dir, rel string) string {
	switch {
	case rel == "":
		return dir
	case dir == "":
		return rel
	}
	return dir + "/" + rel
}

func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

// disposition is a Content-Disposition header of type for file name.
func disposition(typ, name string) string {
	return typ + `; filename="` + strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return '_'
		}
		return r
	}, name) + `"; filename*=UTF-8''` + url.PathEscape(name)
}
