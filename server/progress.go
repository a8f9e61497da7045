package server

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/events"
	"github.com/wharfhq/wharf/postproc"
	"github.com/wharfhq/wharf/store"
)

// jobStatuser is what the progress endpoint needs from the pipeline.
type jobStatuser interface {
	Status(ctx context.Context, id string) (postproc.Status, error)
}

// progressMessage is one message on the progress websocket: first the
// job's status as it stands, then each of its events, the last of which is
// processing.finished or processing.aborted.
type progressMessage struct {
	Type   string           `json:"type"` // "status" or the event's type
	Status *postproc.Status `json:"status,omitempty"`
	Event  *events.Event    `json:"event,omitempty"`
}

// receiving is the state reported for an upload whose bytes are still
// arriving.
const receiving postproc.State = "receiving"

// progressPingEvery keeps idle progress sockets (a long virus scan) alive
// through proxies that close quiet connections.
const progressPingEvery = 30 * time.Second

// handleProgress serves /api/v1/uploads/{id}/progress: the processing state
// of an upload as JSON (GET), or as a websocket that streams the job's
// events until it is final and then closes normally. A client that
// connects after the end gets the final state at once. Only members of the
// upload's space see it; to others it does not exist.
func (a *app) handleProgress(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	// Subscribe before reading the status, so that no event falls between.
	var sub *events.Subscription
	if websocketRequested(r) {
		sub = a.bus.Subscribe(func(e events.Event) bool { return e.Upload == id }, 64)
		defer sub.Close()
	}
	st, err := a.jobs.Status(ctx, id)
	if errors.Is(err, postproc.ErrUnknownJob) {
		// A tus upload still receiving its bytes has no job yet: report it
		// as such, so that a client may watch from the start.
		var u store.Upload
		if u, err = a.svc.DB.Upload(ctx, id); err == nil && u.SpaceID != "" {
			st = postproc.Status{ID: u.ID, Space: u.SpaceID, Path: u.Path, State: receiving, Updated: u.UpdatedAt}
		} else if err == nil || errors.Is(err, store.ErrNotFound) {
			a.writeError(w, r, &httpError{Status: http.StatusNotFound, Msg: "no such upload"})
			return
		}
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if _, ok, err := a.svc.Auth.RoleIn(ctx, auth.FromContext(ctx), st.Space); err != nil || !ok {
		if err == nil {
			err = &httpError{Status: http.StatusNotFound, Msg: "no such upload"}
		}
		a.writeError(w, r, err)
		return
	}
	if sub == nil {
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, st)
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
				if st, err := a.jobs.Status(ctx, id); err == nil {
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

// websocketRequested reports whether r asks to upgrade to a websocket.
func websocketRequested(r *http.Request) bool {
	return headerHasToken(r.Header, "Connection", "upgrade") && headerHasToken(r.Header, "Upgrade", "websocket")
}

// headerHasToken reports whether a comma-separated header holds token,
// case-insensitively.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
