package dav

import (
	"net/http"

	"github.com/wharfhq/wharf/postproc"
	"github.com/wharfhq/wharf/store"
)

// Wharf's own properties, in the namespace nsWharf, show what processing
// knows of a file's content (postproc.FileMeta): the image's width and
// height, the camera's make and model, the capture time and orientation
// from EXIF, and whether the virus scanner found it clean. They are live
// and protected (PROPPATCH answers 403), listed by propname, returned when
// named or included in an allprop, never in a plain allprop: each costs a
// look-up beyond the node index, and allprop is what desktop clients send
// for every listing. A property a file does not have is 404 when named.

// contentsFor returns the reader of what is known of files' contents for
// the PROPFIND r, logging failures (the properties are then left out).
func (h *Handler) contentsFor(r *http.Request) func([]store.Node) map[string]store.Content {
	return func(nodes []store.Node) map[string]store.Content {
		m, err := h.tree.Contents(r.Context(), nodes...)
		if err != nil {
			if r.Context().Err() == nil {
				h.log.ErrorContext(r.Context(), "cannot read what is known of file contents", "err", err)
			}
			return nil
		}
		return m
	}
}

// wantsWharf reports whether the request shows any of Wharf's properties.
func (pw *propWriter) wantsWharf() bool {
	if pw.contents == nil {
		return false
	}
	if pw.req.Kind == findPropName {
		return true
	}
	for lp := lpWharfWidth; lp < numLiveProps; lp++ {
		if pw.want[lp] {
			return true
		}
	}
	return false
}

// prefetch reads what is known of the contents of a batch of a listing in
// one query, when the request shows Wharf's properties.
func (pw *propWriter) prefetch(nodes []store.Node) {
	if len(nodes) == 0 || !pw.wantsWharf() {
		return
	}
	pw.remember(pw.contents(nodes))
}

func (pw *propWriter) remember(m map[string]store.Content) {
	if pw.known == nil || len(pw.known) > 10000 {
		pw.known = map[string]store.Content{}
	}
	for k, v := range m {
		pw.known[k] = v
	}
}

// fileMeta returns what is known of e's content; ok is false for a
// collection or when nothing can be read.
func (pw *propWriter) fileMeta(e *propEntry) (postproc.FileMeta, bool) {
	n := e.node
	if n == nil || n.IsDir || pw.contents == nil {
		return postproc.FileMeta{}, false
	}
	c, ok := pw.known[n.SHA256]
	if !ok {
		m := pw.contents([]store.Node{*n})
		if m == nil {
			return postproc.FileMeta{}, false
		}
		pw.remember(m)
		c = m[n.SHA256]
		pw.known[n.SHA256] = c // remembered even when nothing is known
	}
	return postproc.Describe(*n, c), true
}

func (pw *propWriter) hasWharf(e *propEntry, lp liveProp) bool {
	m, ok := pw.fileMeta(e)
	if !ok {
		return false
	}
	switch lp {
	case lpWharfWidth, lpWharfHeight:
		return m.Width > 0 && m.Height > 0
	case lpWharfMake:
		return m.Make != ""
	case lpWharfModel:
		return m.Model != ""
	case lpWharfCaptured:
		return m.Captured != ""
	case lpWharfOrientation:
		return m.Orientation != 0
	case lpWharfScanned:
		return true
	}
	return false
}

// writeWharf writes the value of Wharf's property lp of e, which has it.
func (pw *propWriter) writeWharf(e *propEntry, lp liveProp) {
	m, _ := pw.fileMeta(e)
	switch lp {
	case lpWharfWidth:
		pw.m.int(int64(m.Width))
	case lpWharfHeight:
		pw.m.int(int64(m.Height))
	case lpWharfMake:
		pw.m.text(m.Make)
	case lpWharfModel:
		pw.m.text(m.Model)
	case lpWharfCaptured:
		pw.m.text(m.Captured)
	case lpWharfOrientation:
		pw.m.int(int64(m.Orientation))
	case lpWharfScanned:
		if m.Scanned {
			pw.m.raw("true")
		} else {
			pw.m.raw("false")
		}
	}
}
