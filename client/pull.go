package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// PullOptions is what Pull fetches where.
type PullOptions struct {
	Client *Client // the server, logged in
	// URL is the file or folder: http(s)://host/dav/spaces/<id>/<path>.
	// Only its path is used; the server is Client's.
	URL    *url.URL
	Dest   string    // local file or folder; a file goes into an existing folder
	Rate   int64     // most bytes per second; 0: no limit
	Stdout io.Writer // a line per file
	Stderr io.Writer // the interruption notice
}

// Pull downloads a file or, recursively, a folder of a space. A file is
// written to Dest.part, resumed with a Range request after an
// interruption, checked against the server's SHA-256 and renamed to Dest.
// When not everything came through, the error is a *RunError.
func Pull(ctx context.Context, o PullOptions) error {
	u := o.URL
	top, err := o.Client.Propfind(ctx, u.EscapedPath(), 0)
	if err != nil || len(top) == 0 {
		return runErrorf(RunPrecheck, "%s: %v", u.Path, err)
	}
	p := &puller{cl: o.Client, limit: newLimiter(o.Rate), out: o.Stdout}
	dest := o.Dest
	if top[0].Dir {
		err = p.folder(ctx, top[0].Path, dest)
	} else {
		if fi, serr := os.Stat(dest); serr == nil && fi.IsDir() {
			dest = filepath.Join(dest, top[0].Name)
		}
		err = p.file(ctx, top[0], dest)
	}
	switch {
	case ctx.Err() != nil:
		fmt.Fprintln(o.Stderr, "interrupted: run the same command again to resume")
		return runErrorf(RunInterrupted, "interrupted")
	case err != nil:
		return runErrorf(RunIncomplete, "%v", err)
	case p.fails > 0:
		return runErrorf(RunIncomplete, "%d file(s) failed", p.fails)
	}
	return nil
}

// puller runs one pull.
type puller struct {
	cl    *Client
	limit *limiter
	out   io.Writer
	fails int
}

func escaped(p string) string { return (&url.URL{Path: p}).EscapedPath() }

// folder pulls the folder at server path dir into dest, recursively.
func (p *puller) folder(ctx context.Context, dir, dest string) error {
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return err
	}
	entries, err := p.cl.Propfind(ctx, escaped(strings.TrimSuffix(dir, "/")+"/"), 1)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if strings.TrimSuffix(e.Path, "/") == strings.TrimSuffix(dir, "/") {
			continue // the folder itself
		}
		if e.Name == "" || e.Name == "." || e.Name == ".." || strings.ContainsAny(e.Name, `/\`) {
			fmt.Fprintf(p.out, "skip %s: unsafe name\n", e.Path)
			continue
		}
		target := filepath.Join(dest, e.Name)
		if e.Dir {
			err = p.folder(ctx, e.Path, target)
		} else {
			err = p.file(ctx, e, target)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			p.fails++
			fmt.Fprintf(p.out, "failed %s: %v\n", e.Path, err)
		}
	}
	return nil
}

// file pulls one file to dest through dest.part.
func (p *puller) file(ctx context.Context, e Entry, dest string) error {
	if e.SHA256 != "" {
		if fi, err := os.Stat(dest); err == nil && fi.Size() == e.Size {
			if sum, err := fileSHA256(dest); err == nil && sum == e.SHA256 {
				fmt.Fprintf(p.out, "skip %s: up to date\n", dest)
				return nil
			}
		}
	}
	part := dest + ".part"
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	from, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	if from > e.Size {
		from = 0
	}
	if from > 0 {
		if _, err := io.Copy(h, io.NewSectionReader(f, 0, from)); err != nil {
			return err
		}
	}
	resumedAt := from
	buf := make([]byte, 256<<10)
	for attempt := 0; from < e.Size || attempt == 0; attempt++ {
		if attempt > 0 {
			if attempt >= maxAttempts {
				return fmt.Errorf("giving up after %d attempts", attempt)
			}
			if err := backoff(ctx, attempt, 0); err != nil {
				return err
			}
		}
		resp, err := p.cl.Get(ctx, escaped(e.Path), from)
		var se *StatusError
		if errors.As(err, &se) && !se.Temporary() {
			return err
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			fmt.Fprintf(p.out, "retry %s: %v\n", e.Path, err)
			continue
		}
		if from > 0 && resp.StatusCode == http.StatusOK { // the server sent it all
			from, resumedAt = 0, 0
			h.Reset()
		}
		if err := f.Truncate(from); err != nil {
			resp.Body.Close()
			return err
		}
		for {
			n, rerr := resp.Body.Read(buf)
			if n > 0 {
				if err := p.limit.wait(ctx, int64(n)); err != nil {
					resp.Body.Close()
					return err
				}
				if _, err := f.WriteAt(buf[:n], from); err != nil {
					resp.Body.Close()
					return err
				}
				h.Write(buf[:n])
				from += int64(n)
			}
			if rerr != nil {
				if !errors.Is(rerr, io.EOF) {
					fmt.Fprintf(p.out, "retry %s at %d: %v\n", e.Path, from, rerr)
				}
				break
			}
		}
		resp.Body.Close()
		if ctx.Err() != nil {
			f.Sync()
			return ctx.Err()
		}
	}
	if err := f.Sync(); err != nil {
		return err
	}
	sum := hex.EncodeToString(h.Sum(nil))
	switch {
	case e.SHA256 == "":
		fmt.Fprintf(p.out, "warning: %s: the server gives no SHA-256; only the size was checked\n", e.Path)
	case sum != e.SHA256:
		f.Close()
		os.Remove(part)
		return fmt.Errorf("checksum mismatch: got %s, the server has %s; the partial file was removed", sum, e.SHA256)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(part, dest); err != nil {
		return err
	}
	resumed := ""
	if resumedAt > 0 {
		resumed = fmt.Sprintf(", resumed at %d", resumedAt)
	}
	fmt.Fprintf(p.out, "pulled %s (%s, sha256 %s%s)\n", dest, human(e.Size), sum, resumed)
	return nil
}
