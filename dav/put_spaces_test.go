package dav

import (
	"net/http"
	"strings"
	"testing"

	"github.com/wharfhq/wharf/auth"
)

// TestPutOntoSpacesList: PUT /dav/spaces/holiday.jpg is a file put where
// the list of spaces is; the answer says so and where files go, whether
// or not a space of that name is known to the caller.
func TestPutOntoSpacesList(t *testing.T) {
	f := newLockFixture(t)
	admin := &auth.Principal{User: f.env.User(t, "root", "correct horse battery staple", true)}
	for _, tc := range []struct {
		name   string
		p      *auth.Principal
		target string
		status int
	}{
		{"no such space", f.alice, "/dav/spaces/holiday.jpg", http.StatusNotFound},
		{"admin", admin, "/dav/spaces/holiday.jpg", http.StatusMethodNotAllowed},
		{"a space's root", f.alice, "/dav/spaces/s", http.StatusMethodNotAllowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := f.do(tc.p, "PUT", tc.target, nil, "jpeg bytes")
			body := w.Body.String()
			if w.Code != tc.status || !strings.Contains(body, "/dav/spaces/ is the list of spaces") ||
				!strings.Contains(body, "/dav/spaces/<space id>/") {
				t.Errorf("PUT %s = %d %q; want %d saying it is the list of spaces", tc.target, w.Code, body, tc.status)
			}
		})
	}
	// Other methods on an unknown space keep the plain 404.
	if w := f.do(f.alice, "GET", "/dav/spaces/holiday.jpg", nil, ""); w.Code != http.StatusNotFound || strings.Contains(w.Body.String(), "list of spaces") {
		t.Errorf("GET unknown space = %d %q", w.Code, w.Body.String())
	}
}
