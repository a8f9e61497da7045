package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The replica rows (-replicas N): the same uploads sent to Wharf behind a
// round-robin HTTP reverse proxy that tusbench starts as a process of its
// own (this program again, with -proxy-for) on loopback. wharf-proxy is one
// replica behind it (what the proxy costs); wharf-replicas is N replicas
// sharing one data directory and its SQLite database, so that an upload's
// POST and PATCH land on different replicas, and the parallel uploads
// spread over all of them. A row's CPU time is that of all its processes
// (replicas and proxy), its peak RSS the highest of them. With -db the
// replicas share a PostgreSQL database (a fresh one per start, made
// beforehand: tusbench speaks no PostgreSQL), with -blobs also an S3
// bucket, each replica then with a data directory of its own; davbench
// -backends starts both servers for it (bench/davbench/backends.go). For
// the WebDAV rows, see davbench -replicas.

var proxyServing = regexp.MustCompile(`^proxy serving addr=(\S+)`)

// startReplicas starts the replicas of row s.kind on one data directory
// under dir, then the proxy in front of them, and points s at the proxy.
func (b *bench) startReplicas(ctx context.Context, s *srv, dir, bin string) (err error) {
	n := 1
	if s.kind == rowReplicas {
		n = b.cfg.Replicas
	}
	defer func() {
		if err != nil && s.p != nil {
			s.stop()
		}
	}()
	data := filepath.Join(dir, "data")
	var shared []string
	if b.cfg.DB != "" {
		// A database of its own for each start (made beforehand, as
		// tusbench speaks no PostgreSQL), and the contents under a prefix
		// of the bucket named after the row and phase.
		b.starts++
		shared = append(shared, "WHARF_DB="+fmt.Sprintf(b.cfg.DB, b.starts))
		if b.cfg.Blobs != "" {
			u, err := url.Parse(b.cfg.Blobs)
			if err != nil || u.Scheme != "s3" {
				return fmt.Errorf("-blobs %q: not an s3:// URL", b.cfg.Blobs)
			}
			u.Path = "/" + filepath.Base(dir)
			shared = append(shared, "WHARF_BLOBS="+u.String())
		}
	}
	var addrs []string
	for i := range n {
		rdir := filepath.Join(dir, fmt.Sprintf("replica%d", i+1))
		if err := os.MkdirAll(rdir, 0o755); err != nil {
			return err
		}
		if b.cfg.Blobs != "" {
			data = filepath.Join(rdir, "data")
		}
		env := append([]string{"WHARF_DATA=" + data, "WHARF_LISTEN=127.0.0.1:0"}, shared...)
		if i == 0 {
			// The first one alone creates the schema and the admin.
			env = append(env, "WHARF_ADMIN_PASSWORD="+s.pass)
		}
		p, err := startProc(ctx, rdir, wharfServing, bin, []string{"serve"}, env...)
		if err != nil {
			return fmt.Errorf("replica %d: %w", i+1, err)
		}
		if s.p == nil {
			s.p = p
		} else {
			s.more = append(s.more, p)
		}
		addrs = append(addrs, p.addr)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	pdir := filepath.Join(dir, "proxy")
	if err := os.MkdirAll(pdir, 0o755); err != nil {
		return err
	}
	p, err := startProc(ctx, pdir, proxyServing, self, []string{"-proxy-for", strings.Join(addrs, ",")})
	if err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	s.more = append(s.more, p)
	s.create = "http://" + p.addr + "/tus/"
	s.meta = func(name string) string { return "space " + b64("files") + ",path " + b64(name) }
	s.checksum = true
	return nil
}

// serveProxy is the round-robin reverse proxy: each request goes to the
// next of backends (host:port, comma-separated), with the client's Host
// kept so that the Locations Wharf makes point at the proxy. It listens on
// a free 127.0.0.1 port, prints it, and stops on SIGTERM. (davbench has the
// same one: bench/davbench/replicas.go.)
func serveProxy(backends string) int {
	var backs []*url.URL
	for a := range strings.SplitSeq(backends, ",") {
		u, err := url.Parse("http://" + strings.TrimSpace(a))
		if err != nil || u.Host == "" {
			fatalf("-proxy-for: bad address %q", a)
		}
		backs = append(backs, u)
	}
	var next atomic.Uint64
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			u := backs[(next.Add(1)-1)%uint64(len(backs))]
			r.Out.URL.Scheme, r.Out.URL.Host = u.Scheme, u.Host
			r.Out.Host = r.In.Host
			if r.In.ContentLength > 0 {
				// The transport reads a body once more after its
				// Content-Length; by then writing the answer may have
				// closed it, and the failed read drops the connection
				// to the replica mid-answer (golang/go#40747).
				r.Out.Body = sizedBody{io.LimitReader(r.In.Body, r.In.ContentLength), r.In.Body}
			}
		},
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     time.Minute,
			DisableCompression:  true,
			WriteBufferSize:     256 << 10,
			ReadBufferSize:      64 << 10,
		},
		FlushInterval: -1,
		BufferPool:    &bufPool{},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fatalf("proxy: %v", err)
	}
	srv := &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second}
	fmt.Printf("proxy serving addr=%s backends=%s\n", ln.Addr(), backends)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err := <-errc:
		fmt.Fprintf(os.Stderr, "proxy: %v\n", err)
		return 1
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		fmt.Fprintf(os.Stderr, "proxy: %v\n", err)
	}
	return 0
}

// sizedBody is a request body cut at its Content-Length.
type sizedBody struct {
	io.Reader
	io.Closer
}

// bufPool hands the proxy 256 KiB copy buffers (ReverseProxy's default
// is 32 KiB).
type bufPool struct{ p sync.Pool }

func (b *bufPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, 256<<10)
}

func (b *bufPool) Put(v []byte) { b.p.Put(&v) }
