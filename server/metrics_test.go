package server

import (
	"encoding/base64"
	"net/http/httptest"
	"testing"
)

func TestSurfaceOf(t *testing.T) {
	for _, tc := range []struct{ method, path, want string }{
		{"PROPFIND", "/dav/spaces/files/a", surfaceDAV},
		{"OPTIONS", "/dav", surfaceDAV},
		{"PATCH", "/tus/abc", surfaceTus},
		{"GET", "/api/v1/events", surfaceEvents},
		{"GET", "/api/v1/uploads/u1/progress", surfaceEvents},
		{"GET", "/api/v1/me", surfaceAPI},
		{"GET", "/assets/x/file", surfacePhraseanet},
		{"GET", "/commits", surfacePhraseanet},
		{"POST", "/oauth/v2/token", surfacePhraseanet},
		{"GET", "/", surfaceUI},
		{"GET", "/ui/static/app.js", surfaceUI},
		{"GET", "/metrics", surfaceOther},
		{"GET", "/davx", surfaceOther},
	} {
		if got := surfaceOf(httptest.NewRequest(tc.method, tc.path, nil)); got != tc.want {
			t.Errorf("surfaceOf(%s %s) = %q, want %q", tc.method, tc.path, got, tc.want)
		}
	}
	if got := methodLabel("BREW"); got != "other" {
		t.Errorf("methodLabel(BREW) = %q: made-up methods must not make series", got)
	}
}

func TestSpaceOfRequest(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, tc := range []struct {
		name, method, path, meta, want string
	}{
		{"dav", "PUT", "/dav/spaces/team/a/b.jpg", "", "team"},
		{"api", "GET", "/api/v1/spaces/team/nodes", "", "team"},
		{"tus creation", "POST", "/tus/", "path " + b64("a.bin") + ",space " + b64("team"), "team"},
		{"tus patch", "PATCH", "/tus/xyz", "", ""},
		{"junk space", "POST", "/tus/", "space " + b64("a b\n"), ""},
		{"other", "GET", "/api/v1/me", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.path, nil)
			if tc.meta != "" {
				r.Header.Set("Upload-Metadata", tc.meta)
			}
			if got := spaceOfRequest(r); got != tc.want {
				t.Errorf("spaceOfRequest = %q, want %q", got, tc.want)
			}
		})
	}
}
