package server

import (
	"context"
	"net"
	"net/http"
	"sync"
	"syscall"
)

// connInfo is what Wharf remembers of one client connection: the last
// request it carried, for the warning of withLiveContext, and for a plain
// TCP connection its socket, to cork (logWriter).
type connInfo struct {
	mu   sync.Mutex
	last string
	tcp  syscall.RawConn // nil unless the connection is plain TCP
}

type connKey struct{}

// connContext is the http.Server's ConnContext: every request's context
// carries its connection's connInfo.
func connContext(ctx context.Context, c net.Conn) context.Context {
	ci := &connInfo{}
	if tc, ok := c.(*net.TCPConn); ok {
		ci.tcp, _ = tc.SyscallConn()
	}
	return context.WithValue(ctx, connKey{}, ci)
}

// connSocket is the socket of r's connection if it is plain TCP (not TLS,
// not a test's pipe), else nil.
func connSocket(r *http.Request) syscall.RawConn {
	if ci, _ := r.Context().Value(connKey{}).(*connInfo); ci != nil {
		return ci.tcp
	}
	return nil
}

// withLiveContext guards against a connection whose context net/http has
// cancelled while it keeps it open: that happens when its background read
// (which watches for the client leaving) fails, for instance on a read
// deadline some code left set, and then every later request on the
// connection starts with a cancelled context and fails. Such a request
// is logged with the one before it on the connection, served with a
// context of its own, and the connection is closed after the answer.
func (a *app) withLiveContext(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ci, _ := r.Context().Value(connKey{}).(*connInfo)
		if ci == nil {
			next.ServeHTTP(w, r)
			return
		}
		ci.mu.Lock()
		prev := ci.last
		ci.last = r.Method + " " + r.URL.Path
		ci.mu.Unlock()
		if r.Context().Err() != nil {
			a.log.Warn("request arrived on a connection whose context is cancelled; serving it, then closing the connection",
				"method", r.Method, "path", r.URL.Path, "previous_request", prev, "remote", r.RemoteAddr)
			w.Header().Set("Connection", "close")
			r = r.WithContext(context.WithoutCancel(r.Context()))
		}
		next.ServeHTTP(w, r)
	})
}
