// Package client holds the engines of wharf's user commands: login (the
// session-token API and the kept credentials, Credentials), push (Push: the
// precheck, resumable tus uploads with their state file, verification and
// finalize) and pull (Pull: resumable, verified downloads), and push's
// progress display (plain lines, JSON lines or bars on a terminal). Client
// is their HTTP side: the session-token API, WebDAV PROPFIND/MKCOL/GET and
// the tus upload protocol, as a Wharf server speaks them. The package
// imports nothing of Wharf's server (only internal/diskio, to write its
// files atomically): it knows the server through its documented HTTP
// surface. Package cmd reads the flags and calls it.
//
// A Client is safe for concurrent use; it keeps no per-request state.
package client

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
)

// ErrNotSupported is returned by calls the server does not know (it answered
// 404 or 405 to the endpoint itself).
var ErrNotSupported = errors.New("not supported by this server")

// StatusError is an HTTP answer the client did not expect. Message is the
// server's reason (the "error" of a JSON body, or the body's first line).
type StatusError struct {
	Op         string
	Status     int
	Message    string
	Step       string        // processing step of a 422, if any
	RetryAfter time.Duration // from Retry-After, 0 when absent
}

func (e *StatusError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	return fmt.Sprintf("%s: %d %s", e.Op, e.Status, msg)
}

// Temporary reports whether retrying the same request later may succeed:
// 5xx, 423 (processing) and 429.
func (e *StatusError) Temporary() bool {
	return e.Status >= 500 || e.Status == http.StatusLocked || e.Status == http.StatusTooManyRequests
}

// Client talks to one server as one user. The zero value is not usable: use
// New.
type Client struct {
	base  *url.URL
	token string
	hc    *http.Client
}

// New returns a client for the server at base (scheme://host[:port], any
// path is ignored) authenticating with the bearer token (none when empty).
func New(base, token string) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("server URL %q: want http(s)://host[:port]", base)
	}
	u.Path, u.RawQuery, u.Fragment = "", "", ""
	return &Client{base: u, token: token, hc: &http.Client{Transport: http.DefaultTransport}}, nil
}

// Base is the server URL the client was made for, without a trailing slash.
func (c *Client) Base() string { return c.base.String() }

// URL resolves a server path (or an absolute URL the server returned).
func (c *Client) URL(p string) string {
	r, err := c.base.Parse(p)
	if err != nil {
		return c.base.String() + p
	}
	return r.String()
}

// DAVPath is the escaped path of a file or folder of a space.
func DAVPath(space, p string) string {
	u := url.URL{Path: "/dav/spaces/" + space + "/" + strings.TrimPrefix(p, "/")}
	return u.EscapedPath()
}

func (c *Client) do(ctx context.Context, op, method, target string, body io.Reader, hdr http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.URL(target), body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if c.token != "" && req.Header.Get("Authorization") == "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if b, ok := body.(*bytes.Reader); ok {
		req.ContentLength = int64(b.Len())
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return resp, nil
}

// statusError reads the body of an unexpected answer into a StatusError and
// closes it.
func statusError(op string, resp *http.Response) *StatusError {
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<10))
	e := &StatusError{Op: op, Status: resp.StatusCode}
	var j struct{ Error, Step string }
	if json.Unmarshal(b, &j) == nil && j.Error != "" {
		e.Message, e.Step = j.Error, j.Step
	} else {
		e.Message, _, _ = strings.Cut(strings.TrimSpace(string(b)), "\n")
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	return e
}

func jsonBody(v any) (*bytes.Reader, http.Header) {
	b, _ := json.Marshal(v)
	return bytes.NewReader(b), http.Header{"Content-Type": {"application/json"}}
}

// Token is a session token as the server issued it.
type Token struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expiresAt"`
	User      string    `json:"user"`
}

// Login exchanges a user's password for a session token (POST
// /api/v1/auth/token). A 404 from the endpoint is ErrNotSupported.
func (c *Client) Login(ctx context.Context, user, password string) (Token, error) {
	body, hdr := jsonBody(map[string]string{"user": user, "password": password})
	hdr.Set("Authorization", "") // never the stored token
	resp, err := c.do(ctx, "login", http.MethodPost, "/api/v1/auth/token", body, hdr)
	if err != nil {
		return Token{}, err
	}
	if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed {
		resp.Body.Close()
		return Token{}, fmt.Errorf("login: %w (POST /api/v1/auth/token answered %d); use --token", ErrNotSupported, resp.StatusCode)
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return Token{}, statusError("login", resp)
	}
	defer resp.Body.Close()
	var t Token
	if err := json.NewDecoder(resp.Body).Decode(&t); err != nil || t.Token == "" {
		return Token{}, fmt.Errorf("login: the server's answer has no token (%v)", err)
	}
	return t, nil
}

// Logout revokes the client's token (DELETE /api/v1/auth/token). A token the
// server no longer knows (401) counts as revoked.
func (c *Client) Logout(ctx context.Context) error {
	resp, err := c.do(ctx, "logout", http.MethodDelete, "/api/v1/auth/token", nil, nil)
	if err != nil {
		return err
	}
	switch resp.StatusCode {
	case http.StatusNoContent, http.StatusOK, http.StatusUnauthorized:
		resp.Body.Close()
		return nil
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		resp.Body.Close()
		return fmt.Errorf("logout: %w", ErrNotSupported)
	}
	return statusError("logout", resp)
}

// Me is who the token belongs to and the spaces they may use.
type Me struct {
	User   string `json:"user"`
	Admin  bool   `json:"admin"`
	Via    string `json:"via"`
	Spaces []struct {
		ID   string `json:"id"`
		Role string `json:"role"`
	} `json:"spaces"`
}

// Role is the caller's role in space, "" when they have none.
func (m Me) Role(space string) string {
	for _, s := range m.Spaces {
		if s.ID == space {
			return s.Role
		}
	}
	return ""
}

// Me asks who the token belongs to (GET /api/v1/me).
func (c *Client) Me(ctx context.Context) (Me, error) {
	resp, err := c.do(ctx, "who am I", http.MethodGet, "/api/v1/me", nil, nil)
	if err != nil {
		return Me{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return Me{}, statusError("who am I", resp)
	}
	defer resp.Body.Close()
	var m Me
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		return Me{}, fmt.Errorf("who am I: %w", err)
	}
	return m, nil
}

// Entry is one resource of a PROPFIND answer.
type Entry struct {
	Path   string // unescaped server path, e.g. /dav/spaces/files/a/b.jpg
	Name   string
	Dir    bool
	Size   int64
	SHA256 string // lowercase hex, "" when the server gave none
	Free   int64  // quota-available-bytes, -1 when absent
}

type multistatus struct {
	Responses []struct {
		Href      string `xml:"DAV: href"`
		Propstats []struct {
			Status string `xml:"DAV: status"`
			Prop   struct {
				ResourceType struct {
					Collection *struct{} `xml:"DAV: collection"`
				} `xml:"DAV: resourcetype"`
				Length    string   `xml:"DAV: getcontentlength"`
				Free      string   `xml:"DAV: quota-available-bytes"`
				Checksums []string `xml:"http://owncloud.org/ns checksums>checksum"`
			} `xml:"DAV: prop"`
		} `xml:"DAV: propstat"`
	} `xml:"DAV: response"`
}

const propfindBody = `<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns"><d:prop>
<d:resourcetype/><d:getcontentlength/><d:quota-available-bytes/><oc:checksums/>
</d:prop></d:propfind>`

// Propfind lists davPath (an escaped server path) with Depth 0 or 1. A
// missing resource is a *StatusError with Status 404.
func (c *Client) Propfind(ctx context.Context, davPath string, depth int) ([]Entry, error) {
	op := "PROPFIND " + davPath
	hdr := http.Header{"Depth": {strconv.Itoa(depth)}, "Content-Type": {"application/xml"}}
	resp, err := c.do(ctx, op, "PROPFIND", davPath, strings.NewReader(propfindBody), hdr)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusMultiStatus {
		return nil, statusError(op, resp)
	}
	defer resp.Body.Close()
	var ms multistatus
	if err := xml.NewDecoder(resp.Body).Decode(&ms); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	out := make([]Entry, 0, len(ms.Responses))
	for _, r := range ms.Responses {
		href := r.Href
		if u, err := url.Parse(href); err == nil {
			href = u.Path // absolute hrefs too; Path is unescaped
		}
		e := Entry{Path: href, Name: path.Base(strings.TrimSuffix(href, "/")), Free: -1}
		for _, ps := range r.Propstats {
			if !strings.Contains(ps.Status, " 200") {
				continue
			}
			p := ps.Prop
			if p.ResourceType.Collection != nil {
				e.Dir = true
			}
			if n, err := strconv.ParseInt(p.Length, 10, 64); err == nil {
				e.Size = n
			}
			if n, err := strconv.ParseInt(p.Free, 10, 64); err == nil {
				e.Free = n
			}
			for _, cs := range p.Checksums {
				for _, f := range strings.Fields(cs) {
					if algo, hex, ok := strings.Cut(f, ":"); ok && strings.EqualFold(algo, "SHA256") {
						e.SHA256 = strings.ToLower(hex)
					}
				}
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// Mkcol creates a folder; one that exists already is fine.
func (c *Client) Mkcol(ctx context.Context, davPath string) error {
	op := "MKCOL " + davPath
	resp, err := c.do(ctx, op, "MKCOL", davPath, nil, nil)
	if err != nil {
		return err
	}
	if resp.StatusCode == http.StatusCreated || resp.StatusCode == http.StatusMethodNotAllowed {
		resp.Body.Close()
		return nil
	}
	return statusError(op, resp)
}

// Get starts a GET of davPath from byte from (a Range request when from >
// 0). The caller closes the body. The answer is 200 (whole file: the server
// ignored the range) or 206; anything else is a *StatusError.
func (c *Client) Get(ctx context.Context, davPath string, from int64) (*http.Response, error) {
	op := "GET " + davPath
	var hdr http.Header
	if from > 0 {
		hdr = http.Header{"Range": {fmt.Sprintf("bytes=%d-", from)}}
	}
	resp, err := c.do(ctx, op, http.MethodGet, davPath, nil, hdr)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusPartialContent {
		return nil, statusError(op, resp)
	}
	return resp, nil
}

// FinalizeRequest is the body of POST /api/v1/uploads/finalize.
type FinalizeRequest struct {
	Uploads  []string          `json:"uploads"`
	Metadata map[string]string `json:"metadata,omitempty"`
	Target   string            `json:"target,omitempty"`
	Form     map[string]string `json:"form,omitempty"`
}

// FinalizeResult is the server's answer to a finalize.
type FinalizeResult struct {
	Files []struct {
		Upload string `json:"upload"`
		State  string `json:"state"`
		Path   string `json:"path"`
		Size   int64  `json:"size"`
		SHA256 string `json:"sha256"`
		Error  string `json:"error"`
		Step   string `json:"step"`
	} `json:"files"`
	Commit *struct {
		ID    string `json:"id"`
		State string `json:"state"`
	} `json:"commit"`
}

// Finalize hands finished uploads over (metadata, Phraseanet target). It is
// idempotent on the server, so a retry is safe. A server without the
// endpoint gives ErrNotSupported.
func (c *Client) Finalize(ctx context.Context, fr FinalizeRequest) (FinalizeResult, error) {
	body, hdr := jsonBody(fr)
	resp, err := c.do(ctx, "finalize", http.MethodPost, "/api/v1/uploads/finalize", body, hdr)
	if err != nil {
		return FinalizeResult{}, err
	}
	if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed {
		resp.Body.Close()
		return FinalizeResult{}, fmt.Errorf("finalize: %w", ErrNotSupported)
	}
	if resp.StatusCode != http.StatusOK {
		return FinalizeResult{}, statusError("finalize", resp)
	}
	defer resp.Body.Close()
	var r FinalizeResult
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return FinalizeResult{}, fmt.Errorf("finalize: %w", err)
	}
	return r, nil
}

// ---- tus

const tusVersion = "1.0.0"

func tusHeader() http.Header { return http.Header{"Tus-Resumable": {tusVersion}} }

// Create starts a tus upload of size bytes to path of space and returns its
// URL (absolute).
func (c *Client) Create(ctx context.Context, space, p string, size int64) (string, error) {
	op := "create upload of " + p
	hdr := tusHeader()
	hdr.Set("Upload-Length", strconv.FormatInt(size, 10))
	hdr.Set("Upload-Metadata", "space "+base64.StdEncoding.EncodeToString([]byte(space))+
		",path "+base64.StdEncoding.EncodeToString([]byte(p)))
	resp, err := c.do(ctx, op, http.MethodPost, "/tus/", nil, hdr)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusCreated {
		return "", statusError(op, resp)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if loc == "" {
		return "", fmt.Errorf("%s: 201 without Location", op)
	}
	return c.URL(loc), nil
}

// Offset asks where upload loc stands (HEAD). A finished upload has offset
// = length. 423 (processing), 410 (rejected) and 404 come back as
// *StatusError.
func (c *Client) Offset(ctx context.Context, loc string) (offset, length int64, err error) {
	op := "HEAD " + loc
	resp, err := c.do(ctx, op, http.MethodHead, loc, nil, tusHeader())
	if err != nil {
		return 0, 0, err
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
		return 0, 0, statusError(op, resp)
	}
	resp.Body.Close()
	offset, err1 := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	length, err2 := strconv.ParseInt(resp.Header.Get("Upload-Length"), 10, 64)
	if err1 != nil {
		return 0, 0, fmt.Errorf("%s: no Upload-Offset", op)
	}
	if err2 != nil {
		length = -1
	}
	return offset, length, nil
}

// Patch sends chunk at offset with its SHA-256 in Upload-Checksum and
// returns the new offset. status is the answer's code (204, or 202 when
// processing continues); errors are *StatusError (460: checksum mismatch,
// 409: wrong offset, 422/410: rejected, 423: busy) or transport errors.
func (c *Client) Patch(ctx context.Context, loc string, offset int64, chunk []byte, sum []byte) (newOffset int64, status int, err error) {
	op := fmt.Sprintf("PATCH %s at %d", loc, offset)
	hdr := tusHeader()
	hdr.Set("Upload-Offset", strconv.FormatInt(offset, 10))
	hdr.Set("Content-Type", "application/offset+octet-stream")
	hdr.Set("Upload-Checksum", "sha256 "+base64.StdEncoding.EncodeToString(sum))
	resp, err := c.do(ctx, op, http.MethodPatch, loc, bytes.NewReader(chunk), hdr)
	if err != nil {
		return 0, 0, err
	}
	if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK {
		return 0, 0, statusError(op, resp)
	}
	resp.Body.Close()
	n, perr := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	if perr != nil {
		n = offset + int64(len(chunk))
	}
	return n, resp.StatusCode, nil
}

// UploadID is the id of an upload URL (its last path segment).
func UploadID(loc string) string {
	if u, err := url.Parse(loc); err == nil {
		loc = u.Path
	}
	return path.Base(strings.TrimRight(loc, "/"))
}
