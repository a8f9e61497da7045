package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

// static is the UI: index.html (the app shell) and the files it loads.
//
//go:embed static
var static embed.FS

// uiHeaders go on every page and static file: the UI runs only its own
// scripts and styles and cannot be framed.
var uiHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
		"connect-src 'self'; font-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
	"X-Content-Type-Options": "nosniff",
	"Referrer-Policy":        "same-origin",
	"X-Frame-Options":        "DENY",
}

// asset is one embedded file, read once.
type asset struct {
	body  []byte
	ctype string
	etag  string
}

// pages serves the app shell and the static files.
type pages struct {
	files map[string]*asset // by path below static/, e.g. "app.js"
}

func newPages() (*pages, error) {
	p := &pages{files: map[string]*asset{}}
	err := fs.WalkDir(static, "static", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := static.ReadFile(name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ctype := mime.TypeByExtension(path.Ext(name))
		switch path.Ext(name) {
		case ".js", ".mjs":
			ctype = "text/javascript; charset=utf-8" // whatever the host's mime.types says
		case ".css":
			ctype = "text/css; charset=utf-8"
		case ".html":
			ctype = "text/html; charset=utf-8"
		case ".svg":
			ctype = "image/svg+xml"
		case ".json", ".map":
			ctype = "application/json"
		}
		if ctype == "" {
			ctype = http.DetectContentType(b)
		}
		p.files[strings.TrimPrefix(name, "static/")] = &asset{body: b, ctype: ctype,
			etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("web: read the embedded UI: %w", err)
	}
	if p.files["index.html"] == nil {
		return nil, errors.New("web: the embedded UI has no index.html")
	}
	return p, nil
}

// ServeHTTP serves GET and HEAD of "/", UIPrefix and what is below it.
func (p *pages) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	for k, v := range uiHeaders {
		w.Header().Set(k, v)
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	var a *asset
	switch rest, isStatic := strings.CutPrefix(r.URL.Path, StaticPrefix); {
	case isStatic:
		a = p.files[rest]
		if strings.HasPrefix(rest, "index.html") {
			a = nil // the shell is served at its routes only
		}
	case r.URL.Path == "/" || r.URL.Path == "/ui" || strings.HasPrefix(r.URL.Path, UIPrefix):
		// A route of the single-page app: the last segment has no dot,
		// so that a mistyped file name is a 404, not the shell.
		if !strings.Contains(path.Base(r.URL.Path), ".") {
			a = p.files["index.html"]
		}
	}
	if a == nil {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", a.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}
