// Command xnetdav is the "bare golang.org/x/net/webdav" peer of the WebDAV
// benchmark (bench/davbench): webdav.Handler over webdav.Dir with an
// in-memory lock system, behind the same Basic auth check Wharf does, minus
// password hashing. It exists only to be measured against.
//
// It prints the address it listens on as one line on stdout, then serves
// until SIGINT or SIGTERM.
package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/net/webdav"
)

func main() {
	dir := flag.String("dir", ".", "directory to serve")
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	user := flag.String("user", "admin", "Basic auth user")
	pass := flag.String("pass", "", "Basic auth password (required)")
	flag.Parse()
	if *pass == "" {
		fmt.Fprintln(os.Stderr, "xnetdav: -pass is required")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *dir, *addr, *user, *pass); err != nil {
		fmt.Fprintln(os.Stderr, "xnetdav:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, dir, addr, user, pass string) error {
	dav := &webdav.Handler{FileSystem: webdav.Dir(dir), LockSystem: webdav.NewMemLS()}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: basicAuth(dav, user, pass), ReadHeaderTimeout: 15 * time.Second}
	fmt.Println(ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// basicAuth answers 401 unless the request carries user:pass. Both are
// compared in constant time, as Wharf compares its hashes.
func basicAuth(next http.Handler, user, pass string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		uok := subtle.ConstantTimeCompare([]byte(u), []byte(user)) == 1
		pok := subtle.ConstantTimeCompare([]byte(p), []byte(pass)) == 1
		if !ok || !uok || !pok {
			w.Header().Set("WWW-Authenticate", `Basic realm="xnetdav"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}
