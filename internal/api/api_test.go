package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/space"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		status int
		ok     bool
	}{
		{"api error", BadRequest("x %d", 1), 400, true},
		{"wrapped api error", fmt.Errorf("ctx: %w", NotFound("gone")), 404, true},
		{"unauthenticated", auth.ErrUnauthenticated, 401, true},
		{"csrf", auth.ErrCSRF, 403, true},
		{"throttled", &auth.ThrottledError{}, 429, true},
		{"weak password", auth.ErrWeakPassword, 400, true},
		{"last admin", auth.ErrLastAdmin, 409, true},
		{"user not found", fmt.Errorf("user %q: %w", "x", auth.ErrNotFound), 404, true},
		{"space quota", fmt.Errorf("put: %w", space.ErrQuota), 507, true},
		{"space is dir", space.ErrIsDir, 409, true},
		{"space bad path", space.ErrBadPath, 400, true},
		{"unexpected", errors.New("disk on fire"), 500, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, msg, _, ok := Classify(tc.err)
			if status != tc.status || ok != tc.ok {
				t.Errorf("Classify(%v) = %d %q ok=%v, want %d ok=%v", tc.err, status, msg, ok, tc.status, tc.ok)
			}
			if ok && msg == "" {
				t.Errorf("Classify(%v): no message for the client", tc.err)
			}
		})
	}
}

func TestWrite(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(LogHandler(slog.NewTextHandler(&logs, nil)))
	r := httptest.NewRequest("GET", "/api/v1/x", nil)
	r = r.WithContext(WithRequestID(r.Context(), "req42"))

	w := httptest.NewRecorder()
	Write(w, r, log, errors.New("secret detail"))
	if w.Code != 500 || strings.Contains(w.Body.String(), "secret") || !strings.Contains(w.Body.String(), "req42") {
		t.Errorf("unexpected error answered %d %s: want 500 naming the request, not the detail", w.Code, w.Body)
	}
	if !strings.Contains(logs.String(), "secret detail") || strings.Count(logs.String(), "request_id=req42") != 1 {
		t.Errorf("log %q: want the detail and the request id, once", logs.String())
	}
	logs.Reset()
	log.InfoContext(r.Context(), "request", "request_id", "req42")
	if strings.Count(logs.String(), "request_id=") != 1 {
		t.Errorf("log %q: a line that names its request id itself gets it once", logs.String())
	}
	for h, want := range map[string]string{"Content-Type": "application/json; charset=utf-8",
		"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"} {
		if got := w.Header().Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}

	w = httptest.NewRecorder()
	Write(w, r, log, auth.ErrUnauthenticated)
	if w.Code != 401 || w.Header().Get("WWW-Authenticate") == "" {
		t.Errorf("401 to a script: %d, challenge %q: want a Basic challenge", w.Code, w.Header().Get("WWW-Authenticate"))
	}
	r.Header.Set("Sec-Fetch-Mode", "cors")
	w = httptest.NewRecorder()
	Write(w, r, log, auth.ErrUnauthenticated)
	if w.Header().Get("WWW-Authenticate") != "" {
		t.Error("401 to the UI's fetch carries a Basic challenge: the browser would prompt")
	}
}

func TestReadJSON(t *testing.T) {
	type in struct {
		Name string      `json:"name"`
		N    json.Number `json:"n"`
		Any  any         `json:"any"`
	}
	for _, tc := range []struct {
		name, body string
		ct         string
		limit      int64
		status     int // 0: no error
		want       in
	}{
		{"empty is {}", "", "", 0, 0, in{Name: "kept"}},
		{"blank is {}", " \n\t", "text/plain", 0, 0, in{Name: "kept"}},
		{"object", `{"name":"a","n":12345678901234567890,"any":1.5}`, "application/json", 0, 0, in{Name: "a", N: "12345678901234567890", Any: json.Number("1.5")}},
		{"json with charset", `{"name":"a"}`, "application/json; charset=utf-8", 0, 0, in{Name: "a"}},
		{"+json type", `{"name":"a"}`, "application/merge-patch+json", 0, 0, in{Name: "a"}},
		{"form post of JSON", `{"name":"a"}`, "text/plain", 0, 415, in{}},
		{"urlencoded", `name=a`, "application/x-www-form-urlencoded", 0, 415, in{}},
		{"no type", `{"name":"a"}`, "", 0, 415, in{}},
		{"not json", `{"name":`, "application/json", 0, 400, in{}},
		{"wrong type", `{"name":3}`, "application/json", 0, 400, in{}},
		{"too large", `{"name":"` + strings.Repeat("x", 100) + `"}`, "application/json", 50, 413, in{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(tc.body))
			r.Header.Set("Content-Type", tc.ct)
			got := in{Name: "kept"}
			err := ReadJSON(r, tc.limit, &got)
			var e *Error
			switch {
			case tc.status == 0 && err != nil:
				t.Fatalf("ReadJSON: %v", err)
			case tc.status != 0 && (!errors.As(err, &e) || e.Status != tc.status):
				t.Fatalf("ReadJSON error %v, want a %d", err, tc.status)
			case tc.status == 0 && (got.Name != tc.want.Name || got.N != tc.want.N || fmt.Sprint(got.Any) != fmt.Sprint(tc.want.Any)):
				t.Errorf("ReadJSON = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestNeedScope(t *testing.T) {
	byMethod := &Route{}
	admin := &Route{Scope: auth.ScopeAdmin}
	for _, tc := range []struct {
		rt     *Route
		method string
		want   string
	}{
		{byMethod, "GET", auth.ScopeRead},
		{byMethod, "PROPFIND", auth.ScopeRead},
		{byMethod, "OPTIONS", auth.ScopeRead},
		{byMethod, "PUT", auth.ScopeWrite},
		{byMethod, "PROPPATCH", auth.ScopeWrite},
		{admin, "GET", auth.ScopeAdmin},
	} {
		if got := tc.rt.NeedScope(httptest.NewRequest(tc.method, "/", nil)); got != tc.want {
			t.Errorf("NeedScope(%s, route scope %q) = %q, want %q", tc.method, tc.rt.Scope, got, tc.want)
		}
	}
}

func TestNoteUser(t *testing.T) {
	w := &userWriter{ResponseWriter: httptest.NewRecorder()}
	NoteUser(w, "alice")
	if w.user != "alice" {
		t.Errorf("NoteUser did not reach the writer: %q", w.user)
	}
	NoteUser(httptest.NewRecorder(), "bob") // a writer without SetUser: nothing to do
}

type userWriter struct {
	http.ResponseWriter
	user string
}

func (w *userWriter) SetUser(name string) { w.user = name }
