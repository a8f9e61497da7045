package phraseanet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/wharfhq/wharf/space"
	"github.com/wharfhq/wharf/store"
)

// Target modes.
const (
	ModePush = "push" // Wharf calls the enqueue URL
	ModePull = "pull" // Phraseanet polls /commits
	ModeBoth = "both"
)

// Defaults of a target's settings.
const (
	DefaultScheme    = "OAuth"
	DefaultMaxFiles  = 500
	DefaultMaxBytes  = 10 << 30 // 10 GiB
	DefaultRetention = 30 * 24 * time.Hour
	// NoNotifyKey as a target's key means: never call the enqueue URL.
	NoNotifyKey = "avoid"
)

// Target is where the commits of a space (or a folder of it) go.
type Target = store.Target

// TargetSpec describes a new target. Zero values mean the documented
// defaults.
type TargetSpec struct {
	Name    string // required, unique
	SpaceID string // required, an existing space
	Folder  string // a path in the space; "": the whole space
	Mode    string // push, pull or both; required
	// URL is the enqueue URL, e.g.
	// https://dam.example.org/api/v1/upload/enqueue/ (kept exactly as
	// given: Phraseanet wants the trailing slash). Required for push and
	// both, unless Key is "avoid".
	URL    string
	Scheme string // the enqueue call's Authorization scheme. "": OAuth
	Key    string // the enqueue call's credentials; "avoid": never notify
	// Destination is the default collection_destination (a Phraseanet
	// base_id). "" only if Params sets collection_destination.
	Destination string
	Params      map[string]string // fixed form data; wins over user values
	FormSchema  []byte            // JSON (see ParseSchema); nil: none
	// Every is "" (no scheduled commits), a duration ("15m") or a daily
	// time in server local time ("03:00").
	Every     string
	MaxFiles  int           // 0: 500
	MaxBytes  int64         // 0: 10 GiB
	AfterAck  string        // keep, delete or move:<folder in the space>. "": keep
	Grace     time.Duration // before the after-ack action. 0: none
	Retention time.Duration // of acknowledged commits' rows. 0: 30 days
	Disabled  bool
	// Exclude lists name patterns never committed (path.Match syntax,
	// matched against each element of a path, case ignored); the word
	// "defaults" stands for DefaultExclude. nil: the defaults; ["none"]:
	// nothing excluded.
	Exclude []string
	// Publisher is the user named as publisher of scheduled commits whose
	// uploader Wharf does not know (files put by WebDAV, say). "": none.
	Publisher string
}

// ParseEvery reads a schedule: a Go duration of at least one second, or a
// daily "HH:MM". It returns one of the two.
func ParseEvery(s string) (every time.Duration, daily string, err error) {
	if s == "" {
		return 0, "", nil
	}
	if t, err := time.Parse("15:04", s); err == nil && len(s) == 5 {
		return 0, t.Format("15:04"), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < time.Second {
		return 0, "", badInput("schedule %q: want a duration of at least 1s (15m, 1h) or a daily time HH:MM", s)
	}
	return d, "", nil
}

// parseAfterAck checks an after-ack action and returns the move folder
// (cleaned) for move:<folder>.
func parseAfterAck(s string) (action, folder string, err error) {
	switch {
	case s == "" || s == "keep":
		return "keep", "", nil
	case s == "delete":
		return "delete", "", nil
	case strings.HasPrefix(s, "move:"):
		f, err := space.Clean(strings.TrimPrefix(s, "move:"))
		if err != nil || f == "" {
			return "", "", badInput("after-ack %q: want move:<folder in the space>", s)
		}
		return "move", f, nil
	}
	return "", "", badInput("after-ack %q: want keep, delete or move:<folder>", s)
}

// AddTarget validates spec and stores a new target with fresh client
// credentials. It returns the target and its pull-mode client secret, which
// Wharf does not keep (only a hash of it): show it now, or make a new one
// later with ResetClientSecret. Errors: ErrBadInput (with the reason),
// ErrNotFound (space), ErrExists (name).
func (s *Service) AddTarget(ctx context.Context, spec TargetSpec) (Target, string, error) {
	bad := func(format string, args ...any) (Target, string, error) {
		return Target{}, "", badInput(format, args...)
	}
	name := strings.TrimSpace(spec.Name)
	if name == "" {
		return bad("a target needs a name")
	}
	if spec.SpaceID == "" {
		return bad("a target needs a space")
	}
	if _, err := s.tree.Space(ctx, spec.SpaceID); err != nil {
		if errors.Is(err, space.ErrNotFound) {
			return Target{}, "", fmt.Errorf("%w: space %q", ErrNotFound, spec.SpaceID)
		}
		return Target{}, "", fmt.Errorf("phraseanet: add target: %w", err)
	}
	folder, err := space.Clean(spec.Folder)
	if err != nil {
		return bad("folder %q: %v", spec.Folder, err)
	}
	switch spec.Mode {
	case ModePush, ModePull, ModeBoth:
	default:
		return bad("mode %q: want push, pull or both", spec.Mode)
	}
	if spec.Scheme == "" {
		spec.Scheme = DefaultScheme
	}
	if strings.ContainsAny(spec.Scheme, " \t\r\n") || strings.ContainsAny(spec.Key, "\r\n") {
		return bad("the scheme is one word and the key one line")
	}
	if spec.Mode != ModePull && spec.Key != NoNotifyKey {
		if spec.URL == "" {
			return bad("mode %s needs the enqueue URL (or the key %q to not notify)", spec.Mode, NoNotifyKey)
		}
		if spec.Key == "" {
			return bad("mode %s needs the key of the enqueue call (a Phraseanet API token), or %q to not notify", spec.Mode, NoNotifyKey)
		}
	}
	if spec.URL != "" {
		u, err := url.Parse(spec.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad("enqueue URL %q is not an absolute http(s) URL", spec.URL)
		}
	}
	params := map[string]any{}
	for k, v := range spec.Params {
		if k == "" || strings.HasPrefix(k, "__") {
			return bad("param %q: names must not be empty or start with __", k)
		}
		params[k] = v
	}
	if spec.Destination == "" && spec.Params["collection_destination"] == "" {
		return bad("a target needs a destination (the Phraseanet collection's base_id): Phraseanet never acknowledges a commit without one")
	}
	paramsJSON, _ := json.Marshal(params)
	var schemaJSON string
	if len(spec.FormSchema) > 0 {
		sc, err := ParseSchema(spec.FormSchema)
		if err != nil {
			return Target{}, "", err
		}
		b, _ := json.Marshal(sc)
		schemaJSON = string(b)
	}
	every, daily, err := ParseEvery(spec.Every)
	if err != nil {
		return Target{}, "", err
	}
	if spec.MaxFiles < 0 || spec.MaxBytes < 0 || spec.Grace < 0 || spec.Retention < 0 {
		return bad("limits, grace and retention must not be negative")
	}
	if spec.MaxFiles == 0 {
		spec.MaxFiles = DefaultMaxFiles
	}
	if spec.MaxBytes == 0 {
		spec.MaxBytes = DefaultMaxBytes
	}
	if spec.Retention == 0 {
		spec.Retention = DefaultRetention
	}
	action, moveTo, err := parseAfterAck(spec.AfterAck)
	if err != nil {
		return Target{}, "", err
	}
	exclude, err := parseExclude(spec.Exclude)
	if err != nil {
		return Target{}, "", err
	}
	publisher, err := s.publisherID(ctx, spec.Publisher)
	if err != nil {
		return Target{}, "", err
	}
	afterAck := action
	if action == "move" {
		afterAck = "move:" + moveTo
	}
	now := s.now()
	secret, secretHash := newClientSecret()
	t := Target{
		ID: newUUID(), Name: name, SpaceID: spec.SpaceID, Folder: folder, Mode: spec.Mode,
		EnqueueURL: spec.URL, Scheme: spec.Scheme, Key: spec.Key, Destination: spec.Destination,
		Params: string(paramsJSON), FormSchema: schemaJSON, Every: every, DailyAt: daily,
		MaxFiles: spec.MaxFiles, MaxBytes: spec.MaxBytes, AfterAck: afterAck, Grace: spec.Grace,
		Retention: spec.Retention, Enabled: !spec.Disabled,
		ClientID: newToken(12), ClientSecretHash: secretHash, Exclude: exclude, PublisherID: publisher,
		// The first scheduled run comes one interval (or at the first
		// daily time) after the target is made.
		LastRunAt: now, CreatedAt: now,
	}
	err = s.db.Update(ctx, func(tx *store.Tx) error { return tx.InsertTarget(ctx, t) })
	switch {
	case errors.Is(err, store.ErrExists):
		return Target{}, "", fmt.Errorf("%w: target %q", ErrExists, name)
	case errors.Is(err, store.ErrNotFound):
		return Target{}, "", fmt.Errorf("%w: space %q", ErrNotFound, spec.SpaceID)
	case err != nil:
		return Target{}, "", fmt.Errorf("phraseanet: add target: %w", err)
	}
	t, err = s.db.Target(ctx, t.ID)
	if err != nil {
		return Target{}, "", fmt.Errorf("phraseanet: add target: %w", err)
	}
	return t, secret, nil
}

// publisherID returns the id of the user called name, 0 for "".
func (s *Service) publisherID(ctx context.Context, name string) (int64, error) {
	if name == "" {
		return 0, nil
	}
	u, err := s.db.UserByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return 0, fmt.Errorf("%w: publisher: no user %q", ErrBadInput, name)
	}
	if err != nil {
		return 0, fmt.Errorf("phraseanet: publisher: %w", err)
	}
	return u.ID, nil
}

// SetJunk changes a target's exclusion list (nil: keep it; see
// TargetSpec.Exclude) and, when publisher is not nil, the publisher of its
// scheduled commits ("": none). Errors: ErrNotFound, ErrBadInput.
func (s *Service) SetJunk(ctx context.Context, idOrName string, exclude []string, publisher *string) (Target, error) {
	t, err := s.FindTarget(ctx, idOrName)
	if err != nil {
		return Target{}, err
	}
	if exclude != nil {
		if t.Exclude, err = parseExclude(exclude); err != nil {
			return Target{}, err
		}
	}
	if publisher != nil {
		if t.PublisherID, err = s.publisherID(ctx, *publisher); err != nil {
			return Target{}, err
		}
	}
	if err := s.db.Update(ctx, func(tx *store.Tx) error { return tx.SetTargetJunk(ctx, t.ID, t.Exclude, t.PublisherID) }); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return Target{}, fmt.Errorf("%w: target %q", ErrNotFound, idOrName)
		}
		return Target{}, fmt.Errorf("phraseanet: set target: %w", err)
	}
	return t, nil
}

// Targets returns every target, ordered by name.
func (s *Service) Targets(ctx context.Context) ([]Target, error) {
	ts, err := s.db.Targets(ctx)
	if err != nil {
		return nil, fmt.Errorf("phraseanet: %w", err)
	}
	return ts, nil
}

// FindTarget returns the target with the given id or, failing that, name;
// ErrNotFound if there is none.
func (s *Service) FindTarget(ctx context.Context, idOrName string) (Target, error) {
	t, err := s.db.Target(ctx, idOrName)
	if errors.Is(err, store.ErrNotFound) {
		t, err = s.db.TargetByName(ctx, idOrName)
	}
	if errors.Is(err, store.ErrNotFound) {
		return Target{}, targetNotFound(idOrName)
	}
	if err != nil {
		return Target{}, fmt.Errorf("phraseanet: %w", err)
	}
	return t, nil
}

// badInput is ErrBadInput with its reason as the whole message: the
// command line prints it as it is ("wharf: mode push needs the key…").
func badInput(format string, args ...any) error {
	return &kindError{kind: ErrBadInput, msg: fmt.Sprintf(format, args...)}
}

// targetNotFound is ErrNotFound for idOrName, in the words a person who
// typed it reads: 'target "x" not found'.
func targetNotFound(idOrName string) error {
	return &kindError{kind: ErrNotFound, msg: fmt.Sprintf("target %q not found", idOrName)}
}

// kindError is an error with a message of its own that matches a sentinel.
type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

// ResetClientSecret gives a target (by id or name) a new pull-mode client
// secret and returns it; the old one, and the bearer tokens it got, stop
// working. ErrNotFound if there is no such target, ErrBadInput if it is a
// push-only target (Phraseanet does not poll it).
func (s *Service) ResetClientSecret(ctx context.Context, idOrName string) (Target, string, error) {
	t, err := s.FindTarget(ctx, idOrName)
	if err != nil {
		return Target{}, "", err
	}
	if !pulls(t) {
		return Target{}, "", badInput("target %q is in push mode: Phraseanet does not poll it, it has no use for a client secret", t.Name)
	}
	secret, hash := newClientSecret()
	if err := s.db.Update(ctx, func(tx *store.Tx) error { return tx.SetTargetSecret(ctx, t.ID, hash) }); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return Target{}, "", targetNotFound(idOrName)
		}
		return Target{}, "", fmt.Errorf("phraseanet: reset client secret: %w", err)
	}
	t.ClientSecretHash = hash
	return t, secret, nil
}

// RemoveTarget deletes a target (by id or name) with its commits; the
// files stay. ErrNotFound if there is none.
func (s *Service) RemoveTarget(ctx context.Context, idOrName string) error {
	t, err := s.FindTarget(ctx, idOrName)
	if err != nil {
		return err
	}
	if err := s.db.Update(ctx, func(tx *store.Tx) error { return tx.DeleteTarget(ctx, t.ID) }); err != nil {
		return fmt.Errorf("phraseanet: remove target: %w", err)
	}
	return nil
}

// PullURI is what to paste in Phraseanet's pullmodeUri for a target: the
// commit listing at the host root of publicURL, already carrying a "?"
// (Phraseanet appends "&acknowledged=false").
func PullURI(publicURL, targetID string) (string, error) {
	base, err := BaseURL(publicURL)
	if err != nil {
		return "", err
	}
	return base + "/commits?target=" + url.QueryEscape(targetID), nil
}

// notifies reports whether commits of t go to the push outbox.
func notifies(t Target) bool {
	return t.Mode != ModePull && t.EnqueueURL != "" && t.Key != NoNotifyKey
}

// pulls reports whether Phraseanet may poll t.
func pulls(t Target) bool { return t.Mode == ModePull || t.Mode == ModeBoth }

// moveFolder returns t's after-ack move folder, "" if the action is not a
// move.
func moveFolder(t Target) string {
	if f, ok := strings.CutPrefix(t.AfterAck, "move:"); ok {
		return f
	}
	return ""
}
