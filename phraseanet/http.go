package phraseanet

import (
	"errors"
	"net/http"
	"strings"

	"github.com/wharfhq/wharf/internal/api"
	"github.com/wharfhq/wharf/space"
)

// httpError is an error with what the client should see.
type httpError struct {
	Status int
	Body   any
}

func (e *httpError) Error() string { return http.StatusText(e.Status) }

// oauthError is an error of the token endpoint, answered as RFC 6749 says.
type oauthError struct {
	Status int
	Code   string // invalid_client, invalid_request, unsupported_grant_type, invalid_scope
	Msg    string
}

func (e *oauthError) Error() string { return e.Code + ": " + e.Msg }

// unauthorized is a missing, malformed, unknown or expired credential:
// 401 with a challenge for the schemes the endpoint takes.
type unauthorized struct {
	Msg     string
	Schemes string // the WWW-Authenticate value
}

func (e *unauthorized) Error() string { return e.Msg }

func (e *unauthorized) Is(target error) bool { return target == ErrUnauthorized }

// writeError is the one place this package turns an error into a status.
// Phraseanet's API keeps its own wire format (OAuth errors, the form's
// fields, the paths already committed), written by api.WriteJSON.
func (s *Service) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var he *httpError
	var ae *api.Error
	var oe *oauthError
	var ua *unauthorized
	var fe *FormError
	var ce *CommittedError
	var held *HeldError
	status, body := 0, any(nil)
	switch {
	case errors.As(err, &he):
		status, body = he.Status, he.Body
	case errors.As(err, &ae):
		status, body = ae.Status, map[string]string{"error": ae.Msg}
	case errors.As(err, &oe):
		if oe.Status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Basic realm="Wharf"`)
		}
		status, body = oe.Status, map[string]string{"error": oe.Code, "error_description": oe.Msg}
	case errors.As(err, &ua):
		w.Header().Set("WWW-Authenticate", ua.Schemes)
		status, body = http.StatusUnauthorized, map[string]string{"error": ua.Msg}
	case errors.As(err, &fe):
		status, body = http.StatusBadRequest, map[string]any{"error": "invalid form data", "fields": fe.Fields}
	case errors.As(err, &ce):
		status, body = http.StatusConflict, map[string]any{"error": "file already in a commit", "paths": ce.Paths}
	case errors.As(err, &held):
		status, body = http.StatusConflict, map[string]any{"error": "file awaiting the finalization of its upload", "paths": held.Paths}
	case errors.Is(err, ErrUnauthorized):
		status = http.StatusUnauthorized
	case errors.Is(err, ErrForbidden):
		status = http.StatusForbidden
	case errors.Is(err, ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, ErrCommitted), errors.Is(err, ErrExists), errors.Is(err, ErrHeld):
		status = http.StatusConflict
	case errors.Is(err, ErrBadInput):
		status = http.StatusBadRequest
	case errors.Is(err, space.ErrInfected), errors.Is(err, space.ErrScanFailed):
		st, msg, _ := api.SpaceStatus(err)
		status, body = st, map[string]string{"error": msg}
	default:
		s.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		status, body = http.StatusInternalServerError, map[string]string{"error": "internal error"}
	}
	if body == nil {
		body = map[string]string{"error": err.Error()}
	}
	api.WriteJSON(w, status, body)
}

// credentials splits an Authorization header into scheme and value. The
// scheme is matched case-insensitively by the caller.
func credentials(r *http.Request) (scheme, value string, ok bool) {
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	scheme, value, ok = strings.Cut(h, " ")
	value = strings.TrimSpace(value)
	if !ok || scheme == "" || value == "" || strings.ContainsAny(value, " \t") {
		return "", "", false
	}
	return scheme, value, true
}
