package auth

import (
	"context"
	"net/mail"
	"strings"

	"github.com/wharfhq/wharf/store"
)

// CheckEmail checks an e-mail address for a user: "" (none) or one plain
// address (no display name), at most 254 bytes. It returns the address
// trimmed, or an error matching ErrBadName.
func CheckEmail(email string) (string, error) {
	email = strings.TrimSpace(email)
	if email == "" {
		return "", nil
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || len(email) > 254 {
		return "", reason(ErrBadName, "%q is not a plain e-mail address (user@example.org)", email)
	}
	return email, nil
}

// SetEmail sets the e-mail address of user name ("" for none): Phraseanet
// gets it with the commits the user publishes. Errors: ErrNotFound,
// ErrBadName (not an address).
func (s *Service) SetEmail(ctx context.Context, name, email string) error {
	email, err := CheckEmail(email)
	if err != nil {
		return err
	}
	u, err := s.db.UserByName(ctx, name)
	if err != nil {
		return userNotFound(err, name, "set e-mail")
	}
	err = s.db.Update(ctx, func(tx *store.Tx) error { return tx.SetUserEmail(ctx, u.ID, email) })
	if err != nil {
		return userNotFound(err, name, "set e-mail")
	}
	return nil
}

// Email returns the e-mail address of user name ("" for none), or an
// error matching ErrNotFound.
func (s *Service) Email(ctx context.Context, name string) (string, error) {
	u, err := s.db.UserByName(ctx, name)
	if err != nil {
		return "", userNotFound(err, name, "get e-mail")
	}
	return u.Email, nil
}
