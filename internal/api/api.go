// Package api is what Wharf's HTTP surfaces share: one error type and one
// mapping of errors to statuses, one JSON writer and one JSON reader, the
// request id, and the Route each surface exports for the server to mount.
//
// A surface returns errors; Write turns them into answers in one place:
// an *Error as it says, auth's refusals, auth's and space's sentinel errors
// with their statuses, anything else logged with the request id and
// answered 500 without details. WebDAV and tus answer their own clients in
// their own formats but take their statuses for space's errors from
// SpaceStatus, so a quota or a missing parent is the same status whichever
// way it is reached.
//
// api imports auth and space (for their errors) and nothing else of Wharf.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/space"
)

// Error is an error with what the client sees: its status and message.
// Errors of any other type that reach Write are logged and answered 500.
type Error struct {
	Status int
	Msg    string
}

func (e *Error) Error() string { return strconv.Itoa(e.Status) + " " + e.Msg }

// Errorf is an *Error with a formatted message.
func Errorf(status int, format string, args ...any) *Error {
	return &Error{Status: status, Msg: fmt.Sprintf(format, args...)}
}

// BadRequest is a 400 with a formatted message.
func BadRequest(format string, args ...any) *Error {
	return Errorf(http.StatusBadRequest, format, args...)
}

// NotFound and Forbidden are a 404 and a 403 with msg.
func NotFound(msg string) *Error  { return &Error{Status: http.StatusNotFound, Msg: msg} }
func Forbidden(msg string) *Error { return &Error{Status: http.StatusForbidden, Msg: msg} }

// Classify says what the client is told of err: its status and message and,
// for a throttled login, the seconds for Retry-After. ok is false for an
// unexpected error, which the caller logs and answers 500 without details.
func Classify(err error) (status int, msg string, retryAfter int, ok bool) {
	var e *Error
	if errors.As(err, &e) {
		return e.Status, e.Msg, 0, true
	}
	if status, msg, retryAfter, ok = auth.Refusal(err); ok {
		return status, msg, retryAfter, true
	}
	switch {
	case errors.Is(err, auth.ErrWeakPassword), errors.Is(err, auth.ErrBadName), errors.Is(err, auth.ErrBadRole),
		errors.Is(err, auth.ErrBadToken):
		return http.StatusBadRequest, err.Error(), 0, true
	case errors.Is(err, auth.ErrPasswordRequired), errors.Is(err, auth.ErrForbidden):
		return http.StatusForbidden, err.Error(), 0, true
	case errors.Is(err, auth.ErrExists), errors.Is(err, auth.ErrLastAdmin):
		return http.StatusConflict, err.Error(), 0, true
	case errors.Is(err, auth.ErrNotFound):
		return http.StatusNotFound, err.Error(), 0, true
	}
	if status, msg, ok = SpaceStatus(err); ok {
		return status, msg, 0, true
	}
	return http.StatusInternalServerError, "", 0, false
}

// SpaceStatus is the one mapping of the space package's errors to HTTP:
// the status and a message fit for any client, ok false for an error that
// is not one of them. A surface whose protocol wants another status for
// one of them in some method (WebDAV: 405 for a PUT on a collection, 412
// or 405 for an existing destination) checks that error before.
func SpaceStatus(err error) (status int, msg string, ok bool) {
	var pe *space.PolicyError
	var se *space.ScanError
	switch {
	case errors.As(err, &pe):
		return http.StatusForbidden, "the space's policy refuses it: " + pe.Reason, true
	case errors.As(err, &se):
		return http.StatusUnprocessableEntity, "the virus scan refuses it: " + se.Error() + " (the file has been quarantined)", true
	case errors.Is(err, space.ErrScanFailed):
		return http.StatusServiceUnavailable, "the file must be scanned for viruses first, and the scanner cannot be reached; try again later", true
	case errors.Is(err, space.ErrNotFound):
		return http.StatusNotFound, "not found", true
	case errors.Is(err, space.ErrExists):
		return http.StatusConflict, "something by that name already exists", true
	case errors.Is(err, space.ErrParentMissing), errors.Is(err, space.ErrNotDir):
		return http.StatusConflict, "the parent folder does not exist", true
	case errors.Is(err, space.ErrIsDir):
		return http.StatusConflict, "that is a folder", true
	case errors.Is(err, space.ErrQuota):
		return http.StatusInsufficientStorage, "the space's quota is exhausted", true
	case errors.Is(err, space.ErrNoSpace):
		return http.StatusInsufficientStorage, "the server's disk is full", true
	case errors.Is(err, space.ErrPreconditionFailed):
		return http.StatusPreconditionFailed, "precondition failed", true
	case errors.Is(err, space.ErrSizeMismatch):
		return http.StatusBadRequest, "the body's size differs from the announced size", true
	case errors.Is(err, space.ErrBadPath):
		return http.StatusBadRequest, "invalid path", true
	case errors.Is(err, space.ErrBadID):
		return http.StatusBadRequest, err.Error(), true
	}
	return 0, "", false
}

// Write answers err as JSON {"error": "…"} with the status Classify gives
// it. An unexpected error is logged on log with the request's context (so
// its id) and answered 500 with the request id only. A 401 carries a
// Basic challenge unless the request comes from the web UI's scripts,
// where it would make the browser prompt for a password.
func Write(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	status, msg, retryAfter, ok := Classify(err)
	if !ok {
		log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "internal error (request " + RequestID(r.Context()) + ")"
	}
	if retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	}
	if status == http.StatusUnauthorized && !FromBrowserScript(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="Wharf", charset="UTF-8"`)
	}
	WriteJSON(w, status, map[string]string{"error": msg})
}

// FromBrowserScript reports whether r comes from the web UI's scripts (it
// carries the session cookie, or a browser says it is a fetch).
func FromBrowserScript(r *http.Request) bool {
	if _, err := r.Cookie(auth.SessionCookie); err == nil {
		return true
	}
	switch r.Header.Get("Sec-Fetch-Mode") {
	case "cors", "same-origin":
		return true
	}
	return false
}

// WriteJSON answers v as JSON with status. Answers of the API are about
// one caller and never cached.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	jsonHeaders(w.Header())
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// WriteRawJSON answers js, a JSON document already encoded (a recorded
// answer), as WriteJSON would.
func WriteRawJSON(w http.ResponseWriter, status int, js []byte) {
	jsonHeaders(w.Header())
	w.WriteHeader(status)
	w.Write(js)
	if len(js) == 0 || js[len(js)-1] != '\n' {
		w.Write([]byte("\n"))
	}
}

func jsonHeaders(h http.Header) {
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
}

// WriteText answers a plain-text message, for the clients that show text
// (WebDAV, tus, probes).
func WriteText(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	fmt.Fprintln(w, msg)
}

// MaxBody is the largest JSON body ReadJSON reads unless told otherwise.
const MaxBody = 64 << 10

// ReadJSON decodes r's body, at most limit bytes (0: MaxBody), into v,
// with numbers as json.Number where v holds an interface. An empty body
// leaves v as it is, as if it were {}: every field is optional to the
// reader, and the handler says which it needs. A body must be declared
// Content-Type: application/json (or a +json type): a form that another
// site's page posts (text/plain, form-urlencoded) is never read as JSON.
// Its errors are *Errors: 415 for another type, 413 past the limit, 400
// otherwise.
func ReadJSON(r *http.Request, limit int64, v any) error {
	if limit <= 0 {
		limit = MaxBody
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return BadRequest("cannot read the body")
	}
	if int64(len(b)) > limit {
		return Errorf(http.StatusRequestEntityTooLarge, "the body is larger than %d bytes", limit)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	if !IsJSON(r.Header.Get("Content-Type")) {
		return Errorf(http.StatusUnsupportedMediaType, "send the body as Content-Type: application/json")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return BadRequest("the body is not the JSON expected: %v", err)
	}
	return nil
}

// IsJSON reports whether the media type ct is JSON: application/json or a
// +json type, with any parameters.
func IsJSON(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

type ctxKey int

const requestIDKey ctxKey = 0

// WithRequestID returns ctx carrying the request id id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey, id)
}

// RequestID returns the id of the request ctx belongs to, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// LogHandler wraps h so that every record logged with a request's context
// carries its request_id: a handler logs with ErrorContext(r.Context(), …)
// and need not add the id itself.
func LogHandler(h slog.Handler) slog.Handler { return logHandler{h} }

type logHandler struct{ slog.Handler }

func (h logHandler) Handle(ctx context.Context, rec slog.Record) error {
	if id := RequestID(ctx); id != "" && !hasAttr(rec, "request_id") {
		rec.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, rec)
}

// hasAttr reports whether rec has an attribute named key (the access log
// puts the request id first itself).
func hasAttr(rec slog.Record, key string) (found bool) {
	rec.Attrs(func(a slog.Attr) bool {
		found = a.Key == key
		return !found
	})
	return found
}

func (h logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return logHandler{h.Handler.WithAttrs(as)}
}

func (h logHandler) WithGroup(name string) slog.Handler { return logHandler{h.Handler.WithGroup(name)} }

// NoteUser tells the server's access log who made the request, for the
// handlers that authenticate a request themselves (a login): the server's
// response writer has a SetUser method.
func NoteUser(w http.ResponseWriter, name string) {
	if u, ok := w.(interface{ SetUser(string) }); ok {
		u.SetUser(name)
	}
}
