package postproc

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
)

// scanStep sends the file to clamd with INSTREAM. Anything but a clean
// "stream: OK" is a failure: a virus found, an error reply, a connection
// refused or cut. It is off when no clamd address is configured.
//
// Once configured it is a quick step: quick jobs (WebDAV PUTs, inline or
// with Prefer: respond-async) are scanned too, so that no upload path puts
// an unscanned file in a space.
type scanStep struct {
	network, addr string // "unix" or "tcp"; "" when off
}

func (s *scanStep) name() string { return "scan" }
func (s *scanStep) quick() bool  { return !s.off() }
func (s *scanStep) off() bool    { return s.network == "" }

// scanChunk is the size of the INSTREAM chunks sent.
const scanChunk = 64 << 10

func (s *scanStep) run(ctx context.Context, _ *Runner, t *task, progress func(int, string)) error {
	f, err := os.Open(t.file())
	if err != nil {
		return fmt.Errorf("cannot read the uploaded file: %w", err)
	}
	defer f.Close()
	verdict, err := s.scan(ctx, f, t.job.Size, progress)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("virus scan failed: %w", err)
	}
	if verdict != "" {
		return fmt.Errorf("virus found: %s", verdict)
	}
	progress(100, "clean")
	return nil
}

// scan streams r (size bytes) to clamd and returns "" if it is clean, or
// the name of what clamd found. An error means clamd could not tell.
func (s *scanStep) scan(ctx context.Context, r io.Reader, size int64, progress func(int, string)) (found string, err error) {
	reply, err := s.instream(ctx, r, size, progress)
	if err != nil {
		return "", err
	}
	// "stream: OK", "stream: <name> FOUND", "<message> ERROR".
	result, ok := strings.CutPrefix(reply, "stream: ")
	switch {
	case ok && result == "OK":
		return "", nil
	case ok && strings.HasSuffix(result, " FOUND"):
		return strings.TrimSuffix(result, " FOUND"), nil
	default:
		return "", fmt.Errorf("clamd answered %q", reply)
	}
}

// instream streams r to clamd and returns its reply without the trailing
// NUL.
func (s *scanStep) instream(ctx context.Context, f io.Reader, size int64, progress func(int, string)) (string, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, s.network, s.addr)
	if err != nil {
		return "", fmt.Errorf("connect to clamd: %w", err)
	}
	defer conn.Close()
	// A cancelled ctx unblocks any read or write at once.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	sendErr := send(conn, f, size, progress)
	// clamd may answer early (size limit exceeded) and close: read its
	// reply even if sending failed, and prefer it to the write error.
	reply, readErr := bufio.NewReader(io.LimitReader(conn, 4096)).ReadString(0)
	reply = strings.TrimRight(reply, "\x00\n")
	if readErr != nil && !(errors.Is(readErr, io.EOF) && reply != "" && sendErr != nil) {
		if sendErr != nil {
			return "", fmt.Errorf("send to clamd: %w", sendErr)
		}
		return "", fmt.Errorf("read clamd's reply: %w", readErr)
	}
	if sendErr != nil && !strings.HasSuffix(reply, "ERROR") {
		return "", fmt.Errorf("send to clamd: %w (clamd said %q)", sendErr, reply)
	}
	return reply, nil
}

// send writes the INSTREAM command, the file in length-prefixed chunks and
// the zero-length chunk that ends it.
func send(w io.Writer, f io.Reader, size int64, progress func(int, string)) error {
	if _, err := io.WriteString(w, "zINSTREAM\x00"); err != nil {
		return err
	}
	buf := make([]byte, 4+scanChunk)
	var sent int64
	for {
		n, rerr := f.Read(buf[4:])
		if n > 0 {
			binary.BigEndian.PutUint32(buf[:4], uint32(n))
			if _, err := w.Write(buf[:4+n]); err != nil {
				return err
			}
			sent += int64(n)
			if size > 0 {
				progress(int(sent*100/size), "scanning")
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return fmt.Errorf("cannot read the uploaded file: %w", rerr)
		}
	}
	_, err := w.Write([]byte{0, 0, 0, 0})
	return err
}
