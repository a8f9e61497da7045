package links

import (
	"net/http"
	"testing"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/internal/testenv"
)

// newFixture is a space "files" in which ann holds role, and the links
// surface's routes on a mux; ann (as after a password login) makes the
// links.
func newFixture(t *testing.T, role auth.Role) (*testenv.Env, *auth.Principal, *http.ServeMux) {
	t.Helper()
	env := testenv.New(t, testenv.Options{})
	env.Space(t, "files", "Files", 0)
	u := env.User(t, "ann", "correct horse battery staple", false)
	env.Grant(t, "files", "ann", role)
	h, err := New(Config{Auth: env.Auth, Tree: env.Tree, DB: env.DB})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for _, rt := range h.Routes() {
		mux.Handle(rt.Pattern, rt.Handler)
	}
	return env, &auth.Principal{User: u, Via: auth.ViaPassword}, mux
}
