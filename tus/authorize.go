package tus

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/store"
)

// authorize checks that p, who owns upload u, may still write it: the
// token p came with (if any) still exists and has not expired (else 401),
// and p is an editor or manager of u's space whose credential covers u's
// path, or, for a partial upload, an editor or manager of some space (else
// 403); a drop link's principal also needs its link alive (else 403). It
// is asked at every PATCH and before the upload is submitted.
func (h *Handler) authorize(ctx context.Context, p *auth.Principal, u store.Upload) error {
	if p == nil {
		return tusError(http.StatusUnauthorized, "authentication required")
	}
	if p.Token != nil {
		tok, err := h.db.TokenByID(ctx, p.Token.ID)
		if errors.Is(err, store.ErrNotFound) {
			return tusError(http.StatusUnauthorized, "the token has been revoked")
		}
		if err != nil {
			return fmt.Errorf("tus: token of upload %s: %w", u.ID, err)
		}
		if !tok.ExpiresAt.IsZero() && !h.now().Before(tok.ExpiresAt) {
			return tusError(http.StatusUnauthorized, "the token has expired")
		}
	}
	if p.Link != nil {
		// A link revoked, expired or whose creator lost the role it
		// needs ends its uploads.
		if _, err := h.auth.LinkAliveByID(ctx, p.Link.ID); err != nil {
			if errors.Is(err, auth.ErrLinkGone) {
				return tusError(http.StatusForbidden, "this link no longer accepts uploads")
			}
			return fmt.Errorf("tus: link of upload %s: %w", u.ID, err)
		}
	}
	if u.Partial {
		return h.writerSomewhere(ctx, p)
	}
	role, ok, err := h.auth.RoleIn(ctx, p, u.SpaceID)
	if err != nil {
		return fmt.Errorf("tus: role in %q: %w", u.SpaceID, err)
	}
	if !ok || !role.Allows(auth.Editor) || !p.Covers(u.SpaceID, u.Path) {
		return tusError(http.StatusForbidden, "you may no longer upload to %s/%s", u.SpaceID, u.Path)
	}
	return nil
}

// writerSomewhere checks that p may write to at least one space: a partial
// upload names no destination, but only someone who could use it may store
// one (403 otherwise).
func (h *Handler) writerSomewhere(ctx context.Context, p *auth.Principal) error {
	roles, err := h.auth.SpaceRoles(ctx, p)
	if err != nil {
		return fmt.Errorf("tus: spaces of %q: %w", p.User.Name, err)
	}
	for _, r := range roles {
		if r.Allows(auth.Editor) {
			return nil
		}
	}
	return tusError(http.StatusForbidden, "you may not upload: you are an editor of no space")
}

// checkParts checks, before tusd or anything else looks at them, that the
// parts an Upload-Concat "final;…" header names are p's own partial
// uploads still receiving. An unknown part and another user's get the same
// 404, so that the answer tells nothing of other users' uploads.
func (h *Handler) checkParts(ctx context.Context, p *auth.Principal, concat string) error {
	list, ok := strings.CutPrefix(concat, "final;")
	if !ok {
		return nil
	}
	for _, v := range strings.Split(list, " ") {
		if v = strings.TrimSpace(v); v == "" {
			continue
		}
		_, id, found := strings.Cut(v, h.base)
		if !found {
			return noSuchPart(v)
		}
		if err := h.ownPart(ctx, p, strings.Trim(id, "/")); err != nil {
			return err
		}
	}
	return nil
}

// ownPart checks that upload id is a partial upload of p still receiving.
func (h *Handler) ownPart(ctx context.Context, p *auth.Principal, id string) error {
	pu, err := h.db.Upload(ctx, id)
	if errors.Is(err, store.ErrNotFound) || err == nil && (!pu.Partial || !owns(p, pu) || pu.State != store.UploadReceiving) {
		return noSuchPart(id)
	}
	if err != nil {
		return fmt.Errorf("tus: partial upload %s: %w", id, err)
	}
	return nil
}

func noSuchPart(id string) error {
	return tusError(http.StatusNotFound, "no such partial upload %s", id)
}
