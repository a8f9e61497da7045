package phraseanet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/wharfhq/wharf/events"
	"github.com/wharfhq/wharf/store"
)

// enqueueBody is the push call's JSON, as Phraseanet validates it
// (lib/conf.d/json_schema/assets_enqueue.json): all five keys, assets an
// array, the rest strings.
type enqueueBody struct {
	Assets    []string `json:"assets"`
	Publisher string   `json:"publisher"`
	CommitID  string   `json:"commit_id"`
	Token     string   `json:"token"`
	BaseURL   string   `json:"base_url"`
}

// runPusher sends the commits of the outbox as they come due, until ctx
// ends. It wakes when a commit is made (pushKick), when the earliest
// failing commit is due, and at least every Tick (a commit made by
// another process).
func (s *Service) runPusher(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-s.pushKick:
		}
		s.pushDue(ctx)
		wait := s.tick
		next, ok, err := s.db.NextPushAt(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.ErrorContext(ctx, "push outbox", "err", err)
		}
		if ok {
			wait = min(wait, max(next.Sub(s.now()), 0))
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(wait)
	}
}

// pushDue sends every commit of the outbox that is due now, one at a time.
func (s *Service) pushDue(ctx context.Context) {
	for ctx.Err() == nil {
		cs, err := s.db.DueCommits(ctx, s.now(), 20)
		if err != nil {
			if ctx.Err() == nil {
				s.log.ErrorContext(ctx, "push outbox", "err", err)
			}
			return
		}
		if len(cs) == 0 {
			return
		}
		for _, c := range cs {
			if ctx.Err() != nil {
				return
			}
			s.pushOne(ctx, c)
		}
	}
}

// claim marks a commit as being pushed; false if it already is.
func (s *Service) claim(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight[id] {
		return false
	}
	s.inflight[id] = true
	return true
}

func (s *Service) release(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.inflight, id)
}

// pushOne sends one commit and records the outcome. A failure is retried
// at a later attempt with capped exponential backoff and jitter.
func (s *Service) pushOne(ctx context.Context, c Commit) {
	if !s.claim(c.ID) {
		return
	}
	defer s.release(c.ID)
	t, err := s.db.Target(ctx, c.TargetID)
	if err != nil {
		if ctx.Err() == nil {
			s.log.ErrorContext(ctx, "push: read target", "commit_id", c.ID, "err", err)
		}
		return
	}
	// Phraseanet's enqueue is not idempotent: a commit it has queued must
	// not be sent again. Should Wharf stop during the call, nobody knows
	// whether it arrived, so the commit is first held back: after a
	// restart it is sent again only once the hold is over, and if
	// Phraseanet fetches one of its assets meanwhile, it arrived
	// (CommitArrived) and is not sent again at all.
	var held bool
	err = s.db.Update(ctx, func(tx *store.Tx) error {
		var err error
		held, err = tx.HoldCommit(ctx, c.ID, s.now().Add(s.doubtHold), inDoubt)
		return err
	})
	if err != nil {
		if ctx.Err() == nil {
			s.log.ErrorContext(ctx, "push: hold commit", "commit_id", c.ID, "err", err)
		}
		return
	}
	if !held {
		return // pushed or acknowledged meanwhile
	}
	status, delivered, sendErr := s.send(ctx, t, c)
	if ctx.Err() != nil {
		return // shutting down: the commit stays held, as after a crash
	}
	c.Attempts++
	switch {
	case sendErr == nil:
		c.State, c.LastError, c.NextAttemptAt = store.CommitPushed, "", time.Time{}
	case delivered:
		// The request went out but no answer came back: it may have
		// been queued. The next attempt waits out the hold.
		c.State, c.LastError = store.CommitFailing, sendErr.Error()+" (the call may have arrived: the next attempt waits for Phraseanet to fetch an asset first)"
		c.NextAttemptAt = s.now().Add(max(s.backoff(c.Attempts), s.doubtHold))
	default:
		c.State, c.LastError = store.CommitFailing, sendErr.Error()
		c.NextAttemptAt = s.now().Add(s.backoff(c.Attempts))
	}
	var changed bool
	err = s.db.Update(ctx, func(tx *store.Tx) error {
		var err error
		changed, err = tx.SetCommitPush(ctx, c)
		return err
	})
	if err != nil {
		s.log.ErrorContext(ctx, "push: record outcome", "commit_id", c.ID, "err", err)
		return
	}
	if !changed {
		return // fetched or acknowledged meanwhile
	}
	e := events.Event{Space: t.SpaceID, Path: t.Folder, Size: c.TotalSize,
		Data: map[string]any{"commit": c.ID, "target": t.ID, "attempts": c.Attempts, "status": status}}
	if sendErr == nil {
		e.Type = events.CommitPushed
		s.log.InfoContext(ctx, "commit pushed", "commit_id", c.ID, "target", t.Name, "status", status, "attempts", c.Attempts)
	} else {
		e.Type = events.CommitFailed
		e.Data["error"] = c.LastError
		e.Data["next_attempt"] = c.NextAttemptAt
		s.log.WarnContext(ctx, "commit push failed", "commit_id", c.ID, "target", t.Name, "attempts", c.Attempts,
			"next_attempt", c.NextAttemptAt, "err", sendErr)
	}
	s.publish(e)
}

// backoff is the delay before the attempt after the n-th failure: base
// doubled n-1 times, capped, then drawn from [d/2, d].
func (s *Service) backoff(n int) time.Duration {
	d := s.retryBase
	for i := 1; i < n && d < s.retryMax; i++ {
		d *= 2
	}
	d = min(d, s.retryMax)
	half := d / 2
	return half + rand.N(d-half+1)
}

// inDoubt is a held commit's last error until its push call returns: what
// the commit list shows if Wharf stopped during the call.
const inDoubt = "the outcome of the last push is unknown (Wharf stopped during the call): " +
	"held back until Phraseanet fetches one of its assets or the hold ends"

// send makes the enqueue call for c and returns the HTTP status, or an
// error for a network error or a status other than 2xx. delivered says
// whether the whole request was written but no answer read: then
// Phraseanet may have queued the commit.
func (s *Service) send(ctx context.Context, t Target, c Commit) (status int, delivered bool, err error) {
	if s.publicURL == "" {
		return 0, false, errors.New("no public URL configured: Phraseanet could not fetch the assets")
	}
	assets, err := s.db.CommitAssets(ctx, c.ID)
	if err != nil {
		return 0, false, err
	}
	if len(assets) == 0 {
		return 0, false, errors.New("commit has no assets")
	}
	body := enqueueBody{Publisher: strconv.FormatInt(c.UserID, 10), CommitID: c.ID, Token: c.Token, BaseURL: s.publicURL}
	for _, a := range assets {
		body.Assets = append(body.Assets, a.ID)
	}
	b, _ := json.Marshal(body)
	// The URL is used exactly as configured: Phraseanet's route has a
	// trailing slash and a redirect would turn the POST into a GET.
	var wrote atomic.Bool
	trace := &httptrace.ClientTrace{WroteRequest: func(i httptrace.WroteRequestInfo) { wrote.Store(i.Err == nil) }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodPost, t.EnqueueURL, bytes.NewReader(b))
	if err != nil {
		return 0, false, fmt.Errorf("enqueue URL: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", t.Scheme+" "+t.Key)
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, wrote.Load(), err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, false, fmt.Errorf("enqueue answered %s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	return resp.StatusCode, false, nil
}
