package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Commit states, as the phraseanet_commits table spells them.
const (
	CommitPending      = "pending"      // made, not (yet) pushed; pull-only commits stay here until acknowledged
	CommitPushed       = "pushed"       // the enqueue URL answered 2xx
	CommitFailing      = "failing"      // the last push failed; retried at NextAttemptAt
	CommitAcknowledged = "acknowledged" // every asset was acknowledged
)

// Target is a row of phraseanet_targets: where the commits of a space (or a
// folder of it) go. Params and FormSchema are JSON the store does not read.
type Target struct {
	ID          string
	Name        string
	SpaceID     string
	Folder      string // "" = the whole space
	Mode        string // push, pull or both
	EnqueueURL  string
	Scheme      string
	Key         string
	Destination string
	Params      string // JSON object
	FormSchema  string // JSON; "" = none
	Every       time.Duration
	DailyAt     string // "HH:MM" or ""
	MaxFiles    int
	MaxBytes    int64
	AfterAck    string // keep, delete or move:<folder>
	Grace       time.Duration
	Retention   time.Duration
	Enabled     bool
	ClientID    string
	// ClientSecretHash is "sha256:" and the lowercase hex SHA-256 of the
	// pull-mode client secret, which is not kept.
	ClientSecretHash string
	LastRunAt        time.Time // zero: never
	CreatedAt        time.Time
	// Exclude is the newline-separated list of name patterns never
	// committed; the line "defaults" stands for the built-in list (the
	// service expands it). "": nothing excluded.
	Exclude string
	// PublisherID is the user named as publisher of scheduled commits
	// whose uploader is unknown; 0: none.
	PublisherID int64
}

const targetCols = `id, name, space_id, folder, mode, enqueue_url, scheme, auth_key, destination, params,
	form_schema, every, daily_at, max_files, max_bytes, after_ack, grace, retention, enabled, client_id,
	client_secret_hash, last_run_at, created_at, exclude, publisher_id`

func scanTarget(s rowScanner) (Target, error) {
	var t Target
	var every, grace, retention, lastRun, created int64
	err := s.Scan(&t.ID, &t.Name, &t.SpaceID, &t.Folder, &t.Mode, &t.EnqueueURL, &t.Scheme, &t.Key,
		&t.Destination, &t.Params, &t.FormSchema, &every, &t.DailyAt, &t.MaxFiles, &t.MaxBytes, &t.AfterAck,
		&grace, &retention, &t.Enabled, &t.ClientID, &t.ClientSecretHash, &lastRun, &created, &t.Exclude, &t.PublisherID)
	if err != nil {
		return Target{}, err
	}
	t.Every, t.Grace, t.Retention = time.Duration(every), time.Duration(grace), time.Duration(retention)
	t.LastRunAt, t.CreatedAt = zeroNanos(lastRun), fromNanos(created)
	return t, nil
}

// zeroNanos reads a time column where 0 means "never".
func zeroNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return fromNanos(n)
}

// orZero writes a time to a column where 0 means "never".
func orZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return nanos(t)
}

// Target returns the target with the given id, or an error wrapping
// ErrNotFound.
func (r Reader) Target(ctx context.Context, id string) (Target, error) {
	t, err := scanTarget(r.q.QueryRowContext(ctx, "SELECT "+targetCols+" FROM phraseanet_targets WHERE id = ?", id))
	if err != nil {
		return Target{}, fmt.Errorf("store: get target %q: %w", id, describe(err))
	}
	return t, nil
}

// TargetByName returns the target with the given name, or an error
// wrapping ErrNotFound.
func (r Reader) TargetByName(ctx context.Context, name string) (Target, error) {
	t, err := scanTarget(r.q.QueryRowContext(ctx, "SELECT "+targetCols+" FROM phraseanet_targets WHERE name = ?", name))
	if err != nil {
		return Target{}, fmt.Errorf("store: get target named %q: %w", name, describe(err))
	}
	return t, nil
}

// TargetByClientID returns the target whose pull-mode client id is
// clientID, or an error wrapping ErrNotFound.
func (r Reader) TargetByClientID(ctx context.Context, clientID string) (Target, error) {
	t, err := scanTarget(r.q.QueryRowContext(ctx, "SELECT "+targetCols+" FROM phraseanet_targets WHERE client_id = ?", clientID))
	if err != nil {
		return Target{}, fmt.Errorf("store: get target by client id: %w", describe(err))
	}
	return t, nil
}

// Targets returns every target, ordered by name.
func (r Reader) Targets(ctx context.Context) ([]Target, error) {
	const what = "list targets"
	rows, err := r.q.QueryContext(ctx, "SELECT "+targetCols+" FROM phraseanet_targets ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, describe(err))
	}
	defer rows.Close()
	var out []Target
	for rows.Next() {
		t, err := scanTarget(rows)
		if err != nil {
			return nil, fmt.Errorf("store: %s: %w", what, describe(err))
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, describe(err))
	}
	return out, nil
}

// InsertTarget stores a new target. It returns an error wrapping ErrExists
// if the id, name or client id is taken, and ErrNotFound if the space does
// not exist.
func (tx *Tx) InsertTarget(ctx context.Context, t Target) error {
	_, err := tx.tx.ExecContext(ctx, "INSERT INTO phraseanet_targets ("+targetCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, t.Name, t.SpaceID, t.Folder, t.Mode, t.EnqueueURL, t.Scheme, t.Key, t.Destination, t.Params,
		t.FormSchema, int64(t.Every), t.DailyAt, t.MaxFiles, t.MaxBytes, t.AfterAck, int64(t.Grace),
		int64(t.Retention), t.Enabled, t.ClientID, t.ClientSecretHash, orZero(t.LastRunAt), nanos(t.CreatedAt),
		t.Exclude, t.PublisherID)
	if err != nil {
		return fmt.Errorf("store: insert target %q: %w", t.Name, describeRef(err))
	}
	return nil
}

// DeleteTarget removes a target with its commits, assets and tokens, or
// returns an error wrapping ErrNotFound.
func (tx *Tx) DeleteTarget(ctx context.Context, id string) error {
	return tx.execOne(ctx, fmt.Sprintf("delete target %q", id), "DELETE FROM phraseanet_targets WHERE id = ?", id)
}

// SetTargetSecret replaces the hash of a target's pull-mode client secret
// and deletes the bearer tokens the old secret got; ErrNotFound if there is
// no such target.
func (tx *Tx) SetTargetSecret(ctx context.Context, id, hash string) error {
	err := tx.execOne(ctx, fmt.Sprintf("set client secret of target %q", id),
		"UPDATE phraseanet_targets SET client_secret_hash = ? WHERE id = ?", hash, id)
	if err != nil {
		return err
	}
	if _, err := tx.tx.ExecContext(ctx, "DELETE FROM phraseanet_tokens WHERE target_id = ?", id); err != nil {
		return fmt.Errorf("store: delete the pull tokens of target %q: %w", id, describe(err))
	}
	return nil
}

// SetTargetLastRun records when the scheduler last ran for a target.
func (tx *Tx) SetTargetLastRun(ctx context.Context, id string, at time.Time) error {
	return tx.execOne(ctx, fmt.Sprintf("set last run of target %q", id),
		"UPDATE phraseanet_targets SET last_run_at = ? WHERE id = ?", nanos(at), id)
}

// Commit is a row of phraseanet_commits: a batch of assets handed to a
// target. FormData is JSON the store does not read.
type Commit struct {
	ID             string
	TargetID       string
	Token          string
	UserID         int64
	FormData       string // JSON object
	TotalSize      int64
	State          string // one of the Commit* constants
	Push           bool   // in the push outbox
	Attempts       int
	LastError      string
	NextAttemptAt  time.Time // zero: at once
	CreatedAt      time.Time
	AcknowledgedAt time.Time // zero: not acknowledged
	DisposedAt     time.Time // zero: after-ack action not done
}

const commitCols = `id, target_id, token, user_id, form_data, total_size, state, push, attempts, last_error,
	next_attempt_at, created_at, acknowledged_at, disposed_at`

func scanCommit(s rowScanner) (Commit, error) {
	var c Commit
	var next, created, acked, disposed int64
	err := s.Scan(&c.ID, &c.TargetID, &c.Token, &c.UserID, &c.FormData, &c.TotalSize, &c.State, &c.Push,
		&c.Attempts, &c.LastError, &next, &created, &acked, &disposed)
	if err != nil {
		return Commit{}, err
	}
	c.NextAttemptAt, c.CreatedAt = zeroNanos(next), fromNanos(created)
	c.AcknowledgedAt, c.DisposedAt = zeroNanos(acked), zeroNanos(disposed)
	return c, nil
}

func (r Reader) queryCommits(ctx context.Context, what, query string, args ...any) ([]Commit, error) {
	rows, err := r.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, describe(err))
	}
	defer rows.Close()
	var out []Commit
	for rows.Next() {
		c, err := scanCommit(rows)
		if err != nil {
			return nil, fmt.Errorf("store: %s: %w", what, describe(err))
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, describe(err))
	}
	return out, nil
}

// Commit returns the commit with the given id, or an error wrapping
// ErrNotFound.
func (r Reader) Commit(ctx context.Context, id string) (Commit, error) {
	c, err := scanCommit(r.q.QueryRowContext(ctx, "SELECT "+commitCols+" FROM phraseanet_commits WHERE id = ?", id))
	if err != nil {
		return Commit{}, fmt.Errorf("store: get commit %q: %w", id, describe(err))
	}
	return c, nil
}

// CommitFilter selects commits for Commits.
type CommitFilter struct {
	TargetID     string // "": every target
	Acknowledged *bool  // nil: both
	Offset       int
	Limit        int // 0: no limit
}

// Commits returns the commits matching f, unacknowledged first, then
// oldest first, and how many match in all (ignoring Offset and Limit).
func (r Reader) Commits(ctx context.Context, f CommitFilter) ([]Commit, int, error) {
	const what = "list commits"
	var conds []string
	var args []any
	if f.TargetID != "" {
		conds, args = append(conds, "target_id = ?"), append(args, f.TargetID)
	}
	if f.Acknowledged != nil {
		if *f.Acknowledged {
			conds = append(conds, "acknowledged_at != 0")
		} else {
			conds = append(conds, "acknowledged_at = 0")
		}
	}
	where := ""
	if len(conds) > 0 {
		where = " WHERE " + strings.Join(conds, " AND ")
	}
	var total int
	if err := r.q.QueryRowContext(ctx, "SELECT COUNT(*) FROM phraseanet_commits"+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("store: %s: %w", what, describe(err))
	}
	limit := int64(f.Limit)
	if limit <= 0 {
		limit = math.MaxInt64 // no limit, in both engines' LIMIT
	}
	cs, err := r.queryCommits(ctx, what, "SELECT "+commitCols+" FROM phraseanet_commits"+where+
		" ORDER BY acknowledged_at != 0, created_at, id LIMIT ? OFFSET ?", append(args, limit, max(f.Offset, 0))...)
	if err != nil {
		return nil, 0, err
	}
	return cs, total, nil
}

// DueCommits returns up to limit commits of the push outbox whose next
// attempt has come at now, oldest attempt first.
func (r Reader) DueCommits(ctx context.Context, now time.Time, limit int) ([]Commit, error) {
	return r.queryCommits(ctx, "list due commits", "SELECT "+commitCols+` FROM phraseanet_commits
		WHERE push = 1 AND state IN ('pending', 'failing') AND next_attempt_at <= ?
		ORDER BY next_attempt_at, created_at LIMIT ?`, nanos(now), limit)
}

// NextPushAt returns when the earliest commit of the push outbox is due,
// and false if the outbox is empty.
func (r Reader) NextPushAt(ctx context.Context) (time.Time, bool, error) {
	var n *int64
	err := r.q.QueryRowContext(ctx, `SELECT MIN(next_attempt_at) FROM phraseanet_commits
		WHERE push = 1 AND state IN ('pending', 'failing')`).Scan(&n)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("store: next push: %w", describe(err))
	}
	if n == nil {
		return time.Time{}, false, nil
	}
	return fromNanos(*n), true, nil
}

// AckedCommits returns the acknowledged commits whose after-ack action is
// not done yet, oldest acknowledgement first.
func (r Reader) AckedCommits(ctx context.Context) ([]Commit, error) {
	return r.queryCommits(ctx, "list acknowledged commits", "SELECT "+commitCols+` FROM phraseanet_commits
		WHERE acknowledged_at != 0 AND disposed_at = 0 ORDER BY acknowledged_at`)
}

// InsertCommit stores a new commit with its assets (whose CommitID is set
// to c.ID). It returns an error wrapping ErrExists if an id or the token is
// taken or a node is already in a commit, and ErrNotFound if the target
// does not exist.
func (tx *Tx) InsertCommit(ctx context.Context, c Commit, assets []Asset) error {
	_, err := tx.tx.ExecContext(ctx, "INSERT INTO phraseanet_commits ("+commitCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.TargetID, c.Token, c.UserID, c.FormData, c.TotalSize, c.State, c.Push, c.Attempts, c.LastError,
		orZero(c.NextAttemptAt), nanos(c.CreatedAt), orZero(c.AcknowledgedAt), orZero(c.DisposedAt))
	if err != nil {
		return fmt.Errorf("store: insert commit %q: %w", c.ID, describeRef(err))
	}
	for _, a := range assets {
		_, err := tx.tx.ExecContext(ctx, "INSERT INTO phraseanet_assets ("+assetCols+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			a.ID, c.ID, a.NodeID, a.SpaceID, a.Path, a.Size, a.OriginalName, a.MIME, nanos(a.CreatedAt),
			orZero(a.AcknowledgedAt), a.SHA256, a.Frozen)
		if err != nil {
			return fmt.Errorf("store: insert asset %q (node %d) of commit %q: %w", a.ID, a.NodeID, c.ID, describeRef(err))
		}
	}
	return nil
}

// SetCommitPush records the outcome of a push attempt: state (pushed or
// failing), attempts, last error and next attempt. Only a commit still
// waiting (pending or failing) changes: Phraseanet may fetch or
// acknowledge the commit before the push call returns, and what it did
// wins. The result says whether the row changed.
func (tx *Tx) SetCommitPush(ctx context.Context, c Commit) (bool, error) {
	return tx.updateWaiting(ctx, fmt.Sprintf("set push state of commit %q", c.ID),
		`UPDATE phraseanet_commits SET state = ?, attempts = ?, last_error = ?, next_attempt_at = ?
		WHERE id = ? AND state IN ('pending', 'failing')`,
		c.State, c.Attempts, c.LastError, orZero(c.NextAttemptAt), c.ID)
}

// HoldCommit makes a waiting commit (pending or failing) due no sooner
// than until, with note as its last error, before a push call whose
// outcome a crash would leave unknown. It reports whether the commit was
// still waiting.
func (tx *Tx) HoldCommit(ctx context.Context, id string, until time.Time, note string) (bool, error) {
	return tx.updateWaiting(ctx, fmt.Sprintf("hold commit %q", id),
		`UPDATE phraseanet_commits SET next_attempt_at = ?, last_error = ?
		WHERE id = ? AND state IN ('pending', 'failing')`, nanos(until), note, id)
}

// CommitArrived marks a waiting commit of the push outbox pushed, because
// Phraseanet has shown that it has it (it fetched one of its assets). It
// reports whether the commit changed.
func (tx *Tx) CommitArrived(ctx context.Context, id string) (bool, error) {
	return tx.updateWaiting(ctx, fmt.Sprintf("mark commit %q pushed", id),
		`UPDATE phraseanet_commits SET state = 'pushed', last_error = '', next_attempt_at = 0
		WHERE id = ? AND push = 1 AND state IN ('pending', 'failing')`, id)
}

// updateWaiting runs an UPDATE of at most one commit and reports whether
// it changed one.
func (tx *Tx) updateWaiting(ctx context.Context, what, query string, args ...any) (bool, error) {
	res, err := tx.tx.ExecContext(ctx, query, args...)
	if err != nil {
		return false, fmt.Errorf("store: %s: %w", what, describe(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: %s: %w", what, err)
	}
	return n == 1, nil
}

// SetCommitDisposed records that the after-ack action of a commit is done.
func (tx *Tx) SetCommitDisposed(ctx context.Context, id string, at time.Time) error {
	return tx.execOne(ctx, fmt.Sprintf("set commit %q disposed", id),
		"UPDATE phraseanet_commits SET disposed_at = ? WHERE id = ?", nanos(at), id)
}

// AckAsset acknowledges an asset (if not yet) and, if that was its
// commit's last unacknowledged asset, the commit. It reports whether the
// commit became acknowledged by this call; acknowledging twice is not an
// error. It returns an error wrapping ErrNotFound for an unknown asset.
func (tx *Tx) AckAsset(ctx context.Context, id string, at time.Time) (commitAcked bool, err error) {
	a, err := tx.Asset(ctx, id)
	if err != nil {
		return false, err
	}
	if _, err := tx.tx.ExecContext(ctx,
		"UPDATE phraseanet_assets SET acknowledged_at = ? WHERE id = ? AND acknowledged_at = 0", nanos(at), id); err != nil {
		return false, fmt.Errorf("store: acknowledge asset %q: %w", id, describe(err))
	}
	return tx.ackCommitIfDone(ctx, a.CommitID, at)
}

// AckCommit acknowledges every asset of a commit and the commit. It
// reports whether the commit became acknowledged by this call; it returns
// an error wrapping ErrNotFound for an unknown commit.
func (tx *Tx) AckCommit(ctx context.Context, id string, at time.Time) (commitAcked bool, err error) {
	if _, err := tx.Commit(ctx, id); err != nil {
		return false, err
	}
	if _, err := tx.tx.ExecContext(ctx,
		"UPDATE phraseanet_assets SET acknowledged_at = ? WHERE commit_id = ? AND acknowledged_at = 0", nanos(at), id); err != nil {
		return false, fmt.Errorf("store: acknowledge commit %q: %w", id, describe(err))
	}
	return tx.ackCommitIfDone(ctx, id, at)
}

func (tx *Tx) ackCommitIfDone(ctx context.Context, id string, at time.Time) (bool, error) {
	res, err := tx.tx.ExecContext(ctx, `UPDATE phraseanet_commits SET state = 'acknowledged', acknowledged_at = ?
		WHERE id = ? AND acknowledged_at = 0
		AND NOT EXISTS (SELECT 1 FROM phraseanet_assets WHERE commit_id = ? AND acknowledged_at = 0)`,
		nanos(at), id, id)
	if err != nil {
		return false, fmt.Errorf("store: acknowledge commit %q: %w", id, describe(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: acknowledge commit %q: %w", id, err)
	}
	return n == 1, nil
}

// PruneCommits deletes the commits of a target acknowledged before the
// given time whose after-ack action is done, with their assets, and
// records the assets' nodes in phraseanet_done so they are never committed
// again. It returns how many commits went.
func (tx *Tx) PruneCommits(ctx context.Context, targetID string, before, now time.Time) (int64, error) {
	const what = "prune commits"
	sel := `SELECT id FROM phraseanet_commits WHERE target_id = ? AND acknowledged_at != 0
		AND acknowledged_at < ? AND disposed_at != 0`
	if _, err := tx.tx.ExecContext(ctx, `INSERT INTO phraseanet_done (node_id, target_id, done_at)
		SELECT node_id, ?, ? FROM phraseanet_assets WHERE commit_id IN (`+sel+`)
		ON CONFLICT DO NOTHING`,
		targetID, nanos(now), targetID, nanos(before)); err != nil {
		return 0, fmt.Errorf("store: %s: %w", what, describe(err))
	}
	res, err := tx.tx.ExecContext(ctx, "DELETE FROM phraseanet_commits WHERE id IN ("+sel+")", targetID, nanos(before))
	if err != nil {
		return 0, fmt.Errorf("store: %s: %w", what, describe(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: %s: %w", what, err)
	}
	return n, nil
}

// Asset is a row of phraseanet_assets: one file of a commit.
type Asset struct {
	ID             string
	CommitID       string
	NodeID         int64
	SpaceID        string
	Path           string // at commit time
	Size           int64
	OriginalName   string
	MIME           string
	CreatedAt      time.Time
	AcknowledgedAt time.Time // zero: not acknowledged
	// SHA256 is the lowercase hex SHA-256 of the bytes served; "" for
	// assets of commits made before files were frozen.
	SHA256 string
	// Frozen says the asset's bytes are the commit's own copy (the
	// phraseanet service knows where); false: served from the node.
	Frozen bool
}

const assetCols = `id, commit_id, node_id, space_id, path, size, original_name, mime, created_at, acknowledged_at,
	sha256, frozen`

func scanAsset(s rowScanner) (Asset, error) {
	var a Asset
	var created, acked int64
	err := s.Scan(&a.ID, &a.CommitID, &a.NodeID, &a.SpaceID, &a.Path, &a.Size, &a.OriginalName, &a.MIME,
		&created, &acked, &a.SHA256, &a.Frozen)
	if err != nil {
		return Asset{}, err
	}
	a.CreatedAt, a.AcknowledgedAt = fromNanos(created), zeroNanos(acked)
	return a, nil
}

// Asset returns the asset with the given id, or an error wrapping
// ErrNotFound.
func (r Reader) Asset(ctx context.Context, id string) (Asset, error) {
	a, err := scanAsset(r.q.QueryRowContext(ctx, "SELECT "+assetCols+" FROM phraseanet_assets WHERE id = ?", id))
	if err != nil {
		return Asset{}, fmt.Errorf("store: get asset %q: %w", id, describe(err))
	}
	return a, nil
}

// CommitAssets returns the assets of a commit, ordered by path.
func (r Reader) CommitAssets(ctx context.Context, commitID string) ([]Asset, error) {
	const what = "list assets"
	rows, err := r.q.QueryContext(ctx, "SELECT "+assetCols+" FROM phraseanet_assets WHERE commit_id = ? ORDER BY path, id", commitID)
	if err != nil {
		return nil, fmt.Errorf("store: %s of commit %q: %w", what, commitID, describe(err))
	}
	defer rows.Close()
	var out []Asset
	for rows.Next() {
		a, err := scanAsset(rows)
		if err != nil {
			return nil, fmt.Errorf("store: %s of commit %q: %w", what, commitID, describe(err))
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: %s of commit %q: %w", what, commitID, describe(err))
	}
	return out, nil
}

// HandedOff returns those of the given nodes that are in a commit or were
// (phraseanet_done).
func (r Reader) HandedOff(ctx context.Context, nodeIDs []int64) (map[int64]bool, error) {
	out := map[int64]bool{}
	for len(nodeIDs) > 0 {
		batch := nodeIDs[:min(len(nodeIDs), 500)]
		nodeIDs = nodeIDs[len(batch):]
		marks := strings.Repeat(",?", len(batch))[1:]
		args := make([]any, 0, 2*len(batch))
		for _, id := range batch {
			args = append(args, id)
		}
		args = append(args, args...)
		rows, err := r.q.QueryContext(ctx, "SELECT node_id FROM phraseanet_assets WHERE node_id IN ("+marks+
			") UNION SELECT node_id FROM phraseanet_done WHERE node_id IN ("+marks+")", args...)
		if err != nil {
			return nil, fmt.Errorf("store: nodes handed off: %w", describe(err))
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: nodes handed off: %w", describe(err))
			}
			out[id] = true
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("store: nodes handed off: %w", describe(err))
		}
	}
	return out, nil
}

// UnhandedFiles returns the files (not directories) below path in a space
// ("" for the whole space) that are in no commit and never were, and that
// no upload session holds at now (see Held), ordered by path.
func (r Reader) UnhandedFiles(ctx context.Context, spaceID, path string, now time.Time) ([]Node, error) {
	cond, args := below(spaceID, path)
	return r.queryNodes(ctx, fmt.Sprintf("list files of %s/%q not handed off", spaceID, path),
		cond+` AND is_dir = 0
		AND NOT EXISTS (SELECT 1 FROM phraseanet_assets a WHERE a.node_id = nodes.id)
		AND NOT EXISTS (SELECT 1 FROM phraseanet_done d WHERE d.node_id = nodes.id)
		AND NOT EXISTS (`+heldQuery+` AND h.node_id = nodes.id)`, "path", append(args, nanos(now))...)
}

// heldQuery selects the live holds: those whose upload token has not
// expired at the time given as its one parameter.
const heldQuery = `SELECT 1 FROM finalize_holds h JOIN tokens t ON t.id = h.token_id
	WHERE (t.expires_at IS NULL OR t.expires_at = 0 OR t.expires_at > ?)`

// Held returns those of the given nodes that an upload session holds at
// now: delivered with an upload token that lives, and not finalized.
func (r Reader) Held(ctx context.Context, nodeIDs []int64, now time.Time) (map[int64]bool, error) {
	out := map[int64]bool{}
	for _, id := range nodeIDs {
		var one int
		err := r.q.QueryRowContext(ctx, heldQuery+" AND h.node_id = ?", nanos(now), id).Scan(&one)
		if err == nil {
			out[id] = true
			continue
		}
		if err = describe(err); !errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("store: nodes held: %w", err)
		}
	}
	return out, nil
}

// ReleaseHolds ends the holds on the given nodes (their finalization).
func (tx *Tx) ReleaseHolds(ctx context.Context, nodeIDs []int64) error {
	for _, id := range nodeIDs {
		if _, err := tx.tx.ExecContext(ctx, "DELETE FROM finalize_holds WHERE node_id = ?", id); err != nil {
			return fmt.Errorf("store: release hold of node %d: %w", id, describe(err))
		}
	}
	return nil
}

// HoldTokens returns the upload token of each given node an upload session
// holds (live or not).
func (r Reader) HoldTokens(ctx context.Context, nodeIDs []int64) (map[int64]string, error) {
	out := map[int64]string{}
	for _, id := range nodeIDs {
		var tok string
		err := r.q.QueryRowContext(ctx, "SELECT token_id FROM finalize_holds WHERE node_id = ?", id).Scan(&tok)
		if err == nil {
			out[id] = tok
			continue
		}
		if err = describe(err); !errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("store: hold tokens: %w", err)
		}
	}
	return out, nil
}

// FrozenCommitIDs returns the ids of every commit with a frozen asset.
func (r Reader) FrozenCommitIDs(ctx context.Context) (map[string]bool, error) {
	rows, err := r.q.QueryContext(ctx, "SELECT DISTINCT commit_id FROM phraseanet_assets WHERE frozen = 1")
	if err != nil {
		return nil, fmt.Errorf("store: frozen commits: %w", describe(err))
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: frozen commits: %w", describe(err))
		}
		out[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: frozen commits: %w", describe(err))
	}
	return out, nil
}

// SetTargetJunk sets a target's excluded name patterns and the publisher
// of its scheduled commits; ErrNotFound if there is no such target.
func (tx *Tx) SetTargetJunk(ctx context.Context, id, exclude string, publisherID int64) error {
	return tx.execOne(ctx, fmt.Sprintf("set exclusions of target %q", id),
		"UPDATE phraseanet_targets SET exclude = ?, publisher_id = ? WHERE id = ?", exclude, publisherID, id)
}

// PullToken is a row of phraseanet_tokens: a pull-mode bearer token.
type PullToken struct {
	Hash      string // SHA-256 of the secret, lowercase hex
	TargetID  string
	Scope     string
	ExpiresAt time.Time
}

// PullToken returns the token with the given hash, or an error wrapping
// ErrNotFound.
func (r Reader) PullToken(ctx context.Context, hash string) (PullToken, error) {
	var t PullToken
	var exp int64
	err := r.q.QueryRowContext(ctx, "SELECT hash, target_id, scope, expires_at FROM phraseanet_tokens WHERE hash = ?", hash).
		Scan(&t.Hash, &t.TargetID, &t.Scope, &exp)
	if err != nil {
		return PullToken{}, fmt.Errorf("store: get pull token: %w", describe(err))
	}
	t.ExpiresAt = fromNanos(exp)
	return t, nil
}

// InsertPullToken stores a pull-mode token; ErrNotFound if its target does
// not exist.
func (tx *Tx) InsertPullToken(ctx context.Context, t PullToken) error {
	_, err := tx.tx.ExecContext(ctx, "INSERT INTO phraseanet_tokens (hash, target_id, scope, expires_at) VALUES (?, ?, ?, ?)",
		t.Hash, t.TargetID, t.Scope, nanos(t.ExpiresAt))
	if err != nil {
		return fmt.Errorf("store: insert pull token: %w", describeRef(err))
	}
	return nil
}

// DeleteExpiredPullTokens removes the pull tokens expired at now.
func (tx *Tx) DeleteExpiredPullTokens(ctx context.Context, now time.Time) (int64, error) {
	res, err := tx.tx.ExecContext(ctx, "DELETE FROM phraseanet_tokens WHERE expires_at <= ?", nanos(now))
	if err != nil {
		return 0, fmt.Errorf("store: delete expired pull tokens: %w", describe(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: delete expired pull tokens: %w", err)
	}
	return n, nil
}
