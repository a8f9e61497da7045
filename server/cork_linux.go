package server

import "syscall"

// setCork sets (on) or clears TCP_CORK on a TCP connection. While it is
// set the kernel sends only full segments; clearing it sends what is
// held at once (a corked segment also leaves after 200 ms on its own).
// It reports whether the option was changed.
func setCork(rc syscall.RawConn, on bool) bool {
	v := 0
	if on {
		v = 1
	}
	var serr error
	err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CORK, v)
	})
	return err == nil && serr == nil
}
