package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Notifier speaks systemd's service notification protocol (sd_notify(3)):
// datagrams like "READY=1" on the unix socket systemd names in
// $NOTIFY_SOCKET. A zero Notifier (no socket) does nothing, so a server
// not started by systemd (Type=notify) needs no special case. It is safe
// for concurrent use.
type Notifier struct {
	// Socket is $NOTIFY_SOCKET: a path, or an abstract socket name
	// starting with '@'. "": notifications are dropped.
	Socket string
	// Watchdog is the interval of $WATCHDOG_USEC; 0: no watchdog.
	Watchdog time.Duration
}

// NotifierFromEnv builds a Notifier from the values of NOTIFY_SOCKET and
// WATCHDOG_USEC (main reads the environment; this only parses). A
// malformed WATCHDOG_USEC disables the watchdog.
func NotifierFromEnv(socket, watchdogUsec string) Notifier {
	n := Notifier{Socket: socket}
	if us, err := strconv.ParseInt(watchdogUsec, 10, 64); err == nil && us > 0 {
		n.Watchdog = time.Duration(us) * time.Microsecond
	}
	return n
}

// Notify sends state (e.g. "READY=1", "STOPPING=1") to systemd. Without a
// socket it returns nil.
func (n Notifier) Notify(state string) error {
	if n.Socket == "" {
		return nil
	}
	name := n.Socket
	if strings.HasPrefix(name, "@") {
		name = "\x00" + name[1:] // Linux abstract namespace
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return errors.Join(errors.New("server: sd_notify: connect "+n.Socket), err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return errors.Join(errors.New("server: sd_notify: send "+state), err)
	}
	return nil
}

// RunWatchdog sends WATCHDOG=1 every half watchdog interval until ctx
// ends, each time healthy (nil: always) returns nil, so that systemd
// restarts a server that is stuck, not only one that died. It returns at
// once without a socket or a watchdog. Failures go to onErr (nil: dropped).
func (n Notifier) RunWatchdog(ctx context.Context, healthy func(context.Context) error, onErr func(error)) {
	if n.Socket == "" || n.Watchdog <= 0 {
		return
	}
	if onErr == nil {
		onErr = func(error) {}
	}
	tick := time.NewTicker(n.Watchdog / 2)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if healthy != nil {
			hctx, cancel := context.WithTimeout(ctx, n.Watchdog/2)
			err := healthy(hctx)
			cancel()
			if err != nil {
				onErr(fmt.Errorf("server: watchdog: not healthy, WATCHDOG=1 withheld: %w", err))
				continue
			}
		}
		if err := n.Notify("WATCHDOG=1"); err != nil {
			onErr(err)
		}
	}
}
