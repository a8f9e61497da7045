package postproc

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/events"
	"github.com/wharfhq/wharf/internal/api"
	"github.com/wharfhq/wharf/store"
)

// ProgressConfig configures the progress endpoint (NewProgress).
type ProgressConfig struct {
	// Runner is the pipeline whose jobs are watched, with its Bus.
	// Required.
	Runner *Runner
	// Auth tells who may watch: the members of the upload's space.
	// Required.
	Auth *auth.Service
	// Logger receives the failures answered 500. Nil: discard.
	Logger *slog.Logger
}

// Progress serves GET /api/v1/uploads/{id}/progress, the processing state
// of one upload, which the upload front ends name in Progress-Location
// (ProgressURL). It is safe for concurrent use.
type Progress struct {
	cfg ProgressConfig
	log *slog.Logger
}

// NewProgress checks cfg and returns the endpoint.
func NewProgress(cfg ProgressConfig) (*Progress, error) {
	if cfg.Runner == nil || cfg.Auth == nil {
		return nil, errors.New("postproc: progress: Config needs Runner and Auth")
	}
	if cfg.Runner.bus == nil {
		return nil, errors.New("postproc: progress: the Runner has no Bus")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Progress{cfg: cfg, log: cfg.Logger}, nil
}

// Routes is the progress endpoint. An upload token may watch the uploads
// it created, and no other.
func (pr *Progress) Routes() []api.Route {
	return []api.Route{{
		Pattern: "GET " + progressPrefix + "{id}/progress",
		Handler: http.HandlerFunc(pr.serve),
		Surface: api.SurfaceEvents,
		UploadToken: func(r *http.Request, t *auth.Token) bool {
			u, err := pr.cfg.Runner.db.Upload(r.Context(), r.PathValue("id"))
			return err == nil && u.TokenID == t.ID
		},
	}}
}

// progressMessage is one message on the progress websocket: first the
// job's status as it stands, then each of its events, the last of which is
// processing.finished or processing.aborted.
type progressMessage struct {
	Type   string        `json:"type"` // "status" or the event's type
	Status *Status       `json:"status,omitempty"`
	Event  *events.Event `json:"event,omitempty"`
}

// receiving is the state reported for an upload whose bytes are still
// arriving.
const receiving State = "receiving"

// progressPingEvery keeps idle progress sockets (a long virus scan) alive
// through proxies that close quiet connections.
const progressPingEvery = 30 * time.Second

// serve serves /api/v1/uploads/{id}/progress: the processing state
// of an upload as JSON (GET), or as a websocket that streams the job's
// events until it is final and then closes normally. A client that
// connects after the end gets the final state at once. Only members of the
// upload's space see it; to others it does not exist.
func (pr *Progress) serve(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	// Subscribe before reading the status, so that no event falls between.
	var sub *events.Subscription
	if auth.IsWebsocketUpgrade(r) {
		sub = pr.cfg.Runner.bus.Subscribe(func(e events.Event) bool { return e.Upload == id }, 64)
		defer sub.Close()
	}
	st, err := pr.cfg.Runner.Status(ctx, id)
	if errors.Is(err, ErrUnknownJob) {
		// A tus upload still receiving its bytes has no job yet: report it
		// as such, so that a client may watch from the start.
		var u store.Upload
		if u, err = pr.cfg.Runner.db.Upload(ctx, id); err == nil && u.SpaceID != "" {
			st = Status{ID: u.ID, Space: u.SpaceID, Path: u.Path, State: receiving, Updated: u.UpdatedAt}
		} else if err == nil || errors.Is(err, store.ErrNotFound) {
			api.Write(w, r, pr.log, &api.Error{Status: http.StatusNotFound, Msg: "no such upload"})
			return
		}
	}
	if err != nil {
		api.Write(w, r, pr.log, err)
		return
	}
	if _, ok, err := pr.cfg.Auth.RoleIn(ctx, auth.FromContext(ctx), st.Space); err != nil || !ok {
		if err == nil {
			err = &api.Error{Status: http.StatusNotFound, Msg: "no such upload"}
		}
		api.Write(w, r, pr.log, err)
		return
	}
	if sub == nil {
		api.WriteJSON(w, http.StatusOK, st)
		return
	}

	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return // Accept has answered
	}
	defer c.CloseNow()
	ctx = c.CloseRead(ctx) // ends when the client goes away
	if err := wsjson.Write(ctx, c, progressMessage{Type: "status", Status: &st}); err != nil {
		return
	}
	if st.State.Final() {
		c.Close(websocket.StatusNormalClosure, string(st.State))
		return
	}
	ping := time.NewTicker(progressPingEvery)
	defer ping.Stop()
	for {
		select {
		case e, ok := <-sub.C():
			if !ok {
				return
			}
			if err := wsjson.Write(ctx, c, progressMessage{Type: e.Type, Event: &e}); err != nil {
				return
			}
			if e.Type == events.ProcessingFinished || e.Type == events.ProcessingAborted {
				c.Close(websocket.StatusNormalClosure, e.Type)
				return
			}
			if sub.Dropped() > 0 {
				// Events were lost: the client can no longer follow; say
				// where things stand and let it reconnect.
				if st, err := pr.cfg.Runner.Status(ctx, id); err == nil {
					wsjson.Write(ctx, c, progressMessage{Type: "status", Status: &st})
				}
				c.Close(websocket.StatusTryAgainLater, "fell behind; reconnect")
				return
			}
		case <-ping.C:
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := c.Ping(pctx)
			cancel()
			if err != nil {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}
