package auth

import (
	"context"
	"strings"
)

// ChangePassword replaces the account password of user name after checking
// current, which must be the account password itself: an app password
// cannot change it, so a lost device cannot take over the account. The
// check counts against the login throttle like a login from remoteAddr. It
// returns an error matching ErrUnauthenticated when current is wrong,
// ErrThrottled, ErrWeakPassword or ErrNotFound.
func (s *Service) ChangePassword(ctx context.Context, remoteAddr, name, current, password string) error {
	// The policy first: a weak new password says nothing about current.
	if err := checkPassword(name, password); err != nil {
		return err
	}
	addr := addrKey(remoteAddr)
	t, err := s.admit(ctx, strings.ToLower(name), addr, name)
	if err != nil {
		return err
	}
	p, err := s.passwordLogin(ctx, name, current, s.now())
	if err != nil {
		s.release(ctx, t, false)
		return err
	}
	if p == nil {
		s.log.Info("password change with a wrong current password", "user", name, "remote_addr", addr)
		return reason(ErrUnauthenticated, "the current password is wrong")
	}
	s.release(ctx, t, true)
	return s.SetPassword(ctx, p.User.Name, password)
}
