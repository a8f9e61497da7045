package web

import (
	"errors"
	"net/http"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/internal/api"
)

// sessionJSON is what login and GET SessionPath answer.
type sessionJSON struct {
	User  string `json:"user"`
	Admin bool   `json:"admin"`
	CSRF  string `json:"csrf"`
}

// handleLogin serves POST SessionPath: a user name and password (the
// account password or an app password, through auth's throttle) make a
// session token whose secret goes into an HttpOnly cookie.
func (h *Handler) handleLogin(w http.ResponseWriter, r *http.Request) {
	var in struct {
		User     string `json:"user"`
		Password string `json:"password"`
	}
	if err := api.ReadJSON(r, 0, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	if in.User == "" || in.Password == "" {
		h.fail(w, r, api.BadRequest(`send {"user","password"}`))
		return
	}
	p, err := h.auth.Login(r.Context(), r.RemoteAddr, in.User, in.Password)
	if errors.Is(err, auth.ErrUnauthenticated) {
		h.fail(w, r, &api.Error{Status: http.StatusUnauthorized, Msg: auth.WrongPasswordMessage})
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	tok, secret, err := h.auth.CreateToken(r.Context(), p.User.Name, auth.TokenOptions{
		Kind: auth.KindSession, Label: "web UI", TTL: h.cfg.SessionTTL, MintedBy: p})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: auth.SessionCookie, Value: secret, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: h.secure(r), MaxAge: int(h.cfg.SessionTTL.Seconds()),
	})
	api.WriteJSON(w, http.StatusOK, sessionJSON{User: p.User.Name, Admin: p.User.Admin, CSRF: h.auth.CSRFToken(&tok)})
}

// secure reports whether the session cookie of a response to r is Secure.
func (h *Handler) secure(r *http.Request) bool { return h.cfg.SecureCookie || r.TLS != nil }

// cookiePrincipal authenticates r's session cookie (with the CSRF rules of
// auth.Authenticate when it has no Authorization header).
func (h *Handler) cookiePrincipal(r *http.Request) (*auth.Principal, error) {
	return h.auth.Authenticate(r.Context(), r)
}

// handleSession serves GET SessionPath: who the session belongs to and its
// CSRF token. 401, without a Basic challenge that would make a browser
// prompt, when there is none.
func (h *Handler) handleSession(w http.ResponseWriter, r *http.Request) {
	p, err := h.cookiePrincipal(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := sessionJSON{User: p.User.Name, Admin: p.User.Admin}
	if p.Token != nil && p.Token.Kind == auth.KindSession {
		out.CSRF = h.auth.CSRFToken(p.Token)
	}
	api.WriteJSON(w, http.StatusOK, out)
}

// handleLogout serves DELETE SessionPath: the session token is revoked and
// the cookie cleared. A cookie that is no longer valid is cleared too (204):
// logging out twice is not an error. A valid one needs the CSRF token, so
// that another site cannot log people out.
func (h *Handler) handleLogout(w http.ResponseWriter, r *http.Request) {
	if _, err := r.Cookie(auth.SessionCookie); err != nil || r.Header.Get("Authorization") != "" {
		h.fail(w, r, &api.Error{Status: http.StatusUnauthorized, Msg: "no session cookie: log out a bearer token at DELETE /api/v1/auth/token"})
		return
	}
	p, err := h.cookiePrincipal(r)
	switch {
	case errors.Is(err, auth.ErrUnauthenticated):
	case err != nil:
		h.fail(w, r, err)
		return
	default:
		if err := h.auth.RevokeToken(r.Context(), p.Token.ID); err != nil && !errors.Is(err, auth.ErrNotFound) {
			h.fail(w, r, err)
			return
		}
	}
	http.SetCookie(w, &http.Cookie{Name: auth.SessionCookie, Value: "", Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: h.secure(r), MaxAge: -1})
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}
