package auth_test

import (
	"errors"
	"testing"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/store"
)

// TestRevocationTakesEffectAtOnce: after many successful requests (so that
// every cache on the way, prepared statements and verified passwords
// included, is warm), a revoked app password or token, a removed or changed
// role and a changed password are refused on the very next request, also
// when the change is made by another process (a second Service on the
// same database, as the command line is).
func TestRevocationTakesEffectAtOnce(t *testing.T) {
	e := newEnv(t, nil)
	ctx := t.Context()
	e.addUser(t, "alice", false)
	// The command line, say: its own connections to the same file.
	db2, err := store.Open(ctx, e.db.Path())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db2.Close() })
	other, err := auth.New(auth.Config{DB: db2, Now: e.clock.Now, PasswordCost: 1})
	if err != nil {
		t.Fatal(err)
	}
	warm := func(t *testing.T, req func() error) {
		t.Helper()
		for range 20 {
			if err := req(); err != nil {
				t.Fatalf("before the change: %v", err)
			}
		}
	}
	refused := func(t *testing.T, err error) {
		t.Helper()
		if !errors.Is(err, auth.ErrUnauthenticated) {
			t.Fatalf("right after the change: %v, want ErrUnauthenticated", err)
		}
	}

	t.Run("app password", func(t *testing.T) {
		a, secret, err := e.svc.CreateAppPassword(ctx, "alice", "phone")
		if err != nil {
			t.Fatal(err)
		}
		auth1 := func() error {
			_, err := e.svc.Authenticate(ctx, basicRequest("192.0.2.1:1", "alice", secret))
			return err
		}
		warm(t, auth1)
		if err := other.RevokeAppPassword(ctx, "alice", a.Label); err != nil {
			t.Fatal(err)
		}
		refused(t, auth1())
	})
	for _, kind := range []string{auth.KindAPI, auth.KindSession} {
		t.Run(kind+" token", func(t *testing.T) {
			tok, secret, err := e.svc.CreateToken(ctx, "alice", auth.TokenOptions{Kind: kind})
			if err != nil {
				t.Fatal(err)
			}
			auth1 := func() error {
				_, err := e.svc.Authenticate(ctx, bearerRequest(secret))
				return err
			}
			warm(t, auth1)
			if err := other.RevokeToken(ctx, tok.ID); err != nil {
				t.Fatal(err)
			}
			refused(t, auth1())
		})
	}
	t.Run("account password", func(t *testing.T) {
		auth1 := func() error {
			_, err := e.svc.Authenticate(ctx, basicRequest("192.0.2.1:1", "alice", goodPassword))
			return err
		}
		warm(t, auth1)
		if err := other.SetPassword(ctx, "alice", goodPassword+" two"); err != nil {
			t.Fatal(err)
		}
		refused(t, auth1())
	})
	t.Run("role", func(t *testing.T) {
		p, err := e.svc.Authenticate(ctx, basicRequest("192.0.2.1:1", "alice", goodPassword+" two"))
		if err != nil {
			t.Fatal(err)
		}
		role := func() (auth.Role, bool) {
			t.Helper()
			r, ok, err := e.svc.RoleIn(ctx, p, "s1")
			if err != nil {
				t.Fatal(err)
			}
			return r, ok
		}
		if err := other.Grant(ctx, "s1", "alice", auth.Editor); err != nil {
			t.Fatal(err)
		}
		for range 20 {
			if r, ok := role(); !ok || r != auth.Editor {
				t.Fatalf("role = %q, %v; want editor", r, ok)
			}
		}
		if err := other.Grant(ctx, "s1", "alice", auth.Viewer); err != nil {
			t.Fatal(err)
		}
		if r, ok := role(); !ok || r != auth.Viewer {
			t.Fatalf("after the downgrade: role = %q, %v; want viewer", r, ok)
		}
		if err := other.Revoke(ctx, "s1", "alice"); err != nil {
			t.Fatal(err)
		}
		if r, ok := role(); ok {
			t.Fatalf("after the removal: role = %q, still a member", r)
		}
	})
}
