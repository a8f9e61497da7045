package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/wharfhq/wharf/store"
)

// Share links. A link is a credential of its own: a secret in a URL that
// lets anyone holding it read one node (a file, or a folder and what is
// below it) or, for a drop link, upload into one folder. The rules:
//
//   - A read link needs its creator to be an editor of the node's space
//     (publishing outside is more than viewing); a drop link a manager
//     (strangers then fill the space's quota). The role is checked at every
//     use: a link dies when its creator loses it, or is removed.
//   - The secret has 192 random bits; only its SHA-256 is stored.
//   - A link is bound to its node's id: it follows renames and moves and
//     goes with the node (the links row is deleted with it).
//   - A password is hashed with argon2id as account passwords are, and its
//     guesses are throttled per link as account passwords are per user
//     name (throttle.go), under the name "link:<id>".

// LinkRole is the role a link's creator needs in the node's space for a
// link of kind (store.LinkRead or store.LinkUpload).
func LinkRole(kind string) Role {
	if kind == store.LinkUpload {
		return Manager
	}
	return Editor
}

// ErrLinkGone: no such link, or it expired, or its creator may no longer
// make it. It matches ErrNotFound: a dead link is answered like an unknown
// one.
var ErrLinkGone = fmt.Errorf("%w: no such link (or it expired or was revoked)", ErrNotFound)

// ErrForbidden: the caller may not do this (a role too low for a link).
var ErrForbidden = errors.New("forbidden")

// ErrLinkPassword: the link needs its password (missing or wrong). It
// matches ErrUnauthenticated.
var ErrLinkPassword = fmt.Errorf("%w: this link needs its password", ErrUnauthenticated)

// linkSecretLen is the size of a link secret.
const linkSecretLen = 24 // bytes: 192 bits

// LinkGrant is what a link lets its Principal reach: Path (a folder or a
// file, slash-separated, "" for the root) in space SpaceID, nothing else.
type LinkGrant struct {
	ID      string
	SpaceID string
	Path    string
}

// Name is how p is recorded as the author of what it does: "link:<id>"
// for a link's principal, else the user's name.
func (p *Principal) Name() string {
	if p.Link != nil {
		return "link:" + p.Link.ID
	}
	return p.User.Name
}

// LinkOptions describe a new link.
type LinkOptions struct {
	SpaceID string
	Path    string // the node, as in the space (cleaned by the caller)
	// Kind is store.LinkRead or store.LinkUpload ("": read). A drop link
	// needs a folder.
	Kind     string
	Label    string
	Password string        // "": none
	TTL      time.Duration // 0: never expires
	// MaxDownloads and MaxUploads limit the uses; 0: no limit.
	MaxDownloads, MaxUploads int64
}

// CreateLink makes a link for p (who must hold LinkRole of the kind in the
// space) and returns it with its secret, which is not kept. Errors match
// ErrBadToken (options), ErrNotFound (no such node, or p may not see the
// space), ErrWeakPassword, or are *ForbiddenError-like reasons matching
// ErrForbidden.
func (s *Service) CreateLink(ctx context.Context, p *Principal, o LinkOptions) (store.Link, string, error) {
	if o.Kind == "" {
		o.Kind = store.LinkRead
	}
	if o.Kind != store.LinkRead && o.Kind != store.LinkUpload {
		return store.Link{}, "", reason(ErrBadToken, "unknown link kind %q: use %s or %s", o.Kind, store.LinkRead, store.LinkUpload)
	}
	o.Label = strings.TrimSpace(o.Label)
	if err := checkLabel(o.Label, true); err != nil {
		return store.Link{}, "", err
	}
	if o.TTL < 0 || o.MaxDownloads < 0 || o.MaxUploads < 0 {
		return store.Link{}, "", reason(ErrBadToken, "a link's lifetime and limits must not be negative")
	}
	if o.Password != "" && len(o.Password) < 6 {
		return store.Link{}, "", reason(ErrWeakPassword, "link password too short: at least 6 characters")
	}
	role, ok, err := s.RoleIn(ctx, p, o.SpaceID)
	if err != nil {
		return store.Link{}, "", err
	}
	if !ok {
		return store.Link{}, "", reason(ErrNotFound, "no such space %q", o.SpaceID)
	}
	if !role.Allows(LinkRole(o.Kind)) || p.Link != nil || !p.Covers(o.SpaceID, o.Path) {
		return store.Link{}, "", reason(ErrForbidden, "a %s link needs the %s role in the space", o.Kind, LinkRole(o.Kind))
	}
	n, err := s.db.Node(ctx, o.SpaceID, o.Path)
	if errors.Is(err, store.ErrNotFound) {
		return store.Link{}, "", reason(ErrNotFound, "no such file or folder %q in space %q", o.Path, o.SpaceID)
	}
	if err != nil {
		return store.Link{}, "", fmt.Errorf("auth: create link: %w", err)
	}
	if o.Kind == store.LinkUpload && !n.IsDir {
		return store.Link{}, "", reason(ErrBadToken, "a drop link needs a folder, %q is a file", o.Path)
	}
	secret := base64.RawURLEncoding.EncodeToString(randomBytes(linkSecretLen))
	l := store.Link{ID: randomID(12), TokenHash: sha256Hex(secret), NodeID: n.ID, CreatorID: p.User.ID,
		Kind: o.Kind, Label: o.Label, MaxDownloads: o.MaxDownloads, MaxUploads: o.MaxUploads, CreatedAt: s.now()}
	if o.TTL > 0 {
		l.ExpiresAt = l.CreatedAt.Add(o.TTL)
	}
	if o.Password != "" {
		l.PasswordHash = hashPassword(s.params, o.Password)
	}
	if err := s.db.Update(ctx, func(tx *store.Tx) error { return tx.CreateLink(ctx, l) }); err != nil {
		return store.Link{}, "", fmt.Errorf("auth: create link: %w", err)
	}
	l, err = s.db.Link(ctx, l.ID)
	if err != nil {
		return store.Link{}, "", fmt.Errorf("auth: create link: %w", err)
	}
	return l, secret, nil
}

// LinkSecret finds the secret in a link's URL or path (".../s/<secret>...")
// or returns s itself when it is not one.
func LinkSecret(s string) string {
	if i := strings.Index(s, "/s/"); i >= 0 {
		s = s[i+3:]
		if j := strings.IndexAny(s, "/?#"); j >= 0 {
			s = s[:j]
		}
	}
	return s
}

// ResolveLink returns the live link whose secret is secret, or an error
// matching ErrLinkGone: unknown, expired, its creator without the role it
// needs in its node's space (LinkRole), or gone.
func (s *Service) ResolveLink(ctx context.Context, secret string) (store.Link, error) {
	if len(secret) < 16 || len(secret) > 128 {
		return store.Link{}, ErrLinkGone
	}
	l, err := s.db.LinkByHash(ctx, sha256Hex(secret))
	if errors.Is(err, store.ErrNotFound) {
		return store.Link{}, ErrLinkGone
	}
	if err != nil {
		return store.Link{}, fmt.Errorf("auth: resolve link: %w", err)
	}
	if err := s.LinkAlive(ctx, l); err != nil {
		return store.Link{}, err
	}
	return l, nil
}

// LinkAlive checks that l has not expired and that its creator still holds
// the role it needs; it returns ErrLinkGone otherwise.
func (s *Service) LinkAlive(ctx context.Context, l store.Link) error {
	if !l.ExpiresAt.IsZero() && !s.now().Before(l.ExpiresAt) {
		return ErrLinkGone
	}
	u, err := s.db.UserByID(ctx, l.CreatorID)
	if errors.Is(err, store.ErrNotFound) {
		return ErrLinkGone
	}
	if err != nil {
		return fmt.Errorf("auth: link creator: %w", err)
	}
	role, ok, err := s.RoleIn(ctx, &Principal{User: toUser(u)}, l.SpaceID)
	if err != nil {
		return err
	}
	if !ok || !role.Allows(LinkRole(l.Kind)) {
		return ErrLinkGone
	}
	return nil
}

// LinkAliveByID is LinkAlive for link id (reloaded: its node may have
// moved, its limits changed).
func (s *Service) LinkAliveByID(ctx context.Context, id string) (store.Link, error) {
	l, err := s.db.Link(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Link{}, ErrLinkGone
	}
	if err != nil {
		return store.Link{}, fmt.Errorf("auth: link %q: %w", id, err)
	}
	return l, s.LinkAlive(ctx, l)
}

// LinkPrincipal is who acts through link l: its creator, narrowed to the
// link's node (Principal.Link), at most an editor there, named "link:<id>".
func (s *Service) LinkPrincipal(ctx context.Context, l store.Link) (*Principal, error) {
	u, err := s.db.UserByID(ctx, l.CreatorID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrLinkGone
	}
	if err != nil {
		return nil, fmt.Errorf("auth: link creator: %w", err)
	}
	return &Principal{User: toUser(u), Via: ViaLink, Link: &LinkGrant{ID: l.ID, SpaceID: l.SpaceID, Path: l.Path}}, nil
}

// CheckLinkPassword checks password against link l's from remoteAddr,
// through the login throttle under the name "link:<id>": it returns nil
// when l has no password or it is right, an error matching ErrLinkPassword
// when it is wrong or empty, a *ThrottledError after too many failures.
func (s *Service) CheckLinkPassword(ctx context.Context, remoteAddr string, l store.Link, password string) error {
	if l.PasswordHash == "" {
		return nil
	}
	if password == "" {
		return ErrLinkPassword
	}
	addr, name := addrKey(remoteAddr), "\x00link:"+l.ID
	t, err := s.admit(ctx, name, addr, "link:"+l.ID)
	if err != nil {
		return err
	}
	if err := s.argonSlot(ctx); err != nil {
		s.release(ctx, t, false)
		return err
	}
	ok, verr := verifyPassword(l.PasswordHash, password)
	<-s.argon
	if verr != nil {
		s.log.Error("cannot verify link password", "link", l.ID, "err", verr)
	}
	if !ok {
		s.log.Info("wrong link password", "link", l.ID, "remote_addr", addr)
		return ErrLinkPassword
	}
	s.release(ctx, t, true)
	return nil
}

// linkCookieTTL is how long a browser stays admitted to a link after its
// password was given.
const linkCookieTTL = 12 * time.Hour

// LinkCookie is the value of the cookie that admits a browser to link l
// once its password was given: an expiry and a MAC over it, the link and
// its password hash (a new password, or a revoked link, ends it).
func (s *Service) LinkCookie(l store.Link) string {
	exp := strconv.FormatInt(s.now().Add(linkCookieTTL).Unix(), 10)
	return exp + "." + s.linkMAC(l, exp)
}

// LinkCookieOK reports whether v is a LinkCookie of l still valid.
func (s *Service) LinkCookieOK(l store.Link, v string) bool {
	exp, mac, ok := strings.Cut(v, ".")
	if !ok {
		return false
	}
	secs, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || !s.now().Before(time.Unix(secs, 0)) {
		return false
	}
	return hmac.Equal([]byte(mac), []byte(s.linkMAC(l, exp)))
}

func (s *Service) linkMAC(l store.Link, exp string) string {
	m := hmac.New(sha256.New, s.signKey)
	fmt.Fprintf(m, "link\x00%s\x00%s\x00%s", l.ID, l.PasswordHash, exp)
	return hex.EncodeToString(m.Sum(nil))
}

// Links returns the links p may see: in space spaceID ("": every space p
// is a member of), all of them where p is a manager, else p's own.
func (s *Service) Links(ctx context.Context, p *Principal, spaceID string) ([]store.Link, error) {
	roles, err := s.SpaceRoles(ctx, p)
	if err != nil {
		return nil, err
	}
	all, err := s.db.Links(ctx, spaceID, 0)
	if err != nil {
		return nil, fmt.Errorf("auth: list links: %w", err)
	}
	var out []store.Link
	for _, l := range all {
		role, ok := roles[l.SpaceID]
		if ok && (role.Allows(Manager) || l.CreatorID == p.User.ID) && p.Covers(l.SpaceID, l.Path) {
			out = append(out, l)
		}
	}
	return out, nil
}

// RevokeLink deletes the link named by ref (its id, its URL or its secret)
// if p made it or manages its space; else, or when there is no such link,
// it returns an error matching ErrNotFound.
func (s *Service) RevokeLink(ctx context.Context, p *Principal, ref string) (store.Link, error) {
	ref = strings.TrimSpace(ref)
	l, err := s.db.Link(ctx, ref)
	if errors.Is(err, store.ErrNotFound) {
		l, err = s.db.LinkByHash(ctx, sha256Hex(LinkSecret(ref)))
	}
	if errors.Is(err, store.ErrNotFound) {
		return store.Link{}, reason(ErrNotFound, "no such link %q", ref)
	}
	if err != nil {
		return store.Link{}, fmt.Errorf("auth: revoke link: %w", err)
	}
	role, ok, err := s.RoleIn(ctx, p, l.SpaceID)
	if err != nil {
		return store.Link{}, err
	}
	if p.Link != nil || !ok || !(role.Allows(Manager) || l.CreatorID == p.User.ID) {
		return store.Link{}, reason(ErrNotFound, "no such link %q", ref)
	}
	err = s.db.Update(ctx, func(tx *store.Tx) error { return tx.DeleteLink(ctx, l.ID) })
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.Link{}, fmt.Errorf("auth: revoke link: %w", err)
	}
	return l, nil
}
