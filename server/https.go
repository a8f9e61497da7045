package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/wharfhq/wharf/server/tlsconf"
)

// defaultHTTPListen is where the redirecting HTTP listener goes when TLS is
// on and Config.HTTPListen is "".
const defaultHTTPListen = ":80"

// The max-age of Strict-Transport-Security on answers over HTTPS, by TLS
// mode. HSTS is for a host name, all ports, and a browser that has noted
// it refuses plain HTTP there and lets nobody click through a certificate
// warning until it expires.
//
//   - acme: a year, the usual value: the certificate is publicly trusted
//     and renewed on its own. No includeSubDomains (Wharf does not speak
//     for the other hosts of its domain) and no preload.
//   - internal: a day. Browsers note HSTS only from a connection without
//     certificate errors, so it applies only where Wharf's CA was
//     installed; there it still locks out when the CA changes (a new data
//     directory), Wharf goes back to plain HTTP, or another service of the
//     same host name (any port) speaks plain HTTP. A day bounds that.
const (
	hstsACME     = 365 * 24 * time.Hour
	hstsInternal = 24 * time.Hour
)

// hsts is the Strict-Transport-Security value for mode, "" for none.
func hsts(mode tlsconf.Mode) string {
	var age time.Duration
	switch mode {
	case tlsconf.ACME:
		age = hstsACME
	case tlsconf.Internal:
		age = hstsInternal
	default:
		return ""
	}
	return "max-age=" + strconv.FormatInt(int64(age/time.Second), 10)
}

// withHSTS sets Strict-Transport-Security to value on the answers to
// requests that came over TLS (browsers ignore it over plain HTTP anyway).
func withHSTS(value string, next http.Handler) http.Handler {
	if value == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil {
			w.Header().Set("Strict-Transport-Security", value)
		}
		next.ServeHTTP(w, r)
	})
}

// tlsMode resolves Config.TLS: "" is off on a loopback listener (nobody
// else can reach it, and browsers treat localhost as secure) and internal
// on any other, so that passwords never cross a network in clear by
// default.
func tlsMode(cfg *Config) (tlsconf.Mode, error) {
	if cfg.TLS != "" {
		return tlsconf.ParseMode(cfg.TLS)
	}
	host, _, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return "", fmt.Errorf("server: listen address %q: %w", cfg.Listen, err)
	}
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		return tlsconf.Off, nil
	}
	return tlsconf.Internal, nil
}

// https is the TLS side of a running server: the certificate source, the
// plain-HTTP listener that redirects to HTTPS (and answers ACME HTTP-01),
// and the goroutines that keep both going.
type https struct {
	mode   tlsconf.Mode
	src    *tlsconf.Source
	httpLn net.Listener // nil: no redirecting listener
	stop   context.CancelFunc
	done   chan struct{}
	redir  *http.Server
}

// openTLS prepares HTTPS on ln when the configuration asks for it: it opens
// the redirecting listener and makes (internal) or sets up (acme) the
// certificates. It leaves a.tls nil when TLS is off. On error nothing is
// left open but ln, which the caller closes.
func (a *app) openTLS(ln net.Listener) error {
	mode, err := tlsMode(&a.cfg)
	if err != nil || mode == tlsconf.Off {
		return err
	}
	h := &https{mode: mode}
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = ""
	}
	httpsPort, _ := strconv.Atoi(port)

	httpPort := 0
	switch addr := a.cfg.HTTPListen; addr {
	case "off":
	case "":
		// Port 80 needs privileges or may be taken: without it Wharf still
		// serves HTTPS, so this is a warning unless asked for explicitly.
		if h.httpLn, err = net.Listen("tcp", defaultHTTPListen); err != nil {
			a.log.Warn("no HTTP to HTTPS redirect", "addr", defaultHTTPListen, "err", err)
		}
	default:
		if h.httpLn, err = net.Listen("tcp", addr); err != nil {
			return fmt.Errorf("server: --http-listen %s: %w", addr, err)
		}
	}
	if h.httpLn != nil {
		_, p, _ := net.SplitHostPort(h.httpLn.Addr().String())
		httpPort, _ = strconv.Atoi(p)
	}

	var roots []byte
	if a.cfg.ACMECARoot != "" {
		if roots, err = os.ReadFile(a.cfg.ACMECARoot); err != nil {
			h.closeListener()
			return fmt.Errorf("server: ACME CA root: %w", err)
		}
	}
	h.src, err = tlsconf.New(tlsconf.Config{
		Mode:       mode,
		Dir:        filepath.Join(a.cfg.Dir, "certs"),
		Domains:    a.cfg.Domains,
		ListenHost: host,
		HTTPSPort:  httpsPort,
		HTTPPort:   httpPort,
		ACMECA:     a.cfg.ACMECA,
		ACMEEmail:  a.cfg.ACMEEmail,
		Challenges: a.cfg.ACMEChallenges,
		ACMERoots:  roots,
		Logger:     a.log.With("component", "tls"),
	})
	if err != nil {
		h.closeListener()
		return err
	}
	a.tls = h
	return nil
}

func (h *https) closeListener() {
	if h.httpLn != nil {
		h.httpLn.Close()
	}
}

// start serves the redirect and keeps certificates valid on bg; srv gets
// the TLS configuration, and its answers Strict-Transport-Security (the
// redirect's do not). Call it once the HTTPS listener is open, before
// serving, and close afterwards.
func (h *https) start(bg context.Context, a *app, srv *http.Server) {
	srv.TLSConfig = h.src.TLSConfig()
	srv.Handler = withHSTS(hsts(h.mode), srv.Handler)
	ctx, stop := context.WithCancel(bg)
	h.stop, h.done = stop, make(chan struct{})
	go func() {
		defer close(h.done)
		h.src.Run(ctx)
	}()
	if h.httpLn == nil {
		return
	}
	h.redir = &http.Server{
		Handler:           h.src.HTTPHandler(a.cfg.PublicURL),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second, // redirects and challenge tokens only
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          srv.ErrorLog,
	}
	a.log.Info("redirecting HTTP to HTTPS", "addr", h.httpLn.Addr().String())
	go func() {
		if err := h.redir.Serve(h.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("HTTP redirect listener", "err", err)
		}
	}()
}

// close stops the redirect listener and certificate maintenance.
func (h *https) close() {
	if h.redir != nil {
		h.redir.Close()
	}
	h.closeListener() // in case Serve had not taken it yet
	if h.stop != nil {
		h.stop()
		<-h.done
	}
	h.src.Close()
}

// scheme is "https" when TLS is on.
func (h *https) scheme() string {
	if h == nil {
		return "http"
	}
	return "https"
}

// publicHost is the host of the default public URL: the first --domain
// with ACME (without :443), else the listener's address.
func (h *https) publicHost(a *app, addr net.Addr) string {
	if h != nil && h.mode == tlsconf.ACME && len(a.cfg.Domains) > 0 {
		if _, port, _ := net.SplitHostPort(addr.String()); port != "443" {
			return net.JoinHostPort(a.cfg.Domains[0], port)
		}
		return a.cfg.Domains[0]
	}
	return strings.TrimSpace(addr.String())
}
