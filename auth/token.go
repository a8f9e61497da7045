package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/wharfhq/wharf/store"
)

// Token kinds.
const (
	KindAPI     = "api"     // scripts; no expiry unless asked
	KindSession = "session" // the web UI's login session
	KindUpload  = "upload"  // short-lived, one space and path prefix, at most editor rights
)

// defaultTTL is the lifetime of session and upload tokens created without a
// TTL.
const defaultTTL = 24 * time.Hour

// tokenPrefix starts every token secret, so leaked secrets are easy to
// recognize (and to scan for).
const tokenPrefix = "wharf_"

// Token is a bearer token. Only a hash of its secret is kept.
type Token struct {
	ID     string // 12 lowercase letters and digits; not secret
	UserID int64
	Kind   string // KindAPI, KindSession or KindUpload
	Label  string
	// Scopes, when not empty, are all the token may do; see HasScope.
	Scopes []string
	// SpaceID, when not empty, is the only space the token reaches, and
	// Prefix (a slash-separated path, no leading or trailing slash; empty
	// for the whole space) the only part of it.
	SpaceID    string
	Prefix     string
	CreatedAt  time.Time
	ExpiresAt  time.Time // zero: never
	LastUsedAt time.Time // zero until first use; updated at most once a minute
}

func toToken(t store.Token) Token {
	return Token{ID: t.ID, UserID: t.UserID, Kind: t.Kind, Label: t.Label, Scopes: t.Scopes,
		SpaceID: t.SpaceID, Prefix: t.Prefix, CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt, LastUsedAt: t.LastUsedAt}
}

// Expired reports whether the token has expired at now.
func (t *Token) Expired(now time.Time) bool {
	return !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt)
}

// The scopes a token may be narrowed to. Which requests need which is each
// route's (api.Route.Scope); docs/api.md lists them.
const (
	ScopeRead    = "read"    // reading: files, listings, events, progress
	ScopeWrite   = "write"   // changing files, uploads, commits; implies read
	ScopeAccount = "account" // app passwords, the password, upload tokens
	ScopeAdmin   = "admin"   // instance and space administration, metrics
)

var scopes = []string{ScopeRead, ScopeWrite, ScopeAccount, ScopeAdmin}

// HasScope reports whether the token may be used for scope: a token without
// scopes may do whatever its user may (within SpaceID and Prefix); a token
// with scopes only what they name (ScopeWrite includes ScopeRead).
func (t *Token) HasScope(scope string) bool {
	if len(t.Scopes) == 0 {
		return true
	}
	for _, s := range t.Scopes {
		if s == scope || s == ScopeWrite && scope == ScopeRead {
			return true
		}
	}
	return false
}

// Covers reports whether the token reaches path p (slash-separated, leading
// slash optional) in space spaceID: any path of any space without SpaceID,
// else only Prefix and what is below it in SpaceID.
func (t *Token) Covers(spaceID, p string) bool {
	if t.SpaceID == "" {
		return true
	}
	if spaceID != t.SpaceID {
		return false
	}
	if t.Prefix == "" {
		return true
	}
	p = strings.Trim(p, "/")
	return p == t.Prefix || strings.HasPrefix(p, t.Prefix+"/")
}

// TokenOptions describe a new token.
type TokenOptions struct {
	// Kind is KindAPI, KindSession or KindUpload. "": KindAPI.
	Kind string
	// Label says what the token is for. Optional.
	Label string
	// Scopes limit what the token may do; see Token.HasScope. Each is a
	// non-empty word without spaces. Empty: no limit.
	Scopes []string
	// TTL is how long the token lives. 0: forever for KindAPI, 24 hours
	// for KindSession and KindUpload.
	TTL time.Duration
	// SpaceID narrows the token to one space; required for KindUpload.
	// Prefix further narrows it to a path in that space; it may not hold
	// "." or ".." segments.
	SpaceID, Prefix string
	// MintedBy is the caller whose credentials make the token, over the
	// API: the token is narrowed to what they may do and dies with them
	// (see mint.go). Nil: the command line, which mints roots.
	MintedBy *Principal
}

// CreateToken creates a bearer token for user and returns it with its
// secret ("wharf_" and 43 base64url characters), which is not kept and
// cannot be shown again. It returns an error matching ErrNotFound (no such
// user or space), ErrBadToken or ErrBadName (label).
func (s *Service) CreateToken(ctx context.Context, user string, o TokenOptions) (Token, string, error) {
	t, err := s.tokenFromOptions(o)
	if err != nil {
		return Token{}, "", err
	}
	if o.MintedBy != nil && !asciiEqualFold(o.MintedBy.User.Name, user) {
		return Token{}, "", reason(ErrBadToken, "a credential of %q cannot make tokens for %q", o.MintedBy.User.Name, user)
	}
	parentToken, parentApp, err := narrow(&t, o.MintedBy)
	if err != nil {
		return Token{}, "", err
	}
	secret := tokenPrefix + base64.RawURLEncoding.EncodeToString(randomBytes(32))
	err = s.db.Update(ctx, func(tx *store.Tx) error {
		u, err := tx.UserByName(ctx, user)
		if err != nil {
			return err
		}
		t.UserID = u.ID
		err = tx.CreateToken(ctx, storeToken(t, sha256Hex(secret), parentToken, parentApp))
		if errors.Is(err, store.ErrNotFound) {
			if parentToken != "" || parentApp != 0 {
				return reason(ErrNotFound, "space %q not found, or the credential making the token was just revoked", t.SpaceID)
			}
			return reason(ErrNotFound, "space %q not found", t.SpaceID)
		}
		return err
	})
	var re *reasonError
	if errors.As(err, &re) {
		return Token{}, "", err
	}
	if err != nil {
		return Token{}, "", userNotFound(err, user, fmt.Sprintf("create token for %q", user))
	}
	return t, secret, nil
}

func (s *Service) tokenFromOptions(o TokenOptions) (Token, error) {
	t := Token{ID: randomID(12), Kind: o.Kind, Label: strings.TrimSpace(o.Label), Scopes: o.Scopes,
		SpaceID: o.SpaceID, CreatedAt: s.now()}
	if t.Kind == "" {
		t.Kind = KindAPI
	}
	if t.Kind != KindAPI && t.Kind != KindSession && t.Kind != KindUpload {
		return Token{}, reason(ErrBadToken, "unknown token kind %q: use %s, %s or %s", o.Kind, KindAPI, KindSession, KindUpload)
	}
	if err := checkLabel(t.Label, true); err != nil {
		return Token{}, err
	}
	for _, sc := range o.Scopes {
		if !slices.Contains(scopes, sc) {
			return Token{}, reason(ErrBadToken, "unknown token scope %q: use %s", sc, strings.Join(scopes, ", "))
		}
	}
	switch {
	case o.TTL < 0:
		return Token{}, reason(ErrBadToken, "token lifetime %s is negative", o.TTL)
	case o.TTL > 0:
		t.ExpiresAt = t.CreatedAt.Add(o.TTL)
	case t.Kind != KindAPI:
		t.ExpiresAt = t.CreatedAt.Add(defaultTTL)
	}
	if t.Kind == KindUpload && o.SpaceID == "" {
		return Token{}, reason(ErrBadToken, "an upload token needs a space")
	}
	prefix := strings.Trim(o.Prefix, "/")
	if prefix != "" && o.SpaceID == "" {
		return Token{}, reason(ErrBadToken, "a token path prefix needs a space")
	}
	for _, seg := range strings.Split(prefix, "/") {
		if prefix != "" && (seg == "" || seg == "." || seg == "..") {
			return Token{}, reason(ErrBadToken, "token path prefix %q is not a clean path", o.Prefix)
		}
	}
	t.Prefix = prefix
	return t, nil
}

// randomID returns n random lowercase letters and digits.
func randomID(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	out := make([]byte, 0, n)
	for len(out) < n {
		for _, b := range randomBytes(n) {
			// 252 = 7*36: rejecting larger bytes keeps every letter equally likely.
			if b < 252 && len(out) < n {
				out = append(out, alphabet[b%36])
			}
		}
	}
	return string(out)
}

// Tokens returns the tokens of user, oldest first, expired ones included, or
// an error matching ErrNotFound.
func (s *Service) Tokens(ctx context.Context, user string) ([]Token, error) {
	u, err := s.db.UserByName(ctx, user)
	if err != nil {
		return nil, userNotFound(err, user, "list tokens")
	}
	ts, err := s.db.Tokens(ctx, u.ID)
	if err != nil {
		return nil, fmt.Errorf("auth: list tokens of %q: %w", user, err)
	}
	out := make([]Token, len(ts))
	for i, t := range ts {
		out[i] = toToken(t)
	}
	return out, nil
}

// Token returns token id, or an error matching ErrNotFound. Callers that act
// for a user check Token.UserID before revoking.
func (s *Service) Token(ctx context.Context, id string) (Token, error) {
	t, err := s.db.TokenByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Token{}, reason(ErrNotFound, "token %q not found", id)
	}
	if err != nil {
		return Token{}, fmt.Errorf("auth: get token: %w", err)
	}
	return toToken(t), nil
}

// RevokeToken deletes token id, or returns an error matching ErrNotFound. It
// fails from its next use.
func (s *Service) RevokeToken(ctx context.Context, id string) error {
	err := s.db.Update(ctx, func(tx *store.Tx) error { return tx.DeleteToken(ctx, id) })
	if errors.Is(err, store.ErrNotFound) {
		return reason(ErrNotFound, "token %q not found", id)
	}
	if err != nil {
		return fmt.Errorf("auth: revoke token: %w", err)
	}
	return nil
}

// PruneTokens deletes expired tokens and returns how many there were. They
// are refused anyway; this only keeps the table small.
func (s *Service) PruneTokens(ctx context.Context) (int, error) {
	var n int64
	err := s.db.Update(ctx, func(tx *store.Tx) error {
		var err error
		n, err = tx.DeleteExpiredTokens(ctx, s.now())
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("auth: prune tokens: %w", err)
	}
	return int(n), nil
}
