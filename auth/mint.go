package auth

// Credentials that make credentials. A credential may only make one that
// can do less and lives no longer, and what it makes goes when it goes:
//
//   - a token made with an app password lives at most AppPasswordTokenTTL;
//   - an upload or session token made with a token (TokenOptions.MintedBy)
//     keeps within that token's scopes, space and prefix and expires no
//     later; an upload token, which may write, needs a minter that may;
//     an upload token makes nothing;
//   - a token made with a token or an app password records it as its
//     parent (store: parent_token, parent_app_password), and revoking the
//     parent deletes it, whatever its own lifetime;
//   - an app password, which never expires and may do everything its user
//     may, is made only with the account password: the request's own
//     credentials when they are the password, else the password sent along
//     (CreateAppPasswordAs). A token or an app password alone never makes
//     one.
//
// The command line (wharf token create, wharf apppass create) acts for the
// machine's administrator and mints roots.

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/wharfhq/wharf/store"
)

// AppPasswordTokenTTL is the longest life of a token made with an app
// password (a session from POST /api/v1/auth/token): longer ones take the
// account password.
const AppPasswordTokenTTL = 30 * 24 * time.Hour

// ErrPasswordRequired: the operation needs the account password, and the
// request neither came with it nor sent it along. The server answers 403.
var ErrPasswordRequired = errors.New("the account password is required")

// narrow applies the minting rules to t, a token about to be made by
// minter: it narrows what t may do and how long it lives to the minter's,
// records the minter as t's parent, and refuses (ErrBadToken) what cannot
// be narrowed.
func narrow(t *Token, minter *Principal) (parentToken string, parentApp int64, err error) {
	if minter == nil {
		return "", 0, nil
	}
	if minter.AppPassword != nil {
		parentApp = minter.AppPassword.ID
		// A long-lived token takes the account password: what an app
		// password makes lives at most AppPasswordTokenTTL.
		if most := t.CreatedAt.Add(AppPasswordTokenTTL); t.ExpiresAt.IsZero() || t.ExpiresAt.After(most) {
			t.ExpiresAt = most
		}
	}
	m := minter.Token
	if m == nil {
		return "", parentApp, nil
	}
	if m.Kind == KindUpload {
		return "", 0, reason(ErrBadToken, "an upload token cannot make tokens")
	}
	if t.Kind == KindUpload && !m.HasScope(ScopeWrite) {
		return "", 0, reason(ErrBadToken, "an upload token may write, which this token's scopes (%v) do not allow", m.Scopes)
	}
	switch {
	case len(m.Scopes) == 0:
	case len(t.Scopes) == 0:
		t.Scopes = slices.Clone(m.Scopes)
	default:
		for _, sc := range t.Scopes {
			if !m.HasScope(sc) {
				return "", 0, reason(ErrBadToken, "scope %q is more than this token's scopes (%v) allow", sc, m.Scopes)
			}
		}
	}
	if m.SpaceID != "" {
		switch {
		case t.SpaceID == "":
			t.SpaceID, t.Prefix = m.SpaceID, m.Prefix
		case !m.Covers(t.SpaceID, t.Prefix):
			return "", 0, reason(ErrBadToken, "space %q, prefix %q: outside what this token reaches", t.SpaceID, t.Prefix)
		}
	}
	if !m.ExpiresAt.IsZero() && (t.ExpiresAt.IsZero() || t.ExpiresAt.After(m.ExpiresAt)) {
		t.ExpiresAt = m.ExpiresAt
	}
	return m.ID, parentApp, nil
}

// CreateAppPasswordAs makes an app password for p's user, as p asks over
// the API: p must have come with the account password, or password must
// be it (checked, and throttled, as a login from remoteAddr). Otherwise it
// returns an error matching ErrPasswordRequired, or ErrUnauthenticated or
// *ThrottledError for a wrong password; then as CreateAppPassword.
func (s *Service) CreateAppPasswordAs(ctx context.Context, p *Principal, remoteAddr, password, label string) (AppPassword, string, error) {
	if err := s.confirmPassword(ctx, p, remoteAddr, password); err != nil {
		return AppPassword{}, "", err
	}
	return s.CreateAppPassword(ctx, p.User.Name, label)
}

// confirmPassword checks that p proved, or password proves, the account
// password of p's user.
func (s *Service) confirmPassword(ctx context.Context, p *Principal, remoteAddr, password string) error {
	if p.Via == ViaPassword {
		return nil
	}
	if password == "" {
		return reason(ErrPasswordRequired, "this needs your account password: send it as \"password\" (a token or an app password alone cannot make an app password)")
	}
	q, err := s.Login(ctx, remoteAddr, p.User.Name, password)
	if err != nil {
		return err
	}
	if q.Via != ViaPassword {
		return reason(ErrPasswordRequired, "that is an app password: send your account password")
	}
	return nil
}

// storeToken is the row of t, a token minted with the given parents.
func storeToken(t Token, hash string, parentToken string, parentApp int64) store.Token {
	return store.Token{ID: t.ID, Hash: hash, UserID: t.UserID, Kind: t.Kind, Label: t.Label, Scopes: t.Scopes,
		SpaceID: t.SpaceID, Prefix: t.Prefix, CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt,
		ParentToken: parentToken, ParentAppPassword: parentApp}
}
