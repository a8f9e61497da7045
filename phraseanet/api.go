package phraseanet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/internal/api"
	"github.com/wharfhq/wharf/store"
)

// TargetsPath is the targets' API (the path and its subtree; see Routes).
const TargetsPath = "/api/v1/targets"

// apiHandler serves /api/v1/targets… for scripts and the web UI, behind
// Wharf's authentication: it reads the auth.Principal from the request
// context (none: 401).
//
//	GET  /api/v1/targets               the targets of the caller's spaces
//	GET  /api/v1/targets/{id}/commits  a target's commits (viewer)
//	POST /api/v1/targets/{id}/commits  make a commit (editor)
//	POST /api/v1/targets/{id}/commits/{commit}/retry  push it again now (editor)
func (s *Service) apiHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+TargetsPath, s.handle(s.apiTargets))
	mux.HandleFunc("GET "+TargetsPath+"/{id}/commits", s.handle(s.apiCommits))
	mux.HandleFunc("POST "+TargetsPath+"/{id}/commits", s.handle(s.apiCreateCommit))
	mux.HandleFunc("POST "+TargetsPath+"/{id}/commits/{commit}/retry", s.handle(s.apiRetryCommit))
	return mux
}

// targetRole returns the target and the caller's role in its space. A
// target in a space the caller cannot see is not found.
func (s *Service) targetRole(r *http.Request, id string) (Target, auth.Role, error) {
	p := auth.FromContext(r.Context())
	if p == nil {
		return Target{}, "", &unauthorized{Msg: "authentication required", Schemes: `Basic realm="Wharf", charset="UTF-8"`}
	}
	t, err := s.db.Target(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return Target{}, "", fmt.Errorf("%w: target %q", ErrNotFound, id)
	}
	if err != nil {
		return Target{}, "", err
	}
	role, ok, err := s.auth.RoleIn(r.Context(), p, t.SpaceID)
	if err != nil {
		return Target{}, "", err
	}
	if !ok {
		return Target{}, "", fmt.Errorf("%w: target %q", ErrNotFound, id)
	}
	return t, role, nil
}

type targetOut struct {
	ID          string          `json:"id"`
	Name        string          `json:"name"`
	Space       string          `json:"space"`
	Folder      string          `json:"folder"`
	Mode        string          `json:"mode"`
	URL         string          `json:"url,omitempty"`
	Scheme      string          `json:"scheme"`
	Notifies    bool            `json:"notifies"`
	Destination string          `json:"destination"`
	Params      json.RawMessage `json:"params"`
	FormSchema  json.RawMessage `json:"formSchema"`
	Every       string          `json:"every,omitempty"`
	DailyAt     string          `json:"dailyAt,omitempty"`
	MaxFiles    int             `json:"maxFiles"`
	MaxBytes    int64           `json:"maxBytes"`
	AfterAck    string          `json:"afterAck"`
	Grace       string          `json:"grace"`
	Retention   string          `json:"retention"`
	Enabled     bool            `json:"enabled"`
	PullURI     string          `json:"pullUri,omitempty"`
	LastRunAt   *time.Time      `json:"lastRunAt,omitempty"`
	CreatedAt   time.Time       `json:"createdAt"`
	Exclude     []string        `json:"exclude"`
	PublisherID int64           `json:"publisherId,omitempty"`
}

func (s *Service) targetOut(t Target) targetOut {
	out := targetOut{
		ID: t.ID, Name: t.Name, Space: t.SpaceID, Folder: t.Folder, Mode: t.Mode, URL: t.EnqueueURL,
		Scheme: t.Scheme, Notifies: notifies(t), Destination: t.Destination, Params: formJSON(t.Params),
		FormSchema: json.RawMessage("null"), DailyAt: t.DailyAt, MaxFiles: t.MaxFiles, MaxBytes: t.MaxBytes,
		AfterAck: t.AfterAck, Grace: t.Grace.String(), Retention: t.Retention.String(), Enabled: t.Enabled,
		CreatedAt: t.CreatedAt, Exclude: ExcludeList(t), PublisherID: t.PublisherID,
	}
	if t.FormSchema != "" {
		out.FormSchema = json.RawMessage(t.FormSchema)
	}
	if t.Every > 0 {
		out.Every = t.Every.String()
	}
	if pulls(t) && s.publicURL != "" {
		out.PullURI, _ = PullURI(s.publicURL, t.ID)
	}
	if !t.LastRunAt.IsZero() {
		lr := t.LastRunAt
		out.LastRunAt = &lr
	}
	return out
}

func (s *Service) apiTargets(w http.ResponseWriter, r *http.Request) error {
	p := auth.FromContext(r.Context())
	if p == nil {
		return &unauthorized{Msg: "authentication required", Schemes: `Basic realm="Wharf", charset="UTF-8"`}
	}
	roles, err := s.auth.SpaceRoles(r.Context(), p)
	if err != nil {
		return err
	}
	ts, err := s.db.Targets(r.Context())
	if err != nil {
		return err
	}
	out := []targetOut{}
	for _, t := range ts {
		if _, ok := roles[t.SpaceID]; ok {
			out = append(out, s.targetOut(t))
		}
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

type assetOut struct {
	ID           string `json:"id"`
	Path         string `json:"path"`
	Size         int64  `json:"size,omitempty"`
	Acknowledged bool   `json:"acknowledged"`
	SHA256       string `json:"sha256,omitempty"`
}

type commitOut struct {
	ID             string          `json:"id"`
	Token          string          `json:"token,omitempty"`
	State          string          `json:"state"`
	Attempts       int             `json:"attempts"`
	LastError      string          `json:"lastError,omitempty"`
	NextAttemptAt  *time.Time      `json:"nextAttemptAt,omitempty"`
	UserID         int64           `json:"userId"`
	FormData       json.RawMessage `json:"formData"`
	TotalSize      int64           `json:"totalSize"`
	CreatedAt      time.Time       `json:"createdAt"`
	AcknowledgedAt *time.Time      `json:"acknowledgedAt,omitempty"`
	Assets         []assetOut      `json:"assets"`
}

func commitOutOf(c Commit, as []Asset, withToken bool) commitOut {
	out := commitOut{ID: c.ID, State: c.State, Attempts: c.Attempts, LastError: c.LastError, UserID: c.UserID,
		FormData: formJSON(c.FormData), TotalSize: c.TotalSize, CreatedAt: c.CreatedAt, Assets: []assetOut{}}
	if withToken {
		out.Token = c.Token
	}
	if c.State == store.CommitFailing && !c.NextAttemptAt.IsZero() {
		n := c.NextAttemptAt
		out.NextAttemptAt = &n
	}
	if !c.AcknowledgedAt.IsZero() {
		a := c.AcknowledgedAt
		out.AcknowledgedAt = &a
	}
	for _, a := range as {
		out.Assets = append(out.Assets, assetOut{ID: a.ID, Path: a.Path, Size: a.Size, Acknowledged: !a.AcknowledgedAt.IsZero(), SHA256: a.SHA256})
	}
	return out
}

func (s *Service) apiCommits(w http.ResponseWriter, r *http.Request) error {
	t, role, err := s.targetRole(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	cs, assets, err := s.Commits(r.Context(), t.ID)
	if err != nil {
		return err
	}
	out := make([]commitOut, 0, len(cs))
	for _, c := range cs {
		out = append(out, commitOutOf(c, assets[c.ID], role.Allows(auth.Editor)))
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (s *Service) apiCreateCommit(w http.ResponseWriter, r *http.Request) error {
	t, role, err := s.targetRole(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	if !role.Allows(auth.Editor) {
		return fmt.Errorf("%w: committing needs the editor role in space %q", ErrForbidden, t.SpaceID)
	}
	var in struct {
		Nodes    []json.Number   `json:"nodes"`
		Paths    []string        `json:"paths"`
		FormData json.RawMessage `json:"formData"`
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("%w: cannot read the body", ErrBadInput)
	}
	if !api.IsJSON(r.Header.Get("Content-Type")) {
		// Never read a form another site's page posted as JSON.
		return api.Errorf(http.StatusUnsupportedMediaType, "send the body as Content-Type: application/json")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&in); err != nil {
		return fmt.Errorf("%w: body: want {\"nodes\":[ids]} or {\"paths\":[paths]}, optionally with \"formData\":{…}: %v", ErrBadInput, err)
	}
	req := CommitRequest{TargetID: t.ID, Paths: in.Paths}
	if p := auth.FromContext(r.Context()); p != nil {
		req.UserID = p.User.ID
	}
	for _, n := range in.Nodes {
		id, err := strconv.ParseInt(n.String(), 10, 64)
		if err != nil {
			return fmt.Errorf("%w: node id %q", ErrBadInput, n.String())
		}
		req.NodeIDs = append(req.NodeIDs, id)
	}
	if req.Form, err = decodeForm(in.FormData); err != nil {
		return err
	}
	c, as, err := s.CreateCommit(r.Context(), req)
	if err != nil {
		return err
	}
	type created struct {
		ID     string `json:"id"`
		Path   string `json:"path"`
		NodeID int64  `json:"node"`
	}
	out := struct {
		ID     string    `json:"id"`
		Token  string    `json:"token"`
		State  string    `json:"state"`
		Assets []created `json:"assets"`
	}{ID: c.ID, Token: c.Token, State: c.State}
	for _, a := range as {
		out.Assets = append(out.Assets, created{ID: a.ID, Path: a.Path, NodeID: a.NodeID})
	}
	w.Header().Set("Location", TargetsPath+"/"+t.ID+"/commits")
	api.WriteJSON(w, http.StatusCreated, out)
	return nil
}

// apiRetryCommit serves POST .../commits/{commit}/retry: a pending or
// failing commit of the push outbox is pushed at once instead of at its
// next backoff time. 202: the pusher has been woken; the outcome shows in
// the commit's state and as commit.pushed or commit.failed events.
func (s *Service) apiRetryCommit(w http.ResponseWriter, r *http.Request) error {
	t, role, err := s.targetRole(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	if !role.Allows(auth.Editor) {
		return fmt.Errorf("%w: retrying a push needs the editor role in space %q", ErrForbidden, t.SpaceID)
	}
	c, err := s.RetryPush(r.Context(), t.ID, r.PathValue("commit"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusAccepted, map[string]any{"id": c.ID, "state": c.State, "attempts": c.Attempts})
	return nil
}

// RetryPush makes commit id of target targetID due now and wakes the
// pusher. It returns an error matching ErrNotFound (no such commit of that
// target) or ErrExists (a commit that is not in the push outbox, or is
// already pushed or acknowledged: nothing to retry). A commit being pushed
// at this moment is left to that attempt.
func (s *Service) RetryPush(ctx context.Context, targetID, id string) (Commit, error) {
	var c Commit
	if !s.claim(id) {
		// Being pushed right now: that attempt is the retry.
		c, err := s.db.Commit(ctx, id)
		if errors.Is(err, store.ErrNotFound) || err == nil && c.TargetID != targetID {
			return Commit{}, fmt.Errorf("%w: commit %q", ErrNotFound, id)
		}
		return c, err
	}
	defer s.release(id)
	err := s.db.Update(ctx, func(tx *store.Tx) error {
		var err error
		c, err = tx.Commit(ctx, id)
		if errors.Is(err, store.ErrNotFound) || err == nil && c.TargetID != targetID {
			return fmt.Errorf("%w: commit %q", ErrNotFound, id)
		}
		if err != nil {
			return err
		}
		switch {
		case !c.Push:
			return fmt.Errorf("%w: commit %q is not pushed by Wharf (its target does not notify Phraseanet); Phraseanet pulls it", ErrExists, id)
		case c.State != store.CommitPending && c.State != store.CommitFailing:
			return fmt.Errorf("%w: commit %q is %s: nothing to retry", ErrExists, id, c.State)
		}
		c.NextAttemptAt = s.now()
		_, err = tx.SetCommitPush(ctx, c)
		return err
	})
	if err != nil {
		return Commit{}, err
	}
	kick(s.pushKick)
	return c, nil
}
