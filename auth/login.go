package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/wharfhq/wharf/store"
)

// How a Principal proved who it is.
const (
	ViaPassword    = "password"     // the account password
	ViaAppPassword = "app-password" // an app password, over Basic auth
	ViaToken       = "token"        // a bearer token
	ViaLink        = "link"         // a share link (link.go): anonymous, narrowed to the link's node
)

// touchEvery is how often the last use of a credential is written: it is
// read on every request anyway, so the check needs no memory of its own.
const touchEvery = time.Minute

// Principal is an authenticated caller.
type Principal struct {
	User User
	// Via is ViaPassword, ViaAppPassword or ViaToken.
	Via string
	// AppPassword is the app password used, for ViaAppPassword.
	AppPassword *AppPassword
	// Token is the token used, for ViaToken: its kind, scopes, space and
	// prefix limit what the caller may do.
	Token *Token
	// Cookie is set when the token came from the session cookie
	// (SessionCookie) rather than an Authorization header.
	Cookie bool
	// Link is set for ViaLink: the caller holds a share link and acts as
	// its creator (User) only on the link's node, at most as an editor.
	Link *LinkGrant
}

// HasScope reports whether p may act for scope: always, unless p came with
// a token limited to other scopes.
func (p *Principal) HasScope(scope string) bool {
	if p.Link != nil {
		return scope == ScopeRead || scope == ScopeWrite
	}
	return p.Token == nil || p.Token.HasScope(scope)
}

// Covers reports whether p's credential reaches path p in space spaceID
// (roles aside): always, unless p came with a token narrowed elsewhere.
func (p *Principal) Covers(spaceID, path string) bool {
	if p.Link != nil {
		t := Token{SpaceID: p.Link.SpaceID, Prefix: p.Link.Path}
		if p.Link.Path == "" {
			// The space's root: Token.Covers reads an empty prefix as
			// the whole space, which it is.
			t.Prefix = ""
		}
		if !t.Covers(spaceID, path) {
			return false
		}
	}
	return p.Token == nil || p.Token.Covers(spaceID, path)
}

// Authenticate identifies the caller of r from its Authorization header:
// Basic with the account password or an app password, or Bearer with a
// token; without that header, from the session cookie (SessionCookie), in
// which case a method other than GET, HEAD and OPTIONS needs the session's
// CSRF token in CSRFHeader and a websocket upgrade a same-origin Origin,
// else the error matches ErrCSRF. It returns an error matching
// ErrUnauthenticated when credentials are missing, malformed, wrong or
// expired, and a *ThrottledError (matching ErrThrottled) when an account
// password is not checked because of recent failures (throttle.go says
// which). The address is r.RemoteAddr: X-Forwarded-For is not read here
// (the server puts the client's address there when the peer is a trusted
// proxy). Other errors are the database's.
func (s *Service) Authenticate(ctx context.Context, r *http.Request) (*Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
			return s.authenticateCookie(ctx, r, c.Value)
		}
		return nil, reason(ErrUnauthenticated, "no credentials")
	}
	scheme, rest, _ := strings.Cut(h, " ")
	switch strings.ToLower(scheme) {
	case "basic":
		name, password, ok := r.BasicAuth()
		if !ok {
			return nil, reason(ErrUnauthenticated, "malformed Basic credentials")
		}
		return s.Login(ctx, r.RemoteAddr, name, password)
	case "bearer":
		return s.AuthenticateToken(ctx, r.RemoteAddr, strings.TrimSpace(rest))
	}
	return nil, reason(ErrUnauthenticated, "unsupported authorization scheme %q: use Basic or Bearer", scheme)
}

func (s *Service) throttled(d time.Duration, what, value, addr string) error {
	s.log.Warn("login throttled", what, value, "remote_addr", addr, "retry_after", d)
	return &ThrottledError{RetryAfter: d}
}

// Login checks a user name and password (the account password or one of
// the user's app passwords) from remoteAddr (host:port or host), with the
// same errors and throttling as Authenticate.
//
// Throttling protects the account password only (the rule is in
// throttle.go). App passwords are checked first and let through whatever
// the failures of the user name or the address: they cannot be guessed,
// and otherwise anyone knowing a user name could lock all of that user's
// devices out. An account-password attempt reserves its slot in the
// throttle before the password is verified, so parallel guesses cannot
// overrun the limit; identical attempts in flight from one address share
// the first one's slot and outcome (attempts.go).
func (s *Service) Login(ctx context.Context, remoteAddr, name, password string) (*Principal, error) {
	addr := addrKey(remoteAddr)
	ukey := strings.ToLower(name)
	p, err := s.appPasswordLogin(ctx, name, password, s.now())
	if p != nil {
		if err := s.lim.succeeded(ctx, ukey, addr, s.now()); err != nil {
			// The login stands; the address is not known for it.
			s.log.Warn("cannot record a known address", "user", name, "remote_addr", addr, "err", err)
		}
	}
	if p != nil || err != nil {
		return p, err
	}
	for {
		k, at, leader := s.attempts.join(ukey, addr, password)
		if leader {
			p, outcome, wait, err := s.accountLogin(ctx, ukey, addr, name, password)
			s.attempts.finish(k, at, outcome, wait)
			return p, err
		}
		// The same credentials from the same address are being checked:
		// their outcome is this attempt's, without a slot of its own.
		select {
		case <-at.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		switch at.outcome {
		case attemptWrong:
			return nil, reason(ErrWrongPassword, "wrong user name or password")
		case attemptThrottled:
			return nil, &ThrottledError{RetryAfter: at.wait}
		case attemptOK:
			// Verified a moment ago: the cache has it (unless the password
			// changed meanwhile, when the next round verifies again).
			if p, err := s.cachedPasswordLogin(ctx, name, password, s.now()); p != nil || err != nil {
				return p, err
			}
		}
	}
}

// accountLogin checks the account password of a Login through the
// throttle, and says how it went for the identical attempts waiting.
func (s *Service) accountLogin(ctx context.Context, ukey, addr, name, password string) (*Principal, int, time.Duration, error) {
	// A password verified a moment ago (a client's every request carries
	// it) skips the reservation when nothing is counted against it: with
	// the throttle in the database that is a read instead of two writes.
	if p, err := s.cachedPasswordLogin(ctx, name, password, s.now()); p != nil && err == nil {
		ok, err := s.lim.passes(ctx, ukey, addr, s.now())
		if err != nil {
			return nil, attemptFailed, 0, err
		}
		if ok {
			return p, attemptOK, 0, nil
		}
	}
	t, err := s.admit(ctx, ukey, addr, name)
	if te := (*ThrottledError)(nil); errors.As(err, &te) {
		return nil, attemptThrottled, te.RetryAfter, err
	}
	if err != nil {
		return nil, attemptFailed, 0, err
	}
	p, err := s.passwordLogin(ctx, name, password, s.now())
	if err != nil {
		s.release(ctx, t, false)
		return nil, attemptFailed, 0, err
	}
	if p == nil {
		s.log.Info("login failed", "user", name, "remote_addr", addr)
		return nil, attemptWrong, 0, reason(ErrWrongPassword, "wrong user name or password")
	}
	s.release(ctx, t, true)
	return p, attemptOK, 0, nil
}

// release gives back the slots of t (see throttle.release), even if the
// request is gone: a slot not given back counts as a failure.
func (s *Service) release(ctx context.Context, t ticket, ok bool) {
	if err := s.lim.release(context.WithoutCancel(ctx), t, ok, s.now()); err != nil {
		s.log.Warn("cannot give back a login throttle slot", "err", err)
	}
}

// cachedPasswordLogin returns a Principal if password is the account
// password of user name as verified recently (verifiedCache), and nil, nil
// if that is not known: it never runs argon2id.
func (s *Service) cachedPasswordLogin(ctx context.Context, name, password string, now time.Time) (*Principal, error) {
	u, err := s.db.UserByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("auth: check password: %w", err)
	}
	if s.verified.has(u.ID, u.PasswordHash, password, now) {
		return &Principal{User: toUser(u), Via: ViaPassword}, nil
	}
	return nil, nil
}

// admit makes an account-password attempt of user name (lower-cased: ukey)
// from addr wait if that pair keeps failing, then reserves its slot in the
// throttle or returns a *ThrottledError.
func (s *Service) admit(ctx context.Context, ukey, addr, name string) (ticket, error) {
	d, err := s.lim.delay(ctx, ukey, addr, s.now())
	if err != nil {
		return ticket{}, err
	}
	pause(ctx, s.sleepers, d)
	t, wait, err := s.lim.reserve(ctx, ukey, addr, s.now())
	if err != nil {
		return ticket{}, err
	}
	if wait > 0 {
		return ticket{}, s.throttled(wait, "user", name, addr)
	}
	return t, nil
}

// appPasswordLogin returns a Principal if password is an app password of
// user name, and nil, nil if it is not.
func (s *Service) appPasswordLogin(ctx context.Context, name, password string, now time.Time) (*Principal, error) {
	secret, ok := appSecret(password)
	if !ok {
		return nil, nil
	}
	v := s.version(ctx)
	// The cache is keyed by the secret itself (as a token's): its hash
	// is made only to look the row up.
	k := s.fresh.credKey("app", strings.ToLower(name), secret)
	if p := s.cachedPrincipal(k, v, now); p != nil {
		return p, nil
	}
	a, u, err := s.db.AppPasswordByHash(ctx, sha256Hex(secret))
	if errors.Is(err, store.ErrNotFound) || err == nil && !asciiEqualFold(u.Name, name) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("auth: check app password: %w", err)
	}
	if now.Sub(a.LastUsedAt) >= touchEvery {
		err := s.db.Update(ctx, func(tx *store.Tx) error { return tx.TouchAppPassword(ctx, a.ID, now) })
		if err != nil {
			// Not worth failing the request for.
			s.log.Warn("cannot record app password use", "user", u.Name, "err", err)
		}
		a.LastUsedAt = now
	}
	ap := toAppPassword(a)
	p := &Principal{User: toUser(u), Via: ViaAppPassword, AppPassword: &ap}
	s.cachePrincipal(k, v, now, p)
	return p, nil
}

// argonSlots bounds the argon2id verifications running at once. Each
// needs 19 MiB and a core for a fraction of a second: unbounded, a burst of
// logins (a WebDAV client opening 16 connections, a guessing attack) would
// take hundreds of megabytes and gain no speed.
const argonSlots = 2

// argonSlot waits for a free verification slot; the caller frees it with
// <-s.argon.
func (s *Service) argonSlot(ctx context.Context) error {
	select {
	case s.argon <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// passwordLogin returns a Principal if password is the account password of
// user name, and nil, nil if it is not. A missing user costs the same
// argon2id verification as a wrong password.
func (s *Service) passwordLogin(ctx context.Context, name, password string, now time.Time) (*Principal, error) {
	u, err := s.db.UserByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		if err := s.argonSlot(ctx); err != nil {
			return nil, err
		}
		defer func() { <-s.argon }()
		verifyPassword(s.dummy(), password)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("auth: check password: %w", err)
	}
	if s.verified.has(u.ID, u.PasswordHash, password, now) {
		return &Principal{User: toUser(u), Via: ViaPassword}, nil
	}
	if err := s.argonSlot(ctx); err != nil {
		return nil, err
	}
	defer func() { <-s.argon }()
	// A client opening many connections at once sends the same credentials
	// on each: those that waited find them verified by the first.
	if !s.verified.has(u.ID, u.PasswordHash, password, now) {
		ok, err := verifyPassword(u.PasswordHash, password)
		if err != nil {
			s.log.Error("cannot verify password", "user", u.Name, "err", err)
		}
		if !ok {
			return nil, nil
		}
		s.verified.put(u.ID, u.PasswordHash, password, now)
	}
	return &Principal{User: toUser(u), Via: ViaPassword}, nil
}

// AuthenticateToken identifies the holder of a token secret (from a Bearer
// header or a session cookie) connecting from remoteAddr, with the same
// errors as Authenticate. A token is always checked, whatever the failures
// of its address: it is 256 random bits, not a guess, so a valid one always
// passes. Unknown secrets count as failures of the address, and are
// answered with a *ThrottledError rather than ErrUnauthenticated once the
// address has sent too many; expired ones do not count (they were valid
// once, so they are not guesses).
func (s *Service) AuthenticateToken(ctx context.Context, remoteAddr, secret string) (*Principal, error) {
	now := s.now()
	addr := addrKey(remoteAddr)
	if !strings.HasPrefix(secret, tokenPrefix) || len(secret) > 256 {
		return nil, s.tokenFailed(ctx, addr, now, "not a Wharf token")
	}
	v := s.version(ctx)
	k := s.fresh.credKey("token", "", secret)
	if p := s.cachedPrincipal(k, v, now); p != nil {
		return p, nil
	}
	st, u, err := s.db.TokenByHash(ctx, sha256Hex(secret))
	if errors.Is(err, store.ErrNotFound) {
		s.log.Info("unknown token", "remote_addr", addr)
		return nil, s.tokenFailed(ctx, addr, now, "unknown or revoked token")
	}
	if err != nil {
		return nil, fmt.Errorf("auth: check token: %w", err)
	}
	t := toToken(st)
	if t.Expired(now) {
		return nil, reason(ErrUnauthenticated, "token expired")
	}
	if now.Sub(t.LastUsedAt) >= touchEvery {
		err := s.db.Update(ctx, func(tx *store.Tx) error { return tx.TouchToken(ctx, t.ID, now) })
		if err != nil {
			s.log.Warn("cannot record token use", "token", t.ID, "err", err)
		}
		t.LastUsedAt = now
	}
	p := &Principal{User: toUser(u), Via: ViaToken, Token: &t}
	s.cachePrincipal(k, v, now, p)
	return p, nil
}

// tokenFailed counts an unknown token from addr and returns the error to
// answer: msg, or a *ThrottledError if addr sent too many.
func (s *Service) tokenFailed(ctx context.Context, addr string, now time.Time, msg string) error {
	d, err := s.lim.tokenFailed(ctx, addr, now)
	if err != nil {
		return err
	}
	if d > 0 {
		return s.throttled(d, "token", "", addr)
	}
	return reason(ErrUnauthenticated, "%s", msg)
}

type principalKey struct{}

// NewContext returns a copy of ctx carrying p, the authenticated caller; the
// server's authentication gate puts it there for every handler below it.
func NewContext(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the caller stored by NewContext, or nil.
func FromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}
