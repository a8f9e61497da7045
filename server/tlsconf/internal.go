package tlsconf

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// internal serves certificates issued by the local CA. It is safe for
// concurrent use: handshakes read the current leaf while maintain replaces
// it.
type internal struct {
	ca       *CA
	path     string // the kept leaf, <certs>/local/wharf.pem
	names    func() ([]string, []net.IP)
	log      *slog.Logger
	now      func() time.Time
	interval time.Duration

	mu   sync.RWMutex
	leaf *tls.Certificate
}

func newInternal(cfg *Config) (*internal, error) {
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("tlsconf: %w", err)
	}
	ca, err := LoadOrCreateCA(filepath.Join(cfg.Dir, "ca"), cfg.Now())
	if err != nil {
		return nil, err
	}
	local := filepath.Join(cfg.Dir, "local")
	if err := os.MkdirAll(local, 0o700); err != nil {
		return nil, fmt.Errorf("tlsconf: %w", err)
	}
	in := &internal{
		ca:       ca,
		path:     filepath.Join(local, leafFile),
		names:    func() ([]string, []net.IP) { return certNames(cfg.Domains, cfg.ListenHost) },
		log:      cfg.Logger,
		now:      cfg.Now,
		interval: cfg.RenewInterval,
	}
	if in.leaf, err = loadLeaf(in.path); err != nil {
		// A damaged file is replaced, not fatal: the CA is what matters.
		in.log.Warn("replacing unreadable local certificate", "err", err)
		in.leaf = nil
	}
	if err := in.renew(); err != nil {
		return nil, err
	}
	in.log.Info("local CA", "fingerprint", ca.Fingerprint(), "names", strings.Join(leafNames(in.current()), ","))
	return in, nil
}

func (in *internal) current() *tls.Certificate {
	in.mu.RLock()
	defer in.mu.RUnlock()
	return in.leaf
}

func (in *internal) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return in.current(), nil
}

// renew replaces the leaf when it expires within LeafRenewBefore, was not
// issued by the CA, or misses one of the names and addresses the machine
// has now (interfaces come and go, DHCP leases change).
func (in *internal) renew() error {
	names, ips := in.names()
	now := in.now()
	why := in.ca.needsRenewal(in.current(), names, ips, now)
	if why == "" {
		return nil
	}
	leaf, err := in.ca.Issue(names, ips, now)
	if err != nil {
		return err
	}
	if err := saveLeaf(in.path, leaf); err != nil {
		return err
	}
	in.mu.Lock()
	in.leaf = leaf
	in.mu.Unlock()
	in.log.Info("issued local certificate", "reason", why, "not_after", leaf.Leaf.NotAfter.Format(time.RFC3339))
	return nil
}

// run checks the leaf every interval until ctx ends.
func (in *internal) run(ctx context.Context) {
	t := time.NewTicker(in.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := in.renew(); err != nil {
				in.log.Error("renewing local certificate", "err", err)
			}
		}
	}
}

func leafNames(c *tls.Certificate) []string {
	if c == nil || c.Leaf == nil {
		return nil
	}
	out := slices.Clone(c.Leaf.DNSNames)
	for _, ip := range c.Leaf.IPAddresses {
		out = append(out, ip.String())
	}
	return out
}

// certNames is what a local certificate covers: the configured domains
// (IP literals among them go to the IP list), the listen host when it is
// specific, "localhost", the host name, and every address of the machine's
// interfaces, loopback included. Link-local IPv6 addresses are left out:
// they need a zone no URL carries. The source addresses of the default
// routes are added too: listing interfaces needs a netlink socket, which a
// sandbox (systemd's RestrictAddressFamilies) may forbid.
func certNames(domains []string, listenHost string) ([]string, []net.IP) {
	var names []string
	var ips []net.IP
	add := func(s string) {
		s = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".")
		if s == "" {
			return
		}
		if ip := net.ParseIP(s); ip != nil {
			if ip.IsUnspecified() {
				return
			}
			if !slices.ContainsFunc(ips, ip.Equal) {
				ips = append(ips, ip)
			}
			return
		}
		if !slices.Contains(names, s) {
			names = append(names, s)
		}
	}
	for _, d := range domains {
		add(d)
	}
	add(listenHost)
	add("localhost")
	if h, err := os.Hostname(); err == nil {
		add(h)
	}
	add("127.0.0.1")
	add("::1")
	for _, probe := range []string{"192.0.2.1:9", "[2001:db8::1]:9"} {
		// Connecting a UDP socket sends nothing; it only picks the route.
		if c, err := net.Dial("udp", probe); err == nil {
			add(c.LocalAddr().(*net.UDPAddr).IP.String())
			c.Close()
		}
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok || ipn.IP.IsLinkLocalUnicast() {
				continue
			}
			add(ipn.IP.String())
		}
	}
	return names, ips
}
