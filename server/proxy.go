package server

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// withClientAddr makes r.RemoteAddr the client's address when the TCP peer
// is a trusted proxy (Config.TrustedProxies): the right-most address of
// X-Forwarded-For that is not itself a trusted proxy, with port 0. Every
// handler below, the access log and the login throttle included, then sees
// the client. A peer that is not trusted, or a request without the header,
// keeps its own address: X-Forwarded-For is anyone's to write.
func (a *app) withClientAddr(next http.Handler) http.Handler {
	trusted := a.cfg.TrustedProxies
	if len(trusted) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if addr, ok := forwardedClient(r.RemoteAddr, r.Header.Values("X-Forwarded-For"), trusted); ok {
			r = r.WithContext(r.Context()) // a shallow copy: the caller's request is not changed
			r.RemoteAddr = addr
		}
		next.ServeHTTP(w, r)
	})
}

// forwardedClient returns the client address of a request from peer
// (host:port) carrying the X-Forwarded-For values xff, and whether it
// differs from the peer. Each proxy appends the address it received the
// request from, so the list is read from the right: the first address that
// is not a trusted proxy is the client. An entry that does not parse stops
// the walk at the last trusted hop, and a list of trusted proxies only
// gives its left-most entry.
func forwardedClient(peer string, xff []string, trusted []netip.Prefix) (string, bool) {
	p, ok := parseAddr(peer)
	if !ok || !isTrusted(p, trusted) || len(xff) == 0 {
		return "", false
	}
	var hops []string
	for _, v := range xff {
		hops = append(hops, strings.Split(v, ",")...)
	}
	client := p
	for i := len(hops) - 1; i >= 0; i-- {
		h, ok := parseAddr(strings.TrimSpace(hops[i]))
		if !ok {
			break
		}
		client = h
		if !isTrusted(h, trusted) {
			break
		}
	}
	if client == p {
		return "", false
	}
	return net.JoinHostPort(client.String(), "0"), true
}

// parseAddr reads an IP address, with or without a port, IPv6 in brackets
// or not; IPv4-mapped IPv6 addresses become IPv4.
func parseAddr(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ParseTrustedProxies reads networks as CIDRs ("10.0.0.0/8", "fd00::/8")
// or single addresses ("192.0.2.1", "::1"), for Config.TrustedProxies.
func ParseTrustedProxies(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			var a netip.Addr
			if a, err = netip.ParseAddr(s); err == nil && a.Zone() == "" {
				p = netip.PrefixFrom(a, a.BitLen())
			}
		}
		if err != nil || !p.IsValid() || p.Addr().Is4In6() {
			return nil, fmt.Errorf("trusted proxy %q: want a network such as 10.0.0.0/8 or fd00::/8, or an IP address", s)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
