package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/wharfhq/wharf/store"
)

// PublicURLSetting is the settings key under which a running server
// records the URL it serves at (Config.PublicURL, else the one derived from
// its listener), for the commands that print URLs for other programs to
// use ("wharf target test", "target add", "target reset-secret").
const PublicURLSetting = "public_url"

// recordPublicURL records the URL the server serves at. A failure is only
// logged: the commands then ask for --public-url.
func (a *app) recordPublicURL(ctx context.Context, addr net.Addr) {
	u := a.publicURL(addr)
	err := a.svc.DB.Update(ctx, func(tx *store.Tx) error { return tx.PutSetting(ctx, PublicURLSetting, []byte(u)) })
	if err != nil {
		a.log.WarnContext(ctx, "cannot record the public URL for the command line", "url", u, "err", err)
	}
}

// PublicURL is the URL the server last started on this data directory
// serves at, as it recorded it; "" when it never ran.
func (s *Services) PublicURL(ctx context.Context) (string, error) {
	v, err := s.DB.Setting(ctx, PublicURLSetting)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("server: read the recorded public URL: %w", err)
	}
	return string(v), nil
}

// listenError explains why addr (Config.Listen) cannot be listened on, and
// names the setting that chooses another.
func listenError(addr string, err error) error {
	why := err.Error()
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		why = oe.Err.Error()
	}
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		why = "the address is in use (another wharf, or another program, listens there)"
	case errors.Is(err, syscall.EACCES):
		why = "permission denied (ports below 1024 need privileges)"
	}
	return fmt.Errorf("cannot listen on %s: %s; choose another address with --listen (or WHARF_LISTEN, or listen in the config file); nothing was changed", addr, why)
}
