package server

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// listenNotify opens a unixgram socket like systemd's notify socket and
// returns its $NOTIFY_SOCKET value and a channel of the datagrams.
func listenNotify(t *testing.T, abstract bool) (string, <-chan string) {
	t.Helper()
	name := filepath.Join(t.TempDir(), "notify")
	env := name
	if abstract {
		env = "@wharf-test-" + strings.ReplaceAll(t.Name(), "/", "-") + "-" + time.Now().Format("150405.000000000")
		name = "\x00" + env[1:]
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch := make(chan string, 64)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(ch)
				return
			}
			ch <- string(buf[:n])
		}
	}()
	return env, ch
}

func receive(t *testing.T, ch <-chan string, want string, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case got := <-ch:
			if got == want {
				return
			}
		case <-deadline:
			t.Fatalf("no %q within %v", want, within)
		}
	}
}

func TestNotifier(t *testing.T) {
	for _, abstract := range []bool{false, true} {
		name := "path"
		if abstract {
			name = "abstract"
		}
		t.Run(name, func(t *testing.T) {
			sock, ch := listenNotify(t, abstract)
			n := NotifierFromEnv(sock, "200000") // 200ms: WATCHDOG=1 every 100ms
			if n.Watchdog != 200*time.Millisecond {
				t.Fatalf("Watchdog = %v, want 200ms", n.Watchdog)
			}
			if err := n.Notify("READY=1"); err != nil {
				t.Fatal(err)
			}
			receive(t, ch, "READY=1", 2*time.Second)
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan struct{})
			go func() { defer close(done); n.RunWatchdog(ctx, nil, func(err error) { t.Error(err) }) }()
			receive(t, ch, "WATCHDOG=1", 2*time.Second)
			receive(t, ch, "WATCHDOG=1", 2*time.Second)
			cancel()
			<-done
		})
	}
	t.Run("unhealthy withholds the watchdog", func(t *testing.T) {
		sock, ch := listenNotify(t, false)
		n := NotifierFromEnv(sock, "100000")
		ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
		defer cancel()
		var errs int
		n.RunWatchdog(ctx, func(context.Context) error { return context.DeadlineExceeded }, func(error) { errs++ })
		select {
		case got := <-ch:
			t.Fatalf("got %q from an unhealthy server", got)
		default:
		}
		if errs == 0 {
			t.Fatal("the failed health checks were not reported")
		}
	})
	t.Run("no socket", func(t *testing.T) {
		n := NotifierFromEnv("", "30000000")
		if err := n.Notify("READY=1"); err != nil {
			t.Fatalf("Notify without a socket = %v, want nil", err)
		}
		n.RunWatchdog(t.Context(), nil, nil) // returns at once
	})
}

// TestRunNotifiesReadyWhenListening: systemd hears READY=1 only once the
// port accepts connections, then WATCHDOG=1, and STOPPING=1 on shutdown.
func TestRunNotifiesReadyWhenListening(t *testing.T) {
	sock, ch := listenNotify(t, false)
	addrc := make(chan net.Addr, 1)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		errc <- Run(ctx, Config{
			Dir:    t.TempDir(),
			Listen: "127.0.0.1:0",
			Ready:  func(a net.Addr) { addrc <- a },
			Notify: NotifierFromEnv(sock, "400000"),
		})
	}()
	select {
	case got := <-ch:
		if got != "READY=1" {
			t.Fatalf("first notification = %q, want READY=1", got)
		}
	case err := <-errc:
		t.Fatalf("Run returned before READY=1: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("no READY=1 within 30s")
	}
	// The listener must be open already: its address known (Ready is
	// called right after net.Listen), and connections accepted.
	var addr net.Addr
	select {
	case addr = <-addrc:
	default:
		t.Fatal("READY=1 came before the listener was open")
	}
	c, err := net.DialTimeout("tcp", addr.String(), 2*time.Second)
	if err != nil {
		t.Fatalf("READY=1 was sent but %s does not accept connections: %v", addr, err)
	}
	c.Close()
	receive(t, ch, "WATCHDOG=1", 5*time.Second)
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	receive(t, ch, "STOPPING=1", time.Second)
}
