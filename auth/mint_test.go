package auth_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/wharfhq/wharf/auth"
)

// TestMinting: a credential makes only credentials that can do less and
// live no longer than itself, and they go when it goes.
func TestMinting(t *testing.T) {
	e := newEnv(t, nil)
	ctx := t.Context()
	e.addUser(t, "alice", false)
	e.addUser(t, "bob", false)
	const remote = "192.0.2.7:1"
	as := func(secret string) *auth.Principal {
		t.Helper()
		p, err := e.svc.AuthenticateToken(ctx, remote, secret)
		if err != nil {
			t.Fatalf("authenticate: %v", err)
		}
		return p
	}
	mint := func(o auth.TokenOptions) (auth.Token, string, error) {
		return e.svc.CreateToken(ctx, "alice", o)
	}
	root := func(o auth.TokenOptions) *auth.Principal {
		t.Helper()
		_, secret, err := mint(o)
		if err != nil {
			t.Fatal(err)
		}
		return as(secret)
	}

	t.Run("scopes, space and life are narrowed", func(t *testing.T) {
		parent := root(auth.TokenOptions{Scopes: []string{auth.ScopeWrite, auth.ScopeAccount}, SpaceID: "s1", Prefix: "team", TTL: time.Hour})
		tok, _, err := mint(auth.TokenOptions{Kind: auth.KindUpload, SpaceID: "s1", Prefix: "team", TTL: 90 * 24 * time.Hour, MintedBy: parent})
		if err != nil {
			t.Fatal(err)
		}
		if tok.SpaceID != "s1" || tok.Prefix != "team" || !slices.Equal(tok.Scopes, parent.Token.Scopes) ||
			!tok.ExpiresAt.Equal(parent.Token.ExpiresAt) {
			t.Errorf("upload token of a narrowed token: space %q prefix %q scopes %v expires %v; want s1/team, %v, %v",
				tok.SpaceID, tok.Prefix, tok.Scopes, tok.ExpiresAt, parent.Token.Scopes, parent.Token.ExpiresAt)
		}
		for name, o := range map[string]auth.TokenOptions{
			"another space":    {Kind: auth.KindUpload, SpaceID: "s2"},
			"a wider prefix":   {Kind: auth.KindUpload, SpaceID: "s1", Prefix: ""},
			"a sibling prefix": {Kind: auth.KindUpload, SpaceID: "s1", Prefix: "teamx"},
			"a wider scope":    {Kind: auth.KindSession, Scopes: []string{auth.ScopeAdmin}},
		} {
			o.MintedBy = parent
			if _, _, err := mint(o); !errors.Is(err, auth.ErrBadToken) {
				t.Errorf("%s: %v, want ErrBadToken", name, err)
			}
		}
		if tok, _, err := mint(auth.TokenOptions{Kind: auth.KindUpload, SpaceID: "s1", Prefix: "team/sub", MintedBy: parent}); err != nil || tok.Prefix != "team/sub" {
			t.Errorf("a narrower prefix: %v %q", err, tok.Prefix)
		}
	})

	t.Run("an account-scoped token cannot make a writer", func(t *testing.T) {
		acct := root(auth.TokenOptions{Scopes: []string{auth.ScopeAccount}})
		if _, _, err := mint(auth.TokenOptions{Kind: auth.KindUpload, SpaceID: "s1", MintedBy: acct}); !errors.Is(err, auth.ErrBadToken) {
			t.Errorf("upload token from an account-scoped token: %v, want ErrBadToken", err)
		}
	})

	t.Run("an upload token makes nothing", func(t *testing.T) {
		up := root(auth.TokenOptions{Kind: auth.KindUpload, SpaceID: "s1"})
		if _, _, err := mint(auth.TokenOptions{Kind: auth.KindUpload, SpaceID: "s1", MintedBy: up}); !errors.Is(err, auth.ErrBadToken) {
			t.Errorf("upload token from an upload token: %v, want ErrBadToken", err)
		}
	})

	t.Run("another user's credential makes nothing for alice", func(t *testing.T) {
		_, secret, err := e.svc.CreateToken(ctx, "bob", auth.TokenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := mint(auth.TokenOptions{Kind: auth.KindSession, MintedBy: as(secret)}); !errors.Is(err, auth.ErrBadToken) {
			t.Errorf("bob's token minting for alice: %v, want ErrBadToken", err)
		}
	})

	t.Run("revoking a token revokes what it made, transitively", func(t *testing.T) {
		parent := root(auth.TokenOptions{Kind: auth.KindSession})
		_, childSecret, err := mint(auth.TokenOptions{Kind: auth.KindSession, MintedBy: parent})
		if err != nil {
			t.Fatal(err)
		}
		child := as(childSecret)
		_, grandSecret, err := mint(auth.TokenOptions{Kind: auth.KindUpload, SpaceID: "s1", MintedBy: child})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.svc.RevokeToken(ctx, parent.Token.ID); err != nil {
			t.Fatal(err)
		}
		for name, s := range map[string]string{"child": childSecret, "grandchild": grandSecret} {
			if _, err := e.svc.AuthenticateToken(ctx, remote, s); !errors.Is(err, auth.ErrUnauthenticated) {
				t.Errorf("%s after revoking its parent: %v, want ErrUnauthenticated", name, err)
			}
		}
	})

	t.Run("revoking an app password revokes the sessions it logged in", func(t *testing.T) {
		ap, apSecret, err := e.svc.CreateAppPassword(ctx, "alice", "laptop")
		if err != nil {
			t.Fatal(err)
		}
		p, err := e.svc.Login(ctx, remote, "alice", apSecret)
		if err != nil || p.Via != auth.ViaAppPassword {
			t.Fatalf("login with the app password: %v", err)
		}
		tok, secret, err := mint(auth.TokenOptions{Kind: auth.KindSession, TTL: 365 * 24 * time.Hour, MintedBy: p})
		if err != nil {
			t.Fatal(err)
		}
		if want := tok.CreatedAt.Add(auth.AppPasswordTokenTTL); !tok.ExpiresAt.Equal(want) {
			t.Errorf("a 365-day session asked with an app password expires %v, want %v: long lives take the account password", tok.ExpiresAt, want)
		}
		as(secret)
		if err := e.svc.RevokeAppPassword(ctx, "alice", ap.Label); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.AuthenticateToken(ctx, remote, secret); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Errorf("365-day session after revoking the app password that made it: %v, want ErrUnauthenticated", err)
		}
	})

	t.Run("app passwords need the account password", func(t *testing.T) {
		tokP := root(auth.TokenOptions{Scopes: []string{auth.ScopeAccount}})
		_, apSecret, err := e.svc.CreateAppPassword(ctx, "alice", "phone")
		if err != nil {
			t.Fatal(err)
		}
		apP, err := e.svc.Login(ctx, remote, "alice", apSecret)
		if err != nil {
			t.Fatal(err)
		}
		pwP, err := e.svc.Authenticate(ctx, basicRequest(remote, "alice", goodPassword))
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name     string
			p        *auth.Principal
			password string
			want     error
		}{
			{"a token alone", tokP, "", auth.ErrPasswordRequired},
			{"an app password alone", apP, "", auth.ErrPasswordRequired},
			{"an app password sent as the password", apP, apSecret, auth.ErrPasswordRequired},
			{"a wrong password", tokP, "not the password", auth.ErrUnauthenticated},
			{"a token and the password", tokP, goodPassword, nil},
			{"the password itself", pwP, "", nil},
		} {
			_, secret, err := e.svc.CreateAppPasswordAs(ctx, tc.p, remote, tc.password, "made by "+tc.name)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (secret != "") {
				t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
			}
		}
	})
}
