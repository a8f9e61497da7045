package ocs

// Nextcloud's Login Flow v2, which the desktop clients use to sign in
// without ever being typed a password:
//
//  1. the client POSTs FlowPath and gets a poll token and endpoint, and a
//     login URL, which it opens in the user's browser;
//  2. the user signs in on that page (Wharf's, with the account
//     password: only the account password makes an app password, see
//     auth/mint.go) and a fresh app password is minted for the client;
//  3. the client polls the endpoint with its token and gets the server
//     URL, the user name and the app password, once.
//
// Flows live in memory for flowTTL: one that a restart loses is started
// again by the client; an app password minted for a flow that is never
// polled stays listed in the user's app passwords, where it can be revoked.

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"html/template"
	"net"
	"net/http"
	"time"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/internal/api"
)

// FlowPath is where Login Flow v2 starts.
const FlowPath = "/index.php/login/v2"

const (
	flowTTL  = 20 * time.Minute
	maxFlows = 1000
	// maxFlowsPerAddr bounds the pending flows of one client address, so
	// that one client cannot take all maxFlows.
	maxFlowsPerAddr = 20
)

type flow struct {
	poll, login string // the two secrets: the client's and the browser's
	client      string // the client's User-Agent, shown on the page
	addr        string // the client's address (its host), for maxFlowsPerAddr
	created     time.Time
	// Set once the user signed in.
	user, password string
}

func newSecret() string {
	var b [32]byte
	rand.Read(b[:]) // never fails: crypto/rand crashes the program instead
	return hex.EncodeToString(b[:])
}

// expire drops old flows; the caller holds h.mu.
func (h *Handler) expire() {
	cutoff := h.cfg.Now().Add(-flowTTL)
	for k, f := range h.flows {
		if f.created.Before(cutoff) {
			delete(h.flows, k)
		}
	}
}

func (h *Handler) handleFlowStart(w http.ResponseWriter, r *http.Request) {
	addr := r.RemoteAddr
	if host, _, err := net.SplitHostPort(addr); err == nil {
		addr = host
	}
	f := &flow{poll: newSecret(), login: newSecret(), client: r.UserAgent(), addr: addr, created: h.cfg.Now()}
	h.mu.Lock()
	h.expire()
	mine := 0
	for _, g := range h.flows {
		if g.addr == addr {
			mine++
		}
	}
	if len(h.flows) >= maxFlows || mine >= maxFlowsPerAddr {
		h.mu.Unlock()
		w.Header().Set("Retry-After", "60")
		api.Write(w, r, h.log, &api.Error{Status: http.StatusServiceUnavailable, Msg: "too many sign-ins in progress; try again in a minute"})
		return
	}
	h.flows[f.poll] = f
	h.mu.Unlock()
	base := h.serverURL(r)
	api.WriteJSON(w, http.StatusOK, map[string]any{
		"poll":  map[string]string{"token": f.poll, "endpoint": base + FlowPath + "/poll"},
		"login": base + FlowPath + "/flow/" + f.login,
	})
}

// handleFlowPoll answers 404 until the user has signed in, then the
// credentials, once.
func (h *Handler) handleFlowPoll(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	token := r.PostFormValue("token")
	h.mu.Lock()
	h.expire()
	f, ok := h.flows[token]
	if ok && f.password != "" {
		delete(h.flows, token)
	}
	h.mu.Unlock()
	if !ok || f.password == "" {
		api.Write(w, r, h.log, api.NotFound("no such sign-in, or not completed yet"))
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]string{
		"server": h.serverURL(r), "loginName": f.user, "appPassword": f.password,
	})
}

// byLogin finds the pending flow whose login secret is token.
func (h *Handler) byLogin(token string) *flow {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.expire()
	for _, f := range h.flows {
		if subtle.ConstantTimeCompare([]byte(f.login), []byte(token)) == 1 && f.password == "" {
			return f
		}
	}
	return nil
}

var flowPage = template.Must(template.New("flow").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Connect a sync client to Wharf</title>
<style>body{font:15px system-ui,sans-serif;max-width:28em;margin:3em auto;padding:0 1em}
label{display:block;margin:.8em 0 .2em}input{font:inherit;width:100%;padding:.3em}
button{font:inherit;margin-top:1em;padding:.4em 1.2em}.err{color:#b00}code{font-size:90%}</style>
</head><body>
{{if .Done}}<h1>Connected</h1>
<p>The client now has its own app password (<code>{{.Label}}</code>). You can close this page.
You can revoke it any time in your account's app passwords.</p>
{{else}}<h1>Connect a sync client</h1>
<p>A desktop client asks for access to your Wharf spaces:<br><code>{{.Client}}</code></p>
<p>Sign in with your Wharf account to give it an app password of its own.</p>
{{if .Error}}<p class="err">{{.Error}}</p>{{end}}
<form method="post">
<label for="u">User name</label><input id="u" name="user" autocomplete="username" value="{{.User}}" required>
<label for="p">Password</label><input id="p" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Grant access</button>
</form>{{end}}
</body></html>
`))

func (h *Handler) writePage(w http.ResponseWriter, status int, data map[string]any) {
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	w.WriteHeader(status)
	if err := flowPage.Execute(w, data); err != nil {
		h.log.Debug("writing login flow page", "err", err)
	}
}

func (h *Handler) handleFlowPage(w http.ResponseWriter, r *http.Request) {
	f := h.byLogin(r.PathValue("token"))
	if f == nil {
		h.writePage(w, http.StatusNotFound, map[string]any{"Error": "This sign-in link has expired or was already used. Start again from the client.", "Client": "?"})
		return
	}
	data := map[string]any{"Client": f.client}
	if c, err := r.Cookie(auth.SessionCookie); err == nil {
		// Signed in on the web UI already: only the password is asked
		// (an app password is made with the account password alone).
		if p, err := h.cfg.Auth.SessionFromCookie(r.Context(), r.RemoteAddr, c.Value); err == nil {
			data["User"] = p.User.Name
		}
	}
	h.writePage(w, http.StatusOK, data)
}

// handleFlowGrant signs the user in with the account password and mints
// the client's app password.
func (h *Handler) handleFlowGrant(w http.ResponseWriter, r *http.Request) {
	f := h.byLogin(r.PathValue("token"))
	if f == nil {
		h.writePage(w, http.StatusNotFound, map[string]any{"Error": "This sign-in link has expired or was already used. Start again from the client.", "Client": "?"})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	user, password := r.PostFormValue("user"), r.PostFormValue("password")
	again := func(status int, msg string) {
		h.writePage(w, status, map[string]any{"Client": f.client, "User": user, "Error": msg})
	}
	p, err := h.cfg.Auth.Login(r.Context(), r.RemoteAddr, user, password)
	switch {
	case errors.Is(err, auth.ErrThrottled):
		again(http.StatusTooManyRequests, "Too many failed sign-ins; wait a moment and try again.")
		return
	case errors.Is(err, auth.ErrUnauthenticated):
		again(http.StatusUnauthorized, "Wrong user name or password.")
		return
	case err != nil:
		h.log.ErrorContext(r.Context(), "login flow sign-in failed", "err", err)
		again(http.StatusInternalServerError, "Something went wrong; try again.")
		return
	case p.Via != auth.ViaPassword:
		again(http.StatusForbidden, "That is an app password: sign in with your account password.")
		return
	}
	a, secret, err := h.cfg.Auth.CreateAppPassword(r.Context(), p.User.Name, "")
	if err != nil {
		h.log.ErrorContext(r.Context(), "login flow: cannot mint app password", "user", p.User.Name, "err", err)
		again(http.StatusInternalServerError, "Could not make an app password; try again.")
		return
	}
	h.mu.Lock()
	f.user, f.password = p.User.Name, secret
	h.mu.Unlock()
	h.writePage(w, http.StatusOK, map[string]any{"Done": true, "Label": a.Label})
}
