package phraseanet

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wharfhq/wharf/internal/api"

	"github.com/wharfhq/wharf/events"
	"github.com/wharfhq/wharf/space"
	"github.com/wharfhq/wharf/store"
)

// Paths of the host-root API, for mounting.
const (
	AssetsPrefix  = "/assets/"
	CommitsPath   = "/commits"
	CommitsPrefix = "/commits/"
	TokenPath     = "/oauth/v2/token"
)

// PageSize is how many commits a page of GET /commits holds.
const PageSize = 30

// scopes a pull-mode token may be asked for: the current one and the
// scope of Phraseanet releases before 4.1.6.
var pullScopes = map[string]bool{"commit:list": true, "uploader:commit_list": true}

const (
	assetChallenge  = `AssetToken realm="Wharf"`
	bearerChallenge = `Bearer realm="Wharf"`
)

// Routes are the service's endpoints: the uploader-compatible API
// Phraseanet calls at the host root (AssetsPrefix, CommitsPath,
// CommitsPrefix, TokenPath), public to Wharf's own authentication since it
// takes Phraseanet's credentials (AssetToken, pull tokens, signed URLs);
// and the targets' API under TargetsPath for Wharf's users.
func (s *Service) Routes() []api.Route {
	root, own := s.rootHandler(), s.apiHandler()
	pub := func(pattern string) api.Route {
		return api.Route{Pattern: pattern, Handler: root, Surface: api.SurfacePhraseanet, Public: true}
	}
	return []api.Route{
		pub(AssetsPrefix), pub(CommitsPath), pub(CommitsPrefix), pub(TokenPath),
		{Pattern: TargetsPath, Handler: own, Surface: api.SurfaceAPI},
		{Pattern: TargetsPath + "/", Handler: own, Surface: api.SurfaceAPI},
	}
}

// rootHandler serves the uploader-compatible API Phraseanet calls.
func (s *Service) rootHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /assets/{id}", s.handle(s.getAsset))
	mux.HandleFunc("GET /assets/{id}/file", s.handle(s.getFile))
	mux.HandleFunc("GET /assets/{id}/download", s.handle(s.getDownload))
	mux.HandleFunc("POST /assets/{id}/ack", s.handle(s.ackAsset))
	mux.HandleFunc("POST /commits/{id}/ack", s.handle(s.ackCommit))
	mux.HandleFunc("GET /commits/{id}", s.handle(s.getCommit))
	mux.HandleFunc("GET /commits", s.handle(s.listCommits))
	mux.HandleFunc("POST /oauth/v2/token", s.handle(s.token))
	return mux
}

// handle adapts a handler that returns an error to writeError.
func (s *Service) handle(h func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	}
}

// assetToken returns the AssetToken of the request, or an unauthorized
// error.
func assetToken(r *http.Request) (string, error) {
	scheme, value, ok := credentials(r)
	if !ok || !strings.EqualFold(scheme, "AssetToken") {
		return "", &unauthorized{Msg: "an AssetToken is required", Schemes: assetChallenge}
	}
	return value, nil
}

func tokenMatches(c Commit, token string) bool {
	return subtle.ConstantTimeCompare([]byte(c.Token), []byte(token)) == 1
}

// assetFor authorizes the request's AssetToken on the asset id and
// returns the asset with its commit. An asset that does not exist and one
// whose commit has another token get the same answer (404, same body), so
// that an AssetToken, or a guess at one, tells nothing about what exists:
// node ids are sequential, and told apart they would map the files.
func (s *Service) assetFor(r *http.Request, id string) (Asset, Commit, error) {
	token, err := assetToken(r)
	if err != nil {
		return Asset{}, Commit{}, err
	}
	ctx := r.Context()
	// Not even the id: the body is the same whatever was asked.
	notYours := fmt.Errorf("%w: no such asset for this AssetToken", ErrNotFound)
	a, err := s.db.Asset(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Asset{}, Commit{}, notYours
	}
	if err != nil {
		return Asset{}, Commit{}, err
	}
	c, err := s.db.Commit(ctx, a.CommitID)
	if errors.Is(err, store.ErrNotFound) {
		return Asset{}, Commit{}, notYours
	}
	if err != nil {
		return Asset{}, Commit{}, err
	}
	if !tokenMatches(c, token) {
		return Asset{}, Commit{}, notYours
	}
	s.arrived(ctx, c)
	return a, c, nil
}

// arrived marks c pushed if it is still waiting in the push outbox:
// Phraseanet holds the commit's token, so it has the commit (the push
// call's answer was lost, or Wharf stopped during it) and must not get it
// again.
func (s *Service) arrived(ctx context.Context, c Commit) {
	if !c.Push || (c.State != store.CommitPending && c.State != store.CommitFailing) {
		return
	}
	var changed bool
	err := s.db.Update(ctx, func(tx *store.Tx) error {
		var err error
		changed, err = tx.CommitArrived(ctx, c.ID)
		return err
	})
	if err != nil {
		s.log.ErrorContext(ctx, "cannot mark a fetched commit pushed", "commit_id", c.ID, "err", err)
		return
	}
	if !changed {
		return
	}
	s.log.InfoContext(ctx, "commit pushed: Phraseanet fetched one of its assets", "commit_id", c.ID)
	e := events.Event{Type: events.CommitPushed, Size: c.TotalSize,
		Data: map[string]any{"commit": c.ID, "target": c.TargetID, "attempts": c.Attempts, "status": 0}}
	if t, err := s.db.Target(ctx, c.TargetID); err == nil {
		e.Space, e.Path = t.SpaceID, t.Folder
	}
	s.publish(e)
}

// assetJSON is an asset as the uploader's API Platform serializes it.
type assetJSON struct {
	AtID         string          `json:"@id"`
	AtType       string          `json:"@type"`
	ID           string          `json:"id"`
	URL          string          `json:"url"`
	Size         int64           `json:"size"`
	OriginalName string          `json:"originalName"`
	MIMEType     string          `json:"mimeType"`
	CreatedAt    string          `json:"createdAt"`
	Acknowledged bool            `json:"acknowledged"`
	FormData     json.RawMessage `json:"formData"`
	FormLocale   *string         `json:"formLocale"`
	Data         map[string]any  `json:"data"`
	// SHA256 is the SHA-256 of the bytes the url serves (lowercase hex);
	// absent for assets of commits made before files were frozen.
	SHA256 string `json:"sha256,omitempty"`
}

func (s *Service) getAsset(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	a, c, err := s.assetFor(r, id)
	if err != nil {
		return err
	}
	signed := s.auth.SignURL(AssetsPrefix+a.ID+"/file", s.now().Add(s.urlTTL))
	api.WriteJSON(w, http.StatusOK, assetJSON{
		AtID: AssetsPrefix + a.ID, AtType: "asset", ID: a.ID,
		URL: s.publicURL + signed, Size: a.Size, OriginalName: a.OriginalName, MIMEType: a.MIME,
		CreatedAt: phpTime(a.CreatedAt), Acknowledged: !a.AcknowledgedAt.IsZero(),
		FormData: formJSON(c.FormData), Data: s.assetData(r.Context(), a), SHA256: a.SHA256,
	})
	return nil
}

// assetData is an asset's "data": who sent the file, when it came through
// a share link's drop page (the keys postproc records in its metadata:
// uploadedBy "link:<id>", link, linkCreator); else empty.
func (s *Service) assetData(ctx context.Context, a Asset) map[string]any {
	data := map[string]any{}
	js, err := s.db.NodeMetadata(ctx, a.NodeID)
	if err != nil {
		return data
	}
	var meta map[string]any
	if json.Unmarshal([]byte(js), &meta) != nil {
		return data
	}
	if by, ok := meta["uploadedBy"].(string); ok && strings.HasPrefix(by, "link:") {
		for _, k := range []string{"uploadedBy", "link", "linkCreator"} {
			if v, ok := meta[k]; ok {
				data[k] = v
			}
		}
	}
	return data
}

func formJSON(s string) json.RawMessage {
	if s == "" || s == "null" || s == "[]" {
		return json.RawMessage("{}")
	}
	return json.RawMessage(s)
}

// getFile serves the bytes of an asset to whoever holds a signed URL: no
// Authorization header is needed (or looked at).
func (s *Service) getFile(w http.ResponseWriter, r *http.Request) error {
	if err := s.auth.VerifyURL(r.URL); err != nil {
		return fmt.Errorf("%w: %v", ErrForbidden, err)
	}
	a, err := s.db.Asset(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: asset %q", ErrNotFound, r.PathValue("id"))
	}
	if err != nil {
		return err
	}
	return s.serveAsset(w, r, a)
}

// getDownload is the download of Phraseanet <= 4.1.1, with the AssetToken.
func (s *Service) getDownload(w http.ResponseWriter, r *http.Request) error {
	a, _, err := s.assetFor(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	return s.serveAsset(w, r, a)
}

// serveAsset sends the bytes of an asset under its original name: the
// commit's frozen copy, or for an asset of a commit made before files were
// frozen, the file of its node wherever it is now.
func (s *Service) serveAsset(w http.ResponseWriter, r *http.Request, a Asset) error {
	ctx := r.Context()
	var f space.File
	var mtime time.Time
	etag := ""
	if a.Frozen {
		of, mt, err := s.openFrozen(ctx, a)
		if err != nil {
			return err
		}
		f, mtime, etag = of, mt, `"`+a.SHA256+`"`
	} else {
		n, err := s.db.NodeByID(ctx, a.NodeID)
		if errors.Is(err, store.ErrNotFound) || (err == nil && n.SpaceID != a.SpaceID) {
			return fmt.Errorf("%w: the file of asset %q is gone", ErrNotFound, a.ID)
		}
		if err != nil {
			return err
		}
		f, n, err = s.tree.Open(ctx, n.SpaceID, n.Path)
		if errors.Is(err, space.ErrNotFound) || errors.Is(err, space.ErrIsDir) {
			return fmt.Errorf("%w: the file of asset %q is gone", ErrNotFound, a.ID)
		}
		if err != nil {
			return err
		}
		mtime, etag = n.MTime, n.ETag
	}
	defer f.Close()
	h := w.Header()
	h.Set("Content-Type", a.MIME)
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": a.OriginalName}))
	if !strings.Contains(h.Get("Content-Disposition"), `filename="`) {
		// FormatMediaType quotes only when needed; Phraseanet and old
		// clients read filename="…".
		h.Set("Content-Disposition", `attachment; filename="`+strings.ReplaceAll(a.OriginalName, `"`, `\"`)+`"`)
	}
	h.Set("X-Content-Type-Options", "nosniff")
	if etag != "" {
		h.Set("ETag", etag)
	}
	http.ServeContent(w, r, a.OriginalName, mtime, f)
	return nil
}

func writeTrue(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, "true")
}

// drain reads and ignores a request body: acks take any body.
func drain(r *http.Request) { io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20)) }

func (s *Service) ackAsset(w http.ResponseWriter, r *http.Request) error {
	drain(r)
	a, c, err := s.assetFor(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	t, err := s.db.Target(r.Context(), c.TargetID)
	if err != nil {
		return err
	}
	if err := s.ack(r.Context(), t, c, a.ID); err != nil {
		return err
	}
	writeTrue(w)
	return nil
}

func (s *Service) ackCommit(w http.ResponseWriter, r *http.Request) error {
	drain(r)
	token, err := assetToken(r)
	if err != nil {
		return err
	}
	c, err := s.commit(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if !tokenMatches(c, token) {
		return fmt.Errorf("%w: the AssetToken is not that of the commit", ErrForbidden)
	}
	t, err := s.db.Target(r.Context(), c.TargetID)
	if err != nil {
		return err
	}
	if err := s.ack(r.Context(), t, c, ""); err != nil {
		return err
	}
	writeTrue(w)
	return nil
}

func (s *Service) commit(ctx context.Context, id string) (Commit, error) {
	c, err := s.db.Commit(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Commit{}, fmt.Errorf("%w: commit %q", ErrNotFound, id)
	}
	return c, err
}

// bearer returns the pull token of the request, or an unauthorized error
// (missing, unknown or expired: Phraseanet then fetches a new one).
func (s *Service) bearer(ctx context.Context, r *http.Request) (store.PullToken, error) {
	scheme, value, ok := credentials(r)
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return store.PullToken{}, &unauthorized{Msg: "a bearer token from " + TokenPath + " is required", Schemes: bearerChallenge}
	}
	return s.checkBearer(ctx, value)
}

func (s *Service) checkBearer(ctx context.Context, value string) (store.PullToken, error) {
	t, err := s.db.PullToken(ctx, hashSecret(value))
	if errors.Is(err, store.ErrNotFound) {
		return store.PullToken{}, &unauthorized{Msg: "unknown token", Schemes: bearerChallenge + `, error="invalid_token"`}
	}
	if err != nil {
		return store.PullToken{}, err
	}
	if !s.now().Before(t.ExpiresAt) {
		return store.PullToken{}, &unauthorized{Msg: "token expired", Schemes: bearerChallenge + `, error="invalid_token"`}
	}
	return t, nil
}

// commitJSON is a commit as the uploader serializes it for Phraseanet:
// assets and target as IRI strings (objects break Phraseanet).
type commitJSON struct {
	AtID           string          `json:"@id"`
	AtType         string          `json:"@type"`
	ID             string          `json:"id"`
	Assets         []string        `json:"assets"`
	UserID         string          `json:"userId"`
	Token          string          `json:"token"`
	Acknowledged   bool            `json:"acknowledged"`
	AcknowledgedAt *string         `json:"acknowledgedAt"`
	FormData       json.RawMessage `json:"formData"`
	FormLocale     *string         `json:"formLocale"`
	CreatedAt      string          `json:"createdAt"`
	Target         string          `json:"target"`
	TotalSize      int64           `json:"totalSize"`
}

func (s *Service) commitJSON(ctx context.Context, c Commit) (commitJSON, error) {
	as, err := s.db.CommitAssets(ctx, c.ID)
	if err != nil {
		return commitJSON{}, err
	}
	out := commitJSON{
		AtID: CommitsPrefix + c.ID, AtType: "commit", ID: c.ID, Assets: make([]string, len(as)),
		UserID: strconv.FormatInt(c.UserID, 10), Token: c.Token, Acknowledged: !c.AcknowledgedAt.IsZero(),
		FormData: formJSON(c.FormData), CreatedAt: phpTime(c.CreatedAt), Target: "/targets/" + c.TargetID,
		TotalSize: c.TotalSize,
	}
	if !c.AcknowledgedAt.IsZero() {
		at := phpTime(c.AcknowledgedAt)
		out.AcknowledgedAt = &at
	}
	for i, a := range as {
		out.Assets[i] = AssetsPrefix + a.ID
	}
	return out, nil
}

// getCommit answers one commit to its AssetToken or to a bearer token of
// its target.
func (s *Service) getCommit(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	scheme, value, ok := credentials(r)
	if !ok || !(strings.EqualFold(scheme, "AssetToken") || strings.EqualFold(scheme, "Bearer")) {
		return &unauthorized{Msg: "an AssetToken or a bearer token is required", Schemes: assetChallenge + ", " + bearerChallenge}
	}
	var pt store.PullToken
	if strings.EqualFold(scheme, "Bearer") {
		var err error
		if pt, err = s.checkBearer(ctx, value); err != nil {
			return err
		}
	}
	c, err := s.commit(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	if pt.Hash != "" && pt.TargetID != c.TargetID {
		return fmt.Errorf("%w: the commit is not of the token's target", ErrForbidden)
	}
	if pt.Hash == "" && !tokenMatches(c, value) {
		return fmt.Errorf("%w: the AssetToken is not that of the commit", ErrForbidden)
	}
	cj, err := s.commitJSON(ctx, c)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, cj)
	return nil
}

// listCommits is the pull-mode listing: hydra JSON-LD, unacknowledged
// first then oldest, PageSize a page, of the bearer token's target.
func (s *Service) listCommits(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	pt, err := s.bearer(ctx, r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.CommitFilter{TargetID: pt.TargetID, Limit: PageSize}
	if target := strings.TrimPrefix(q.Get("target"), "/targets/"); target != "" && target != pt.TargetID {
		if _, err := s.db.Target(ctx, target); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: target %q", ErrNotFound, target)
		}
		return fmt.Errorf("%w: the token is not for target %q", ErrForbidden, target)
	}
	if v := q.Get("acknowledged"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return &httpError{Status: http.StatusBadRequest, Body: map[string]string{"error": "acknowledged: want true or false"}}
		}
		f.Acknowledged = &b
	}
	page := 1
	if v := q.Get("page"); v != "" {
		if page, err = strconv.Atoi(v); err != nil || page < 1 {
			return &httpError{Status: http.StatusBadRequest, Body: map[string]string{"error": "page: want a number from 1"}}
		}
	}
	f.Offset = (page - 1) * PageSize
	cs, total, err := s.db.Commits(ctx, f)
	if err != nil {
		return err
	}
	members := make([]commitJSON, 0, len(cs))
	for _, c := range cs {
		cj, err := s.commitJSON(ctx, c)
		if err != nil {
			return err
		}
		members = append(members, cj)
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{
		"@context":         "/contexts/commit",
		"@id":              "/commits",
		"@type":            "hydra:Collection",
		"hydra:member":     members,
		"hydra:totalItems": total,
	})
	return nil
}

// token is the client-credentials token endpoint of pull mode. It takes
// JSON or a form, and the client credentials in the body or as Basic.
func (s *Service) token(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var in struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
		GrantType    string `json:"grant_type"`
		Scope        string `json:"scope"`
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		return &oauthError{Status: http.StatusBadRequest, Code: "invalid_request", Msg: "cannot read the body"}
	}
	trimmed := strings.TrimSpace(string(body))
	if ct == "application/json" || strings.HasSuffix(ct, "+json") || (ct == "" && strings.HasPrefix(trimmed, "{")) {
		if err := json.Unmarshal(body, &in); err != nil {
			return &oauthError{Status: http.StatusBadRequest, Code: "invalid_request", Msg: "the body is not a JSON object of strings"}
		}
	} else {
		v, err := url.ParseQuery(trimmed)
		if err != nil {
			return &oauthError{Status: http.StatusBadRequest, Code: "invalid_request", Msg: "the body is not a form"}
		}
		in.ClientID, in.ClientSecret = v.Get("client_id"), v.Get("client_secret")
		in.GrantType, in.Scope = v.Get("grant_type"), v.Get("scope")
	}
	if id, secret, ok := r.BasicAuth(); ok && in.ClientID == "" {
		in.ClientID, in.ClientSecret = id, secret
	}
	if in.GrantType != "client_credentials" {
		return &oauthError{Status: http.StatusBadRequest, Code: "unsupported_grant_type", Msg: "only client_credentials is supported"}
	}
	t, err := s.db.TargetByClientID(ctx, in.ClientID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	// The target keeps a hash of its secret; compare hashes.
	if err != nil || in.ClientID == "" || subtle.ConstantTimeCompare([]byte(t.ClientSecretHash), []byte(clientSecretHash(in.ClientSecret))) != 1 {
		return &oauthError{Status: http.StatusUnauthorized, Code: "invalid_client", Msg: "bad client credentials"}
	}
	if !pulls(t) || !t.Enabled {
		return &oauthError{Status: http.StatusUnauthorized, Code: "invalid_client", Msg: "the target is not in pull mode or is disabled"}
	}
	scope := strings.Join(strings.Fields(in.Scope), " ")
	if scope == "" {
		scope = "commit:list"
	}
	for _, sc := range strings.Fields(scope) {
		if !pullScopes[sc] {
			return &oauthError{Status: http.StatusBadRequest, Code: "invalid_scope", Msg: "scope must be commit:list (or uploader:commit_list)"}
		}
	}
	secret := newToken(32)
	pt := store.PullToken{Hash: hashSecret(secret), TargetID: t.ID, Scope: scope, ExpiresAt: s.now().Add(s.tokenTTL)}
	if err := s.db.Update(ctx, func(tx *store.Tx) error { return tx.InsertPullToken(ctx, pt) }); err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	api.WriteJSON(w, http.StatusOK, map[string]any{
		"access_token": secret,
		"token_type":   "bearer",
		"expires_in":   int64(s.tokenTTL / time.Second),
		"scope":        scope,
	})
	return nil
}
