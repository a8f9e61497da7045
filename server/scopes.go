package server

import (
	"net/http"
	"strings"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/web"
)

// requiredScope is the scope a token narrowed by scopes (wharf token
// create --scope) needs for r:
//
//   - admin: /api/v1/admin/…, /metrics, and changing a space's members;
//   - account: app passwords, the password, upload tokens;
//   - read: any other GET, HEAD, OPTIONS or PROPFIND (files, listings,
//     the events and progress websockets, commits' states);
//   - write: everything else (PUT, tus, MKCOL, MOVE, DELETE, locks,
//     PROPPATCH, commits, finalize…).
func requiredScope(r *http.Request) string {
	p := r.URL.Path
	under := func(base string) bool { return p == base || strings.HasPrefix(p, base+"/") }
	switch {
	case strings.HasPrefix(p, web.AdminPrefix) || p == MetricsPath:
		return auth.ScopeAdmin
	case isMembers(p) && r.Method != http.MethodGet:
		return auth.ScopeAdmin
	case under(web.AppPasswordsPath) || p == web.PasswordPath || under(uploadTokensPath):
		return auth.ScopeAccount
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, "PROPFIND":
		return auth.ScopeRead
	}
	return auth.ScopeWrite
}

// limitScopes refuses (403) a request made with a token whose scopes do
// not include what the request needs. It runs after requireAuth.
func (a *app) limitScopes(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := auth.FromContext(r.Context())
		if p != nil && p.Token != nil && len(p.Token.Scopes) > 0 {
			if need := requiredScope(r); !p.HasScope(need) {
				a.refuse(w, r, http.StatusForbidden, "this token's scopes ("+strings.Join(p.Token.Scopes, ", ")+
					") do not include "+need+", which "+r.Method+" "+r.URL.Path+" needs")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// isMembers reports whether p is /api/v1/spaces/{space}/members[/{user}].
func isMembers(p string) bool {
	rest, ok := strings.CutPrefix(p, web.SpacesPath+"/")
	if !ok {
		return false
	}
	parts := strings.SplitN(rest, "/", 3)
	return len(parts) >= 2 && parts[1] == "members"
}
