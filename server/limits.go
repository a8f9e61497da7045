package server

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/internal/api"
	"github.com/wharfhq/wharf/links"
)

// Limits on what one client may hold of the server: hostile or broken
// clients get a plain refusal instead of tying up connections, goroutines
// and disk.

const (
	// defaultBodyTimeout is the window in which a request body must make
	// progress (see guardBody).
	defaultBodyTimeout = 60 * time.Second
	// minBodyProgress is the progress a body must make in each window:
	// about 270 bytes a second over 60 s, far below any real link.
	minBodyProgress = 16 << 10
	// defaultUploadsPerUser is Config.UploadsPerUser's default.
	defaultUploadsPerUser = 16
)

// rejectDotSegments answers 400 to a request whose path has a "." or ".."
// element, literal or percent-encoded: such a path is never one a client
// meant, and ServeMux would otherwise redirect it (307) to a cleaned path
// elsewhere, possibly in another space.
func (a *app) rejectDotSegments(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for e := range strings.SplitSeq(r.URL.Path, "/") {
			if e == "." || e == ".." {
				a.refuse(w, r, nil, http.StatusBadRequest, `the path has a "." or ".." element`)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// refuse answers a refusal of the server's own: JSON to the surfaces whose
// clients read JSON, plain text to the others (WebDAV and tus clients show
// text). rt is the route r matched; nil: r has not reached the mux.
func (a *app) refuse(w http.ResponseWriter, r *http.Request, rt *api.Route, status int, msg string) {
	if a.surface(r, rt).JSON() {
		a.writeError(w, r, &api.Error{Status: status, Msg: msg})
		return
	}
	api.WriteText(w, status, msg)
}

// limitScopes refuses (403) a request made with a token whose scopes do
// not include what its route needs. It runs after requireAuth.
func (a *app) limitScopes(rt *api.Route, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := auth.FromContext(r.Context())
		if p != nil && p.Token != nil && len(p.Token.Scopes) > 0 {
			if need := rt.NeedScope(r); !p.HasScope(need) {
				a.refuse(w, r, rt, http.StatusForbidden, "this token's scopes ("+strings.Join(p.Token.Scopes, ", ")+
					") do not include "+need+", which "+r.Method+" "+r.URL.Path+" needs")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// limitUploadTokens keeps callers authenticated by an upload token to the
// routes that admit one (creating, resuming and watching the tus uploads
// it made, finalizing them); everything else is 403. It runs after
// requireAuth.
func (a *app) limitUploadTokens(rt *api.Route, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := auth.FromContext(r.Context())
		if p == nil || p.Token == nil || p.Token.Kind != auth.KindUpload || rt.UploadToken != nil && rt.UploadToken(r, p.Token) {
			next.ServeHTTP(w, r)
			return
		}
		a.refuse(w, r, rt, http.StatusForbidden, "an upload token may only create and resume tus uploads and finalize them")
	})
}

// errSlowBody is what a guarded body returns once it has been cut. It
// wraps os.ErrDeadlineExceeded so that handlers treat it as the timeout
// it is (WebDAV answers 408).
var errSlowBody = fmt.Errorf("the request body arrived too slowly: %w", os.ErrDeadlineExceeded)

// guardBody cuts request bodies that stall or trickle: each body must
// deliver at least minBodyProgress bytes in every window of
// Config.BodyTimeout, or its reads fail with errSlowBody and the
// connection's read deadline is set in the past, which closes it. Each
// window of sufficient progress pushes the read deadline one window
// further, so a slow but steady upload of any size goes through, and a
// body sent all at once or smaller than minBodyProgress is never cut
// before a whole window has passed. net/http has no body-level timeout
// short of ReadTimeout, which would cut large uploads.
func (a *app) guardBody(next http.Handler) http.Handler {
	window := a.cfg.BodyTimeout
	if window <= 0 {
		window = defaultBodyTimeout
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		now := time.Now()
		if err := rc.SetReadDeadline(now.Add(window)); err != nil {
			next.ServeHTTP(w, r) // not a net/http connection (tests)
			return
		}
		gb := &guardedBody{rc: r.Body, ctl: rc, window: window, start: now, remain: r.ContentLength}
		r.Body = gb
		next.ServeHTTP(w, r)
		if !gb.cut {
			// A handler that refused the request without reading its
			// body leaves the deadline set for net/http's discarding
			// of the rest.
			rc.SetReadDeadline(time.Time{})
		}
	})
}

// guardedBody is a request body under guardBody's rule. Handlers read a
// body from one goroutine at a time.
type guardedBody struct {
	rc     io.ReadCloser
	ctl    *http.ResponseController
	window time.Duration
	start  time.Time // of the current window
	got    int64     // bytes in the current window
	remain int64     // bytes still to come (Content-Length), or -1: unknown
	cut    bool
}

func (b *guardedBody) Read(p []byte) (int, error) {
	if b.cut {
		return 0, errSlowBody
	}
	n, err := b.rc.Read(p)
	b.got += int64(n)
	if b.remain > 0 {
		b.remain -= int64(n)
	}
	now := time.Now()
	switch {
	case err == io.EOF || b.remain == 0 && err == nil:
		// The body is in: whatever the handler does next (processing
		// may take minutes) is no longer bounded by the body's pace.
		// net/http now reads the connection in the background to notice
		// the client going away; under the deadline that read would end
		// the request once the window passed. A handler that reads
		// exactly Content-Length bytes never sees EOF, hence remain.
		b.ctl.SetReadDeadline(time.Time{})
		return n, err
	case errors.Is(err, os.ErrDeadlineExceeded):
		b.cut = true
		return n, errSlowBody
	case err != nil:
		return n, err
	case b.got >= minBodyProgress:
		b.start, b.got = now, 0
		b.ctl.SetReadDeadline(now.Add(b.window))
	case now.Sub(b.start) > b.window:
		b.cut = true
		b.ctl.SetReadDeadline(time.Unix(1, 0))
		return n, errSlowBody
	}
	return n, nil
}

func (b *guardedBody) Close() error { return b.rc.Close() }

// uploadGate counts each user's uploads in flight.
type uploadGate struct {
	mu      sync.Mutex
	max     int
	running map[string]int
}

func (g *uploadGate) enter(user string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.running[user] >= g.max {
		return false
	}
	g.running[user]++
	return true
}

func (g *uploadGate) leave(user string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.running[user]--; g.running[user] <= 0 {
		delete(g.running, user)
	}
}

// isUpload reports whether r sends file bytes: PUT, PATCH, or a POST with
// a body (tus creation with data, oCIS-style creation, JSON bodies are
// small and quick and count too).
func isUpload(r *http.Request) bool {
	switch r.Method {
	case http.MethodPut, http.MethodPatch:
		return true
	case http.MethodPost:
		return r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody
	}
	return false
}

// limitUploads returns the gate that lets each user have at most
// Config.UploadsPerUser uploads in flight, across all routes; beyond that
// the request gets 429 with Retry-After before its body is read. It runs
// after requireAuth.
func (a *app) limitUploads() func(*api.Route, http.Handler) http.Handler {
	g := a.uploadGate()
	if g == nil {
		return func(_ *api.Route, next http.Handler) http.Handler { return next }
	}
	return func(rt *api.Route, next http.Handler) http.Handler { return g.limit(a, rt, g.max, next) }
}

// uploadGate is the one gate of uploads in flight per user (nil: no
// limit), shared by the mux's routes (limitUploads) and the uploads of
// drop links (gatedLinkUploads), whose principal is known only once the
// link is resolved, behind a public route.
func (a *app) uploadGate() *uploadGate {
	a.gateOnce.Do(func() {
		n := a.cfg.UploadsPerUser
		if n == 0 {
			n = defaultUploadsPerUser
		}
		if n > 0 {
			a.gate = &uploadGate{max: n, running: map[string]int{}}
		}
	})
	return a.gate
}

// gatedLinkUploads passes the uploads of drop links through the gate of
// uploads in flight, counted for the link's creator (whose uploads they
// are, as their bytes in flight are).
type gatedLinkUploads struct {
	a    *app
	next links.Uploads
}

func (l gatedLinkUploads) ServeLink(w http.ResponseWriter, r *http.Request, p *auth.Principal, base, spaceID, dir, id string) {
	serve := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { l.next.ServeLink(w, r, p, base, spaceID, dir, id) })
	g := l.a.uploadGate()
	if g == nil || p == nil {
		serve(w, r)
		return
	}
	g.limit(l.a, nil, g.max, serve).ServeHTTP(w, r.WithContext(auth.NewContext(r.Context(), p)))
}

func (g *uploadGate) limit(a *app, rt *api.Route, n int, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := auth.FromContext(r.Context())
		if p == nil || !isUpload(r) {
			next.ServeHTTP(w, r)
			return
		}
		user := p.User.Name
		if !g.enter(user) {
			w.Header().Set("Retry-After", "5")
			if r.Header.Get("Tus-Resumable") != "" {
				w.Header().Set("Tus-Resumable", "1.0.0")
			}
			a.refuse(w, r, rt, http.StatusTooManyRequests,
				"too many uploads in progress for "+p.Name()+" (at most "+strconv.Itoa(n)+" at once); retry when one has finished")
			return
		}
		defer g.leave(user)
		next.ServeHTTP(w, r)
	})
}
