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
	now := s.now()
	addr := addrKey(remoteAddr)
	if d := s.addrs.retryAfter(addr, now); d > 0 {
		return s.throttled(d, "user", name, addr)
	}
	ukey := strings.ToLower(name)
	if d := s.users.retryAfter(ukey, now); d > 0 {
		return s.throttled(d, "user", name, addr)
	}
	// The policy first: a weak new password says nothing about current.
	if err := checkPassword(name, password); err != nil {
		return err
	}
	p, err := s.passwordLogin(ctx, name, current, now)
	if err != nil {
		return err
	}
	if p == nil {
		s.users.fail(ukey, now)
		s.addrs.fail(addr, now)
		s.log.Info("password change with a wrong current password", "user", name, "remote_addr", addr)
		return reason(ErrUnauthenticated, "the current password is wrong")
	}
	s.users.reset(ukey)
	return s.SetPassword(ctx, p.User.Name, password)
}
