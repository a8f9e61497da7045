package clamdtest

import (
	"encoding/binary"
	"io"
	"net"
	"testing"
)

// Fake serves a clamd of one behaviour on ln until the end of the test:
// it reads the INSTREAM command and chunks and answers what answer returns
// for the bytes received (or, if cutAfter > 0, closes the connection after
// that many bytes). For what the real daemon cannot be made to do: hang,
// cut a stream, take its time.
func Fake(t testing.TB, ln net.Listener, cutAfter int, answer func(got []byte) string) {
	t.Helper()
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if cutAfter > 0 {
					io.CopyN(io.Discard, c, int64(cutAfter))
					return
				}
				cmd := make([]byte, len("zINSTREAM\x00"))
				if _, err := io.ReadFull(c, cmd); err != nil || string(cmd) != "zINSTREAM\x00" {
					io.WriteString(c, "UNKNOWN COMMAND\x00")
					return
				}
				var got []byte
				for {
					var n [4]byte
					if _, err := io.ReadFull(c, n[:]); err != nil {
						return
					}
					size := binary.BigEndian.Uint32(n[:])
					if size == 0 {
						break
					}
					chunk := make([]byte, size)
					if _, err := io.ReadFull(c, chunk); err != nil {
						return
					}
					got = append(got, chunk...)
				}
				io.WriteString(c, answer(got)+"\x00")
			}()
		}
	}()
}
