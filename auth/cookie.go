package auth

// The web UI's session cookie: it holds the secret of a session token (the
// same tokens the publish API hands out), so a cookie session is revoked,
// expires and is listed like any other session token. What a cookie adds is
// ambient authority, which a Bearer header does not have: the browser sends
// it with requests other sites' pages make. Cached Basic credentials are
// just as ambient. CrossSite, which the server applies to every request,
// refuses unsafe methods from other sites' pages whatever they carry; on
// top of it Authenticate asks a cookie-authenticated request for a CSRF
// token on every unsafe method (a same-site page that hides its origin
// still cannot make one), and for a same-origin Origin on websocket
// upgrades.

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// SessionCookie is the name of the cookie holding a session token secret.
const SessionCookie = "wharf_session"

// CSRFHeader is the request header that carries the CSRF token of a
// cookie session on methods other than GET, HEAD and OPTIONS.
const CSRFHeader = "X-CSRF-Token"

// ErrCSRF: a request authenticated by the session cookie lacks the CSRF
// token its method needs, or is a websocket upgrade from another origin.
// The server answers it with 403.
var ErrCSRF = errors.New("cross-site request refused")

// csrfLabel separates the CSRF MAC from the URL signatures made with the
// same key.
const csrfLabel = "wharf csrf v1\x00"

// CSRFToken returns the CSRF token of session token t: a MAC of its id
// under the instance's signing key. It is stable for the token's life, so
// every tab of a browser shares it, and it cannot be computed without the
// key, so another site cannot make one.
func (s *Service) CSRFToken(t *Token) string {
	m := hmac.New(sha256.New, s.signKey)
	m.Write([]byte(csrfLabel + t.ID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// SessionFromCookie authenticates a session cookie's secret like
// AuthenticateToken, and refuses any token that is not a session token (a
// cookie never holds an API or upload token). The Principal it returns has
// Cookie set. It checks neither CSRF nor origin: Authenticate does that for
// requests.
func (s *Service) SessionFromCookie(ctx context.Context, remoteAddr, secret string) (*Principal, error) {
	p, err := s.AuthenticateToken(ctx, remoteAddr, secret)
	if err != nil {
		return nil, err
	}
	if p.Token.Kind != KindSession {
		return nil, reason(ErrUnauthenticated, "the session cookie does not hold a session token")
	}
	p.Cookie = true
	return p, nil
}

// authenticateCookie serves Authenticate for a request that carries no
// Authorization header but the session cookie.
func (s *Service) authenticateCookie(ctx context.Context, r *http.Request, secret string) (*Principal, error) {
	p, err := s.SessionFromCookie(ctx, r.RemoteAddr, secret)
	if err != nil {
		return nil, err
	}
	if err := s.checkCookieRequest(r, p.Token); err != nil {
		return nil, err
	}
	return p, nil
}

// checkCookieRequest applies the CSRF rules to a request authenticated by
// the session cookie of token t.
func (s *Service) checkCookieRequest(r *http.Request, t *Token) error {
	if IsWebsocketUpgrade(r) {
		if !sameOrigin(r) {
			return reason(ErrCSRF, "cross-origin websocket refused")
		}
		return nil
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return nil
	}
	got := r.Header.Get(CSRFHeader)
	if got == "" || !hmac.Equal([]byte(got), []byte(s.CSRFToken(t))) {
		return reason(ErrCSRF, "missing or wrong CSRF token")
	}
	return nil
}

// CrossSite reports why r, a request with an unsafe method, is refused as
// one another site's page made a browser send: nil when it is not such a
// request, or when its credentials are ones a browser never adds by itself.
//
// A browser attaches ambient credentials — the session cookie, and Basic
// credentials it has cached for this server (after showing the /dav/
// listing, say) — to requests any page makes, and a form can POST a body
// of its choosing without a CORS preflight. So whatever the scheme, an
// unsafe method whose Sec-Fetch-Site says cross-site or same-site, or whose
// Origin names another host (hosts lists this server's own besides r.Host:
// the public URL's), is refused; the login endpoints included (login
// CSRF). An Authorization header with another scheme (Bearer, AssetToken)
// was set by a script on purpose: a page cannot make a browser send one
// cross-site without this server's CORS consent, so it passes. Clients
// that are not browsers (WebDAV clients, curl, Phraseanet) send neither
// header and are not affected. The error matches ErrCSRF.
func CrossSite(r *http.Request, hosts ...string) error {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return nil
	}
	if scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " "); scheme != "" && !strings.EqualFold(scheme, "basic") {
		return nil
	}
	switch strings.ToLower(r.Header.Get("Sec-Fetch-Site")) {
	case "cross-site", "same-site":
		return reason(ErrCSRF, "cross-site request refused: another site's page made it (Sec-Fetch-Site: %s)", r.Header.Get("Sec-Fetch-Site"))
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return nil
	}
	if u, err := url.Parse(o); err == nil && u.Host != "" {
		if strings.EqualFold(u.Host, r.Host) {
			return nil
		}
		for _, h := range hosts {
			if h != "" && strings.EqualFold(u.Host, h) {
				return nil
			}
		}
	}
	return reason(ErrCSRF, "cross-site request refused: another site's page made it (Origin %.100q)", o)
}

// IsWebsocketUpgrade reports whether r asks for a websocket (RFC 6455
// §4.1: Upgrade: websocket and Connection: Upgrade, token lists).
func IsWebsocketUpgrade(r *http.Request) bool {
	return hasToken(r.Header.Values("Upgrade"), "websocket") && hasToken(r.Header.Values("Connection"), "upgrade")
}

func hasToken(values []string, token string) bool {
	for _, v := range values {
		for f := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), token) {
				return true
			}
		}
	}
	return false
}

// sameOrigin reports whether r's Origin names r's own host. A missing
// Origin fails: every browser sends one on a websocket handshake, and only
// browsers send cookies.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" || o == "null" {
		return false
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" {
		return false
	}
	return strings.EqualFold(u.Host, r.Host)
}

// WrongPasswordMessage is what a client is told of ErrWrongPassword.
const WrongPasswordMessage = "user name or password is wrong"

// Refusal says how an authentication error is answered over HTTP: its
// status (429 throttled, 403 CSRF, 401 unauthenticated), the message for
// the client, and for a throttled login the seconds for Retry-After. ok is
// false for any other error. The JSON API and the auth gate both answer
// with it, so WebDAV, tus, the API, the web UI's sign-in and the token
// endpoint of "wharf login" say the same; the gate adds its Basic
// challenge to a 401. A wrong user name or password is told apart from
// missing credentials ("authentication required"), never which of the two
// is wrong.
func Refusal(err error) (status int, msg string, retryAfter int, ok bool) {
	var te *ThrottledError
	switch {
	case errors.As(err, &te):
		secs := int(te.RetryAfter.Round(time.Second) / time.Second)
		return http.StatusTooManyRequests, "too many failed logins; try again later", max(secs, 1), true
	case errors.Is(err, ErrCSRF):
		return http.StatusForbidden, err.Error(), 0, true
	case errors.Is(err, ErrWrongPassword):
		return http.StatusUnauthorized, WrongPasswordMessage, 0, true
	case errors.Is(err, ErrUnauthenticated):
		return http.StatusUnauthorized, "authentication required", 0, true
	}
	return 0, "", 0, false
}
