// Package publish is the publish flow scripts and partners use
// (docs/publish.md): session tokens from a password, upload tokens narrowed
// to one space and prefix with byte and file limits, and the finalization
// of uploads (metadata on the new files, one Phraseanet commit of them),
// with the metadata read back.
//
// publish imports auth, space, store, postproc (to wait for processing),
// internal/api, and phraseanet, whose commits a finalization makes: the
// one surface that calls another, on purpose.
package publish

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/internal/api"
	"github.com/wharfhq/wharf/phraseanet"
	"github.com/wharfhq/wharf/postproc"
	"github.com/wharfhq/wharf/space"
	"github.com/wharfhq/wharf/store"
)

// Lifetimes of the tokens the publish API makes.
const (
	sessionTTL        = 30 * 24 * time.Hour
	maxSessionTTL     = 365 * 24 * time.Hour
	uploadTokenTTL    = 24 * time.Hour
	maxUploadTokenTTL = 90 * 24 * time.Hour
)

// finalizeWait bounds how long a finalization waits for processing before
// it reports the files still processing.
const finalizeWait = 2 * time.Minute

// maxFinalizeUploads bounds the uploads of one finalization.
const maxFinalizeUploads = 10000

// maxMetadata bounds the metadata JSON stored on each file.
const maxMetadata = 64 << 10

// Jobs is what finalization needs of the pipeline: to wait for a job.
// *postproc.Runner has it.
type Jobs interface {
	Wait(ctx context.Context, id string) (postproc.Status, error)
}

// Config configures the publish API. Zero values mean the documented
// defaults.
type Config struct {
	// Auth, DB and Tree are the server's. Required.
	Auth *auth.Service
	DB   *store.DB
	Tree *space.Tree
	// Jobs lets a finalization wait for processing. Nil: it reports the
	// files still processing without waiting.
	Jobs Jobs
	// Phraseanet makes the commits of finalizations that name a target.
	// Required.
	Phraseanet *phraseanet.Service
	// TusPath is where tus uploads are created (tus.BasePath), for the URL
	// given with an upload token. Required.
	TusPath string
	// PublicURL is the server's public URL, for the tus URL given with an
	// upload token. "": the request's scheme and host.
	PublicURL string
	// Logger receives the failures answered 500. Nil: discard.
	Logger *slog.Logger
}

// Service serves the publish API. It is safe for concurrent use.
type Service struct {
	cfg Config
	log *slog.Logger
	// mu runs finalizations that may make a commit one at a time, so that
	// two identical ones make one commit.
	mu sync.Mutex
}

// New checks cfg and returns the service.
func New(cfg Config) (*Service, error) {
	if cfg.Auth == nil || cfg.DB == nil || cfg.Tree == nil || cfg.Phraseanet == nil || cfg.TusPath == "" {
		return nil, errors.New("publish: Config needs Auth, DB, Tree, Phraseanet and TusPath")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg, log: cfg.Logger}, nil
}

// Routes are the publish API's endpoints. The session token is had for a
// password, so its route is public; upload tokens are account business; an
// upload token may finalize the uploads it made.
func (s *Service) Routes() []api.Route {
	finalize := func(r *http.Request, _ *auth.Token) bool { return true } // finalizeOwns checks each upload
	return []api.Route{
		{Pattern: "POST " + sessionPath, Handler: http.HandlerFunc(s.handleCreateSession), Surface: api.SurfaceAPI, Public: true},
		{Pattern: "DELETE " + sessionPath, Handler: http.HandlerFunc(s.handleRevokeSession), Surface: api.SurfaceAPI, Public: true},
		{Pattern: "POST " + uploadTokensPath, Handler: http.HandlerFunc(s.handleCreateUploadToken), Surface: api.SurfaceAPI, Scope: auth.ScopeAccount},
		{Pattern: "GET " + uploadTokensPath, Handler: http.HandlerFunc(s.handleListUploadTokens), Surface: api.SurfaceAPI, Scope: auth.ScopeAccount},
		{Pattern: "DELETE " + uploadTokensPath + "/{id}", Handler: http.HandlerFunc(s.handleRevokeUploadToken), Surface: api.SurfaceAPI, Scope: auth.ScopeAccount},
		{Pattern: "POST " + finalizePath, Handler: http.HandlerFunc(s.handleFinalize), Surface: api.SurfaceAPI, UploadToken: finalize},
		{Pattern: "GET " + metadataPrefix + "{space}/{path...}", Handler: http.HandlerFunc(s.handleMetadata), Surface: api.SurfaceAPI},
	}
}

// fail is where this API's errors become answers.
func (s *Service) fail(w http.ResponseWriter, r *http.Request, err error) {
	api.Write(w, r, s.log, err)
}

// seconds reads an optional expires_in: 0 gives def, and it must not
// exceed most.
func seconds(v json.Number, def, most time.Duration) (time.Duration, error) {
	if v == "" {
		return def, nil
	}
	n, err := v.Int64()
	if err != nil || n < 0 {
		return 0, api.BadRequest("expires_in %s: want a whole number of seconds", v)
	}
	if n == 0 {
		return def, nil
	}
	if time.Duration(n) > most/time.Second {
		return 0, api.BadRequest("expires_in %d: at most %d seconds", n, int64(most/time.Second))
	}
	return time.Duration(n) * time.Second, nil
}

// handleCreateSession serves POST /api/v1/auth/token: a user name and the
// account password or an app password (JSON {"user","password"} or Basic)
// give a bearer session token. It is mounted before authentication and
// never takes a token as credentials.
func (s *Service) handleCreateSession(w http.ResponseWriter, r *http.Request) {
	var in struct {
		User      string      `json:"user"`
		Password  string      `json:"password"`
		ExpiresIn json.Number `json:"expires_in"`
		Label     string      `json:"label"`
	}
	if err := api.ReadJSON(r, 64<<10, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	if in.User == "" && in.Password == "" {
		in.User, in.Password, _ = r.BasicAuth()
	}
	if in.User == "" || in.Password == "" {
		w.Header().Set("WWW-Authenticate", `Basic realm="Wharf", charset="UTF-8"`)
		s.fail(w, r, &api.Error{Status: http.StatusUnauthorized,
			Msg: `send a user name and password, as JSON {"user","password"} or Basic`})
		return
	}
	ttl, err := seconds(in.ExpiresIn, sessionTTL, maxSessionTTL)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p, err := s.cfg.Auth.Login(r.Context(), r.RemoteAddr, in.User, in.Password)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	api.NoteUser(w, p.User.Name)
	label := in.Label
	if label == "" {
		label = "session from " + p.Via
	}
	tok, secret, err := s.cfg.Auth.CreateToken(r.Context(), p.User.Name, auth.TokenOptions{Kind: auth.KindSession, Label: label, TTL: ttl, MintedBy: p})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusCreated, map[string]any{
		"id": tok.ID, "token": secret, "expiresAt": tok.ExpiresAt, "user": p.User.Name,
	})
}

// handleRevokeSession serves DELETE /api/v1/auth/token: it revokes the
// bearer token the request carries. Upload tokens are revoked by their
// creator instead (DELETE /api/v1/upload-tokens/{id}).
func (s *Service) handleRevokeSession(w http.ResponseWriter, r *http.Request) {
	scheme, secret, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "bearer") {
		s.fail(w, r, &api.Error{Status: http.StatusUnauthorized, Msg: "send the token to revoke as Authorization: Bearer"})
		return
	}
	p, err := s.cfg.Auth.AuthenticateToken(r.Context(), r.RemoteAddr, strings.TrimSpace(secret))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if p.Token.Kind == auth.KindUpload {
		s.fail(w, r, &api.Error{Status: http.StatusForbidden, Msg: "an upload token is revoked by its creator: DELETE /api/v1/upload-tokens/" + p.Token.ID})
		return
	}
	if err := s.cfg.Auth.RevokeToken(r.Context(), p.Token.ID); err != nil && !errors.Is(err, auth.ErrNotFound) {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// uploadTokenOut describes an upload token; Token (the secret) only when
// it is created.
type uploadTokenOut struct {
	ID         string     `json:"id"`
	Token      string     `json:"token,omitempty"`
	User       string     `json:"user,omitempty"`
	Label      string     `json:"label,omitempty"`
	Space      string     `json:"space"`
	Prefix     string     `json:"prefix"`
	MaxBytes   int64      `json:"maxBytes"`
	MaxFiles   int64      `json:"maxFiles"`
	UsedBytes  *int64     `json:"usedBytes,omitempty"`
	UsedFiles  *int64     `json:"usedFiles,omitempty"`
	CreatedAt  time.Time  `json:"createdAt"`
	ExpiresAt  time.Time  `json:"expiresAt"`
	Expired    *bool      `json:"expired,omitempty"`
	LastUsedAt *time.Time `json:"lastUsedAt,omitempty"`
	TusURL     string     `json:"tusURL,omitempty"`
}

// baseURL is the server's public URL: the configured one, else the
// request's scheme and host.
func (s *Service) baseURL(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return strings.TrimSuffix(s.cfg.PublicURL, "/")
	}
	if r.TLS != nil {
		return "https://" + r.Host
	}
	return "http://" + r.Host
}

// handleCreateUploadToken serves POST /api/v1/upload-tokens: an editor of
// a space makes a token that may only create uploads below a prefix of it,
// within byte and file limits, until it expires.
func (s *Service) handleCreateUploadToken(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := auth.FromContext(ctx)
	var in struct {
		Space     string      `json:"space"`
		Prefix    string      `json:"prefix"`
		MaxBytes  json.Number `json:"max_bytes"`
		MaxFiles  json.Number `json:"max_files"`
		ExpiresIn json.Number `json:"expires_in"`
		Label     string      `json:"label"`
	}
	err := api.ReadJSON(r, 64<<10, &in)
	if err == nil && in.Space == "" {
		err = api.BadRequest(`an upload token needs a "space"`)
	}
	var limits store.UploadTokenLimits
	for _, l := range []struct {
		name string
		v    json.Number
		to   *int64
	}{{"max_bytes", in.MaxBytes, &limits.MaxBytes}, {"max_files", in.MaxFiles, &limits.MaxFiles}} {
		if err != nil || l.v == "" {
			continue
		}
		if *l.to, err = l.v.Int64(); err != nil || *l.to < 0 {
			err = api.BadRequest("%s %s: want a whole number, 0 for no limit", l.name, l.v)
		}
	}
	var ttl time.Duration
	if err == nil {
		ttl, err = seconds(in.ExpiresIn, uploadTokenTTL, maxUploadTokenTTL)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	prefix, err := space.Clean(in.Prefix)
	if err != nil {
		// As on every other surface that takes a path: no "..",
		// backslashes, control characters, drive letters or overlong
		// names; NFC, so that it matches the paths it must cover.
		s.fail(w, r, api.BadRequest("token path prefix %q is not a valid path in a space", in.Prefix))
		return
	}
	role, ok, err := s.cfg.Auth.RoleIn(ctx, p, in.Space)
	if err == nil && ok {
		if _, serr := s.cfg.Tree.Space(ctx, in.Space); errors.Is(serr, space.ErrNotFound) {
			ok = false
		} else {
			err = serr
		}
	}
	switch {
	case err != nil:
	case !ok:
		err = &api.Error{Status: http.StatusNotFound, Msg: fmt.Sprintf("no such space %q", in.Space)}
	case !role.Allows(auth.Editor) || !p.Covers(in.Space, prefix):
		err = &api.Error{Status: http.StatusForbidden, Msg: fmt.Sprintf("making upload tokens for %s/%s needs the editor role there", in.Space, prefix)}
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	label := in.Label
	if label == "" {
		label = "upload to " + in.Space + "/" + prefix
	}
	tok, secret, err := s.cfg.Auth.CreateToken(ctx, p.User.Name, auth.TokenOptions{
		Kind: auth.KindUpload, Label: label, TTL: ttl, SpaceID: in.Space, Prefix: prefix, MintedBy: p,
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	limits.TokenID = tok.ID
	// The secret is not out yet: until the limits are stored, nobody can
	// use the token.
	if err := s.cfg.DB.Update(ctx, func(tx *store.Tx) error { return tx.PutUploadTokenLimits(ctx, limits) }); err != nil {
		if rerr := s.cfg.Auth.RevokeToken(context.WithoutCancel(ctx), tok.ID); rerr != nil {
			err = errors.Join(err, rerr)
		}
		s.fail(w, r, fmt.Errorf("publish: store upload token limits: %w", err))
		return
	}
	w.Header().Set("Location", uploadTokensPath+"/"+tok.ID)
	api.WriteJSON(w, http.StatusCreated, uploadTokenOut{
		ID: tok.ID, Token: secret, Space: tok.SpaceID, Prefix: tok.Prefix, MaxBytes: limits.MaxBytes,
		MaxFiles: limits.MaxFiles, CreatedAt: tok.CreatedAt, ExpiresAt: tok.ExpiresAt, TusURL: s.baseURL(r) + s.cfg.TusPath,
	})
}

// handleListUploadTokens serves GET /api/v1/upload-tokens: the caller's
// upload tokens, or everyone's for an admin, with their limits and usage.
func (s *Service) handleListUploadTokens(w http.ResponseWriter, r *http.Request) {
	p := auth.FromContext(r.Context())
	var uid int64
	if !p.User.Admin {
		uid = p.User.ID
	}
	rows, err := s.cfg.DB.UploadTokens(r.Context(), uid)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	now := time.Now()
	out := make([]uploadTokenOut, 0, len(rows))
	for _, t := range rows {
		o := uploadTokenOut{ID: t.ID, User: t.UserName, Label: t.Label, Space: t.SpaceID, Prefix: t.Prefix,
			MaxBytes: t.Limits.MaxBytes, MaxFiles: t.Limits.MaxFiles, UsedBytes: &t.Limits.UsedBytes,
			UsedFiles: &t.Limits.UsedFiles, CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt}
		expired := !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt)
		o.Expired = &expired
		if !t.LastUsedAt.IsZero() {
			o.LastUsedAt = &t.LastUsedAt
		}
		out = append(out, o)
	}
	api.WriteJSON(w, http.StatusOK, out)
}

// handleRevokeUploadToken serves DELETE /api/v1/upload-tokens/{id}: its
// creator or an admin revokes it; from then on it is refused (401).
func (s *Service) handleRevokeUploadToken(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := auth.FromContext(ctx)
	id := r.PathValue("id")
	t, err := s.cfg.Auth.Token(ctx, id)
	if errors.Is(err, auth.ErrNotFound) || err == nil && (t.Kind != auth.KindUpload || !p.User.Admin && t.UserID != p.User.ID) {
		err = &api.Error{Status: http.StatusNotFound, Msg: fmt.Sprintf("no upload token %q", id)}
	}
	if err == nil {
		err = s.cfg.Auth.RevokeToken(ctx, id)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// Paths of the publish API.
const (
	sessionPath      = "/api/v1/auth/token"
	uploadTokensPath = "/api/v1/upload-tokens"
	finalizePath     = "/api/v1/uploads/finalize"
	metadataPrefix   = "/api/v1/metadata/"
)

// finalFile is one upload's line in a finalization's answer.
type finalFile struct {
	Upload string `json:"upload"`
	State  string `json:"state"` // done, rejected or processing
	Space  string `json:"space"`
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	Error  string `json:"error"`
	Step   string `json:"step"`
	// Status is 404 for an upload that does not exist or is not the
	// caller's.
	Status int   `json:"status,omitempty"`
	node   int64 // the installed file, when done
}

type finalCommit struct {
	ID    string `json:"id"`
	State string `json:"state"`
}

type finalAnswer struct {
	Files  []finalFile  `json:"files"`
	Commit *finalCommit `json:"commit"`
}

// Finalization states of a file.
const (
	finalDone       = "done"
	finalRejected   = "rejected"
	finalProcessing = "processing"
)

// finalizeOwns reports whether p may finalize upload u: its user, and for
// a caller with an upload token, only the uploads that token created.
func finalizeOwns(p *auth.Principal, u store.Upload) bool {
	if p.User.ID != u.UserID || u.Partial {
		return false
	}
	return p.Token == nil || p.Token.Kind != auth.KindUpload || p.Token.ID == u.TokenID
}

// handleFinalize serves POST /api/v1/uploads/finalize.
func (s *Service) handleFinalize(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := auth.FromContext(ctx)
	var in struct {
		Uploads  []string        `json:"uploads"`
		Metadata json.RawMessage `json:"metadata"`
		Target   string          `json:"target"`
		Form     json.RawMessage `json:"form"`
	}
	if err := api.ReadJSON(r, 4<<20, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	ids := slices.Clone(in.Uploads)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	switch {
	case len(ids) == 0:
		s.fail(w, r, api.BadRequest(`"uploads" must list the ids of the uploads to finalize`))
		return
	case len(ids) > maxFinalizeUploads:
		s.fail(w, r, api.BadRequest("at most %d uploads per finalization", maxFinalizeUploads))
		return
	case ids[0] == "":
		s.fail(w, r, api.BadRequest("an upload id is empty"))
		return
	}
	meta, err := compactObject(in.Metadata, "metadata")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	form := map[string]any{}
	if f := bytes.TrimSpace(in.Form); len(f) > 0 && string(f) != "null" {
		dec := json.NewDecoder(bytes.NewReader(f))
		dec.UseNumber()
		if err := dec.Decode(&form); err != nil || form == nil {
			s.fail(w, r, api.BadRequest(`"form" must be a JSON object`))
			return
		}
	}
	var target *store.Target
	if in.Target != "" {
		t, err := s.finalizeTarget(ctx, p, in.Target, form)
		if err != nil {
			s.writePublishError(w, r, err)
			return
		}
		target = &t
	} else if len(form) > 0 {
		s.fail(w, r, api.BadRequest(`"form" needs a "target"`))
		return
	}

	key := finalizeKey(p, target, ids)
	asked := requestHash(meta, form)
	if js, ok, err := s.recordedFinalization(ctx, p, key, ids, asked); ok || err != nil {
		s.answerRecorded(w, r, js, err)
		return
	}

	wctx, cancel := context.WithTimeout(ctx, finalizeWait)
	ans := finalAnswer{Files: make([]finalFile, 0, len(ids))}
	final := true
	for _, id := range ids {
		f, err := s.finalFile(wctx, p, id)
		if err != nil {
			cancel()
			s.fail(w, r, err)
			return
		}
		final = final && f.State != finalProcessing
		ans.Files = append(ans.Files, f)
	}
	cancel()
	var nodes []int64
	for _, f := range ans.Files {
		if f.State == finalDone {
			nodes = append(nodes, f.node)
		}
	}
	if !final {
		// Not the last word: the metadata of what is done is stored, the
		// commit waits for the whole set, and nothing is recorded.
		if err := s.storeMetadata(ctx, nodes, meta); err != nil {
			s.fail(w, r, err)
			return
		}
		js, _ := json.Marshal(ans)
		api.WriteRawJSON(w, http.StatusOK, js)
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if js, ok, err := s.recordedFinalization(ctx, p, key, ids, asked); ok || err != nil {
		s.answerRecorded(w, r, js, err)
		return
	}
	// The answer is recorded in the transaction that makes the commit (or,
	// without one, on its own): a retry after any crash either finds the
	// recorded answer or makes the commit afresh, never a second one.
	rec := store.Finalization{Key: key, UserID: p.User.ID, CreatedAt: time.Now(), Request: asked}
	var js []byte
	record := func(ctx context.Context, tx *store.Tx) error {
		var err error
		if js, err = json.Marshal(ans); err != nil {
			return err
		}
		rec.Answer = string(js)
		if err := putMetadata(ctx, tx, nodes, meta); err != nil {
			return err
		}
		// Finalized: the files are free to join commits (this one, or a
		// scheduled one when there is no target).
		if err := tx.ReleaseHolds(ctx, nodes); err != nil {
			return err
		}
		return tx.InsertFinalization(ctx, rec)
	}
	ctx = context.WithoutCancel(ctx)
	if target != nil && len(nodes) > 0 {
		rec.TargetID = target.ID
		_, _, err = s.cfg.Phraseanet.CreateCommit(ctx, phraseanet.CommitRequest{TargetID: target.ID, UserID: p.User.ID, NodeIDs: nodes, Form: form, Finalizing: true,
			Record: func(ctx context.Context, tx *store.Tx, c phraseanet.Commit) error {
				ans.Commit = &finalCommit{ID: c.ID, State: c.State}
				rec.CommitID = c.ID
				return record(ctx, tx)
			}})
		if err != nil {
			s.writePublishError(w, r, err)
			return
		}
	} else {
		if target != nil {
			rec.TargetID = target.ID
		}
		if err = s.cfg.DB.Update(ctx, func(tx *store.Tx) error { return record(ctx, tx) }); err != nil {
			s.fail(w, r, fmt.Errorf("publish: record finalization: %w", err))
			return
		}
	}
	api.WriteRawJSON(w, http.StatusOK, js)
}

// compactObject checks that raw is a JSON object (or absent) of at most
// maxMetadata bytes, and returns it compacted ("" when absent).
func compactObject(raw json.RawMessage, name string) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return "", api.BadRequest("%q must be a JSON object", name)
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return "", api.BadRequest("%q must be a JSON object", name)
	}
	if b.Len() > maxMetadata {
		return "", api.BadRequest("%q is larger than %d bytes", name, maxMetadata)
	}
	return b.String(), nil
}

// finalizeTarget finds the target named by id or name, checks the caller
// may commit to it and that form fits its schema (a *phraseanet.FormError
// naming the bad fields otherwise), before anything is waited for.
func (s *Service) finalizeTarget(ctx context.Context, p *auth.Principal, name string, form map[string]any) (store.Target, error) {
	t, err := s.cfg.DB.Target(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		t, err = s.cfg.DB.TargetByName(ctx, name)
	}
	if errors.Is(err, store.ErrNotFound) {
		return store.Target{}, &api.Error{Status: http.StatusNotFound, Msg: fmt.Sprintf("no such target %q", name)}
	}
	if err != nil {
		return store.Target{}, err
	}
	role, ok, err := s.cfg.Auth.RoleIn(ctx, p, t.SpaceID)
	if err != nil {
		return store.Target{}, err
	}
	if !ok {
		return store.Target{}, &api.Error{Status: http.StatusNotFound, Msg: fmt.Sprintf("no such target %q", name)}
	}
	if !role.Allows(auth.Editor) {
		return store.Target{}, &api.Error{Status: http.StatusForbidden, Msg: fmt.Sprintf("committing to target %q needs the editor role in space %q", name, t.SpaceID)}
	}
	var params map[string]any
	if t.Params != "" {
		if err := json.Unmarshal([]byte(t.Params), &params); err != nil {
			return store.Target{}, fmt.Errorf("publish: target %q params: %w", t.ID, err)
		}
	}
	merged := phraseanet.MergeForm(form, params, t.Destination)
	var sc phraseanet.Schema
	if t.FormSchema != "" {
		if err := json.Unmarshal([]byte(t.FormSchema), &sc); err != nil {
			return store.Target{}, fmt.Errorf("publish: target %q form schema: %w", t.ID, err)
		}
	}
	err = sc.Validate(merged)
	fe, _ := err.(*phraseanet.FormError)
	if err != nil && fe == nil {
		return store.Target{}, err
	}
	if d := merged["collection_destination"]; d == nil || d == "" {
		if fe == nil {
			fe = &phraseanet.FormError{Fields: map[string]string{}}
		}
		fe.Fields["collection_destination"] = "required: the target has no default destination"
	}
	if fe != nil {
		return store.Target{}, fe
	}
	return t, nil
}

// writePublishError answers the errors of the Phraseanet service as its own
// API does (400 naming the bad form fields, 409 naming files already
// committed), and others through writeError.
func (s *Service) writePublishError(w http.ResponseWriter, r *http.Request, err error) {
	var fe *phraseanet.FormError
	var ce *phraseanet.CommittedError
	var he *phraseanet.HeldError
	switch {
	case errors.As(err, &fe):
		api.WriteJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid form data", "fields": fe.Fields})
	case errors.As(err, &ce):
		api.WriteJSON(w, http.StatusConflict, map[string]any{"error": "file already in a commit", "paths": ce.Paths})
	case errors.As(err, &he):
		api.WriteJSON(w, http.StatusConflict, map[string]any{"error": "file awaiting the finalization of its upload", "paths": he.Paths})
	case errors.Is(err, phraseanet.ErrBadInput), errors.Is(err, phraseanet.ErrNotFound):
		// ErrNotFound here is a file outside the target's space.
		s.fail(w, r, &api.Error{Status: http.StatusBadRequest, Msg: err.Error()})
	default:
		s.fail(w, r, err)
	}
}

// finalizeKey identifies a finalization: the caller (the user, and the
// upload token when it holds one: the token and its user may finalize the
// same set with different answers), the target and the sorted upload ids.
func finalizeKey(p *auth.Principal, target *store.Target, ids []string) string {
	h := sha256.New()
	fmt.Fprintf(h, "user %d\n", p.User.ID)
	if p.Token != nil && p.Token.Kind == auth.KindUpload {
		fmt.Fprintf(h, "upload token %s\n", p.Token.ID)
	}
	if target != nil {
		fmt.Fprintf(h, "target %s\n", target.ID)
	}
	for _, id := range ids {
		fmt.Fprintf(h, "upload %s\n", id)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// recordedFinalization returns the answer recorded under key, unless one
// of the uploads still on record is not p's to finalize (an upload token
// replaying its user's finalization of other uploads). A recorded
// finalization that asked for other metadata or form data is a conflict:
// the error is an *api.Error (409).
func (s *Service) recordedFinalization(ctx context.Context, p *auth.Principal, key string, ids []string, asked string) ([]byte, bool, error) {
	rec, err := s.cfg.DB.Finalization(ctx, key)
	if err != nil || rec.UserID != p.User.ID {
		return nil, false, nil
	}
	for _, id := range ids {
		if u, err := s.cfg.DB.Upload(ctx, id); err == nil && !finalizeOwns(p, u) {
			return nil, false, nil
		}
	}
	if rec.Request != "" && rec.Request != asked {
		return nil, false, &api.Error{Status: http.StatusConflict,
			Msg: "these uploads are already finalized with other metadata or form data; a finalization is final"}
	}
	return []byte(rec.Answer), true, nil
}

// answerRecorded answers a finalization already recorded, or the conflict.
func (s *Service) answerRecorded(w http.ResponseWriter, r *http.Request, js []byte, err error) {
	if err != nil {
		s.fail(w, r, err)
		return
	}
	api.WriteRawJSON(w, http.StatusOK, js)
}

// requestHash identifies what a finalization asked for beyond its uploads
// and target: the metadata (compacted JSON) and the form (re-encoded, so
// with sorted keys).
func requestHash(meta string, form map[string]any) string {
	h := sha256.New()
	if meta != "" {
		// The same object with its keys in another order is the same
		// metadata.
		var v any
		dec := json.NewDecoder(strings.NewReader(meta))
		dec.UseNumber()
		if dec.Decode(&v) == nil {
			if b, err := json.Marshal(v); err == nil {
				meta = string(b)
			}
		}
	}
	fmt.Fprintf(h, "metadata %d %s\n", len(meta), meta)
	if form == nil {
		form = map[string]any{}
	}
	f, _ := json.Marshal(form)
	fmt.Fprintf(h, "form %d %s\n", len(f), f)
	return hex.EncodeToString(h.Sum(nil))
}

// finalFile reports upload id, waiting (until ctx ends) for its processing.
func (s *Service) finalFile(ctx context.Context, p *auth.Principal, id string) (finalFile, error) {
	f := finalFile{Upload: id}
	u, err := s.cfg.DB.Upload(ctx, id)
	if errors.Is(err, store.ErrNotFound) || err == nil && !finalizeOwns(p, u) {
		f.State, f.Error, f.Status = finalRejected, "no such upload", http.StatusNotFound
		return f, nil
	}
	if err != nil {
		return f, err
	}
	f.Space, f.Path, f.Size = u.SpaceID, u.Path, max(u.Size, 0)
	if u.State == store.UploadProcessing {
		if jw := s.cfg.Jobs; jw != nil {
			st, werr := jw.Wait(ctx, id)
			var rej *postproc.RejectedError
			switch {
			case werr == nil && st.State == postproc.Done:
				u.State, u.NodeID = store.UploadDone, st.FileID
			case errors.As(werr, &rej):
				u.State, u.Step, u.Error = store.UploadRejected, rej.Step, rej.Reason
			case errors.Is(werr, postproc.ErrUnknownJob):
				// The job record is gone: the upload's own says how it ended.
				if u, err = s.cfg.DB.Upload(context.WithoutCancel(ctx), id); err != nil {
					return f, err
				}
			}
		}
	}
	switch u.State {
	case store.UploadReceiving:
		f.State, f.Step = finalProcessing, "receiving"
		f.Error = fmt.Sprintf("not all bytes received yet: %d of %d", u.Received, max(u.Size, 0))
	case store.UploadProcessing:
		f.State = finalProcessing
	case store.UploadRejected:
		f.State, f.Step, f.Error = finalRejected, u.Step, u.Error
	case store.UploadDone:
		n, err := s.cfg.DB.NodeByID(context.WithoutCancel(ctx), u.NodeID)
		if errors.Is(err, store.ErrNotFound) {
			f.State, f.Error = finalRejected, "the file was removed after its upload"
			return f, nil
		}
		if err != nil {
			return f, err
		}
		f.State, f.Space, f.Path, f.Size, f.SHA256, f.node = finalDone, n.SpaceID, n.Path, n.Size, n.SHA256, n.ID
	}
	return f, nil
}

// storeMetadata stores meta (a JSON object; "": none) on nodes.
func (s *Service) storeMetadata(ctx context.Context, nodes []int64, meta string) error {
	if meta == "" || len(nodes) == 0 {
		return nil
	}
	return s.cfg.DB.Update(ctx, func(tx *store.Tx) error { return putMetadata(ctx, tx, nodes, meta) })
}

func putMetadata(ctx context.Context, tx *store.Tx, nodes []int64, meta string) error {
	if meta == "" {
		return nil
	}
	now := time.Now()
	for _, id := range nodes {
		err := tx.PutNodeMetadata(ctx, id, meta, now)
		if err != nil && !errors.Is(err, store.ErrNotFound) { // a file deleted meanwhile has no metadata
			return err
		}
	}
	return nil
}

// handleMetadata serves GET /api/v1/metadata/{space}/{path...}: the
// metadata finalizations stored on a file ({} when none), and for a file
// what processing knows of its content ("file", a postproc.FileMeta), for
// its viewers.
func (s *Service) handleMetadata(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := auth.FromContext(ctx)
	spaceID, fp := r.PathValue("space"), r.PathValue("path")
	_, ok, err := s.cfg.Auth.RoleIn(ctx, p, spaceID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var n space.Node
	if ok && p.Covers(spaceID, fp) {
		n, err = s.cfg.Tree.Stat(ctx, spaceID, fp)
	}
	switch {
	case ok && errors.Is(err, space.ErrBadPath):
		s.fail(w, r, &api.Error{Status: http.StatusBadRequest, Msg: "invalid path"})
		return
	case !ok || !p.Covers(spaceID, fp) || errors.Is(err, space.ErrNotFound) || errors.Is(err, space.ErrBadPath):
		s.fail(w, r, &api.Error{Status: http.StatusNotFound, Msg: "no such file"})
		return
	case err != nil:
		s.fail(w, r, err)
		return
	}
	js, err := s.cfg.DB.NodeMetadata(ctx, n.ID)
	if errors.Is(err, store.ErrNotFound) {
		js, err = "{}", nil
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := map[string]any{"space": n.SpaceID, "path": n.Path, "metadata": json.RawMessage(js)}
	if !n.IsDir {
		// What processing knows of the content, beside what finalizations
		// stored.
		known, err := s.cfg.Tree.Contents(ctx, n)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		out["file"] = postproc.Describe(n, known[n.SHA256])
	}
	api.WriteJSON(w, http.StatusOK, out)
}
