package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/wharfhq/wharf/store"
)

// Role is what a user may do in a space. Each role includes the ones before.
type Role string

const (
	Viewer  Role = "viewer"  // read
	Editor  Role = "editor"  // read and write
	Manager Role = "manager" // also members and targets
)

func (r Role) rank() int {
	switch r {
	case Viewer:
		return 1
	case Editor:
		return 2
	case Manager:
		return 3
	}
	return 0
}

// ParseRole parses a role name, ignoring case and surrounding spaces. It
// returns an error matching ErrBadRole that lists the valid roles.
func ParseRole(s string) (Role, error) {
	r := Role(strings.ToLower(strings.TrimSpace(s)))
	if r.rank() == 0 {
		return "", reason(ErrBadRole, "unknown role %q: use %s, %s or %s", s, Viewer, Editor, Manager)
	}
	return r, nil
}

// Allows reports whether r includes need. Unknown roles allow nothing and
// are allowed by nothing.
func (r Role) Allows(need Role) bool {
	return need.rank() > 0 && r.rank() >= need.rank()
}

// Member is a user's role in a space.
type Member struct {
	UserID int64
	User   string
	Role   Role
}

// Grant gives user role in space spaceID, replacing any role it had there.
// It returns an error matching ErrBadRole or ErrNotFound (user or space).
func (s *Service) Grant(ctx context.Context, spaceID, user string, role Role) error {
	role, err := ParseRole(string(role))
	if err != nil {
		return err
	}
	err = s.db.Update(ctx, func(tx *store.Tx) error {
		u, err := tx.UserByName(ctx, user)
		if err != nil {
			return err
		}
		err = tx.SetMember(ctx, spaceID, u.ID, string(role))
		if errors.Is(err, store.ErrNotFound) {
			return reason(ErrNotFound, "space %q not found", spaceID)
		}
		return err
	})
	var re *reasonError
	if errors.As(err, &re) {
		return err
	}
	if err != nil {
		return userNotFound(err, user, fmt.Sprintf("grant %s in %q to %q", role, spaceID, user))
	}
	return nil
}

// Revoke removes user from space spaceID. It returns an error matching
// ErrNotFound if the user does not exist or is not a member.
func (s *Service) Revoke(ctx context.Context, spaceID, user string) error {
	err := s.db.Update(ctx, func(tx *store.Tx) error {
		u, err := tx.UserByName(ctx, user)
		if err != nil {
			return err
		}
		err = tx.DeleteMember(ctx, spaceID, u.ID)
		if errors.Is(err, store.ErrNotFound) {
			return reason(ErrNotFound, "user %q is not a member of space %q", user, spaceID)
		}
		return err
	})
	var re *reasonError
	if errors.As(err, &re) {
		return err
	}
	if err != nil {
		return userNotFound(err, user, fmt.Sprintf("revoke %q from %q", user, spaceID))
	}
	return nil
}

// Members returns the members of space spaceID, ordered by user name. Admins
// are not listed unless granted a role; a space that does not exist has no
// members.
func (s *Service) Members(ctx context.Context, spaceID string) ([]Member, error) {
	ms, err := s.db.Members(ctx, spaceID)
	if err != nil {
		return nil, fmt.Errorf("auth: list members: %w", err)
	}
	out := make([]Member, len(ms))
	for i, m := range ms {
		out[i] = Member{UserID: m.UserID, User: m.UserName, Role: Role(m.Role)}
	}
	return out, nil
}

// narrow applies p's token, if any, to role in spaceID: a token narrowed to
// another space reaches nothing, and an upload token at most edits.
func (p *Principal) narrow(spaceID string, role Role) (Role, bool) {
	if p.Link != nil {
		if p.Link.SpaceID != spaceID {
			return "", false
		}
		if role.Allows(Editor) {
			role = Editor
		}
	}
	if p.Token == nil {
		return role, true
	}
	if p.Token.SpaceID != "" && p.Token.SpaceID != spaceID {
		return "", false
	}
	if p.Token.Kind == KindUpload && role.Allows(Editor) {
		role = Editor
	}
	return role, true
}

// RoleIn returns p's role in space spaceID, and false if p has no access
// there. Admins are managers of every space id, existing or not (the caller
// checks the space exists). A token narrows the role; see Token.
func (s *Service) RoleIn(ctx context.Context, p *Principal, spaceID string) (Role, bool, error) {
	if p == nil {
		return "", false, nil
	}
	role := Manager
	if !p.User.Admin {
		v := s.version(ctx)
		k := roleKey{space: spaceID, user: p.User.ID}
		now := s.now()
		e, hit := s.fresh.roles.Get(k, v, now)
		if !hit {
			r, err := s.db.MemberRole(ctx, spaceID, p.User.ID)
			switch {
			case errors.Is(err, store.ErrNotFound):
				e = roleEntry{}
			case err != nil:
				return "", false, fmt.Errorf("auth: role in %q: %w", spaceID, err)
			default:
				e = roleEntry{role: Role(r), ok: true}
			}
			s.fresh.roles.Put(k, v, now, e)
		}
		if !e.ok {
			return "", false, nil
		}
		role = e.role
	}
	role, ok := p.narrow(spaceID, role)
	return role, ok, nil
}

// SpaceRoles returns every space p may see with p's role in it: all spaces
// for an admin, else p's memberships; narrowed by p's token.
func (s *Service) SpaceRoles(ctx context.Context, p *Principal) (map[string]Role, error) {
	roles := make(map[string]Role)
	if p == nil {
		return roles, nil
	}
	if p.User.Admin {
		ids, err := s.db.SpaceIDs(ctx)
		if err != nil {
			return nil, fmt.Errorf("auth: space roles: %w", err)
		}
		for _, id := range ids {
			roles[id] = Manager
		}
	} else {
		ms, err := s.db.MemberSpaces(ctx, p.User.ID)
		if err != nil {
			return nil, fmt.Errorf("auth: space roles: %w", err)
		}
		for _, m := range ms {
			roles[m.SpaceID] = Role(m.Role)
		}
	}
	for id, r := range roles {
		if r, ok := p.narrow(id, r); ok {
			roles[id] = r
		} else {
			delete(roles, id)
		}
	}
	return roles, nil
}
