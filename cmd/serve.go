package cmd

import (
	"fmt"
	"net"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/wharfhq/wharf/server"
	"github.com/wharfhq/wharf/server/tlsconf"
)

// serveCommand is "wharf serve". Its flags are also the settings of the
// configuration file (config.go), which adds --print-config.
func (c *commands) serveCommand() *cli.Command {
	return &cli.Command{
		Name:   "serve",
		Usage:  "run the server",
		Action: c.serve,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Usage: "address to listen on", Value: "127.0.0.1:8080"},
			&cli.StringFlag{Name: "public-url", Usage: "URL users reach this server at (default: from --listen)"},
			&cli.StringFlag{Name: "admin-password", Usage: "password of the admin user created on first start (default: random, shown once on a terminal, else written to initial-admin-password in the data directory)"},
			&cli.DurationFlag{Name: "shutdown-timeout", Usage: "how long running requests may finish on shutdown", Value: 30 * time.Second},
			&cli.BoolFlag{Name: "dav-allow-infinity", Usage: "let WebDAV PROPFIND walk whole trees (Depth: infinity)"},
			&cli.StringFlag{Name: "max-upload-size", Usage: "largest upload accepted, e.g. 20G (default: 64G)"},
			&cli.StringFlag{Name: "max-pending-upload-size", Usage: "bytes one user may have in tus uploads not yet complete, e.g. 100G (default: 10G, or --max-upload-size if larger)"},
			&cli.DurationFlag{Name: "upload-expiry", Usage: "how long an unfinished tus upload is kept after its last chunk", Value: 24 * time.Hour},
			&cli.DurationFlag{Name: "processing-wait", Usage: "how long the request that completes an upload waits for processing before answering 202", Value: 10 * time.Minute},
			&cli.IntFlag{Name: "max-uploads-per-user", Usage: "uploads one user may have in flight at once (PUT, PATCH, POST with a body); more get 429, -1: no cap", Value: 16},
			&cli.DurationFlag{Name: "body-timeout", Usage: "window in which a request body must make progress (16 KiB) or be cut", Value: 60 * time.Second, Hidden: true},
			&cli.StringFlag{Name: "clamd", Usage: "clamd socket for virus scans: unix:/run/clamav/clamd.ctl or tcp:127.0.0.1:3310 (default: no scan)"},
			&cli.StringFlag{Name: "reject", Usage: "what to do with a rejected upload's bytes: quarantine or delete", Value: "quarantine"},
			&cli.StringFlag{Name: "tls", Usage: "HTTPS: off, internal (a local CA; see wharf ca export) or acme (Let's Encrypt) (default: off on a loopback --listen, internal otherwise)"},
			&cli.StringSliceFlag{Name: "domain", Usage: "name the certificate is for (repeatable or comma-separated; --tls acme needs one)"},
			&cli.StringFlag{Name: "acme-ca", Usage: "ACME directory URL", Value: tlsconf.LetsEncrypt},
			&cli.StringFlag{Name: "acme-email", Usage: "contact address for the ACME account (expiry and problem notices)"},
			&cli.StringSliceFlag{Name: "acme-challenges", Usage: "ACME challenge types to use: http-01, tls-alpn-01 (default: both)", Hidden: true},
			&cli.StringFlag{Name: "acme-ca-root", Usage: "PEM file of extra roots trusted for the ACME directory's HTTPS (test CAs)", Hidden: true},
			&cli.DurationFlag{Name: "push-doubt-hold", Usage: "how long a commit whose push may have reached Phraseanet is held back before it is sent again", Value: 2 * time.Minute, Hidden: true},
			&cli.StringFlag{Name: "events", Usage: "NATS server through which several replicas share their events, e.g. nats://127.0.0.1:4222 (options: ?stream=NAME&subject=PREFIX&replicas=N; default: events stay in this process)"},
			&cli.StringFlag{Name: "metrics-listen", Usage: "also serve /metrics here, without authentication, for a local Prometheus, e.g. 127.0.0.1:9090 (default: /metrics only for instance admins on --listen)"},
			&cli.StringSliceFlag{Name: "trusted-proxy", Usage: "networks of reverse proxies (CIDR or address, repeatable or comma-separated) whose X-Forwarded-For gives the client's address for login throttling and the access log (default: none, X-Forwarded-For is ignored)"},
			&cli.StringFlag{Name: "http-listen", Usage: "with TLS on, plain-HTTP address that redirects to HTTPS and answers ACME HTTP-01, or off (default: :80 when it can be bound)"},
		},
	}
}

func (c *commands) serve(cx *cli.Context) error {
	if err := args(cx); err != nil {
		return err
	}
	sink := newLogSink(c.stderr)
	defer sink.Close()
	log, err := newLogger(sink, logJSON(cx), cx.String("log-level"))
	if err != nil {
		return err
	}
	if _, _, err := net.SplitHostPort(cx.String("listen")); err != nil {
		return fmt.Errorf("--listen %q: want HOST:PORT, e.g. 127.0.0.1:8080 or :8080", cx.String("listen"))
	}
	var maxUpload int64
	if v := cx.String("max-upload-size"); v != "" {
		if maxUpload, err = parseSize(v); err != nil {
			return fmt.Errorf("--max-upload-size %q: %w", v, err)
		}
	}
	var maxPending int64
	if v := cx.String("max-pending-upload-size"); v != "" {
		if maxPending, err = parseSize(v); err != nil {
			return fmt.Errorf("--max-pending-upload-size %q: %w", v, err)
		}
	}
	if r := cx.String("reject"); r != "quarantine" && r != "delete" {
		return fmt.Errorf("--reject %q: want quarantine or delete", r)
	}
	if t := cx.String("tls"); t != "" {
		if _, err := tlsconf.ParseMode(t); err != nil {
			return fmt.Errorf("--tls %q: want off, internal or acme", t)
		}
	}
	proxies, err := server.ParseTrustedProxies(cx.StringSlice("trusted-proxy"))
	if err != nil {
		return fmt.Errorf("--trusted-proxy: %w", err)
	}
	return runServer(cx, server.Config{ // service_windows.go, service_other.go
		Dir:              cx.String("data"),
		DB:               cx.String("db"),
		Listen:           cx.String("listen"),
		PublicURL:        cx.String("public-url"),
		AdminPassword:    cx.String("admin-password"),
		Console:          c.stderr,
		ConsoleTerminal:  c.stderrIsTerminal(),
		Logger:           log,
		ShutdownTimeout:  cx.Duration("shutdown-timeout"),
		DAVAllowInfinity: cx.Bool("dav-allow-infinity"),
		MaxUploadSize:    maxUpload,
		MaxPendingUpload: maxPending,
		UploadExpiry:     cx.Duration("upload-expiry"),
		ProcessingWait:   cx.Duration("processing-wait"),
		UploadsPerUser:   cx.Int("max-uploads-per-user"),
		BodyTimeout:      cx.Duration("body-timeout"),
		Clamd:            cx.String("clamd"),
		Events:           cx.String("events"),
		Blobs:            cx.String("blobs"),
		Reject:           cx.String("reject"),
		TLS:              cx.String("tls"),
		Domains:          cx.StringSlice("domain"),
		ACMECA:           cx.String("acme-ca"),
		ACMEEmail:        cx.String("acme-email"),
		ACMECARoot:       cx.String("acme-ca-root"),
		ACMEChallenges:   cx.StringSlice("acme-challenges"),
		HTTPListen:       cx.String("http-listen"),
		MetricsListen:    cx.String("metrics-listen"),
		PushDoubtHold:    cx.Duration("push-doubt-hold"),
		TrustedProxies:   proxies,
		Notify:           server.NotifierFromEnv(os.Getenv("NOTIFY_SOCKET"), os.Getenv("WATCHDOG_USEC")),
	})
}

// stderrIsTerminal reports whether the server's console (standard error)
// is a terminal someone reads, where the first-start admin password may
// be shown. Under systemd it is the journal, which is not.
func (c *commands) stderrIsTerminal() bool {
	f, ok := c.stderr.(*os.File)
	return ok && isTerminal(f)
}
