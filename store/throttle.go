package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// LoginWindow is a row of login_windows: the login throttle's count of
// failures of one key (auth says what keys are) in a window that opened at
// Start. CountedIn is zero when unset.
type LoginWindow struct {
	Key       []byte
	Start     time.Time
	N         int
	Names     int
	CountedIn time.Time
}

// LoginWindows returns the rows of login_windows with the given keys (in
// no particular order; keys without a row are left out).
func (r Reader) LoginWindows(ctx context.Context, keys ...[]byte) ([]LoginWindow, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = k
	}
	rows, err := r.q.QueryContext(ctx, "SELECT key, start, n, names, counted_in FROM login_windows WHERE key IN (?"+
		strings.Repeat(", ?", len(keys)-1)+")", args...)
	if err != nil {
		return nil, fmt.Errorf("store: read login windows: %w", describe(err))
	}
	defer rows.Close()
	var out []LoginWindow
	for rows.Next() {
		var w LoginWindow
		var start, counted int64
		if err := rows.Scan(&w.Key, &start, &w.N, &w.Names, &counted); err != nil {
			return nil, fmt.Errorf("store: read login windows: %w", describe(err))
		}
		w.Start, w.CountedIn = fromNanos(start), fromNanosOrZero(counted)
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: read login windows: %w", describe(err))
	}
	return out, nil
}

// PutLoginWindows writes the given windows, replacing the rows of the same
// keys, in one statement.
func (tx *Tx) PutLoginWindows(ctx context.Context, ws ...LoginWindow) error {
	if len(ws) == 0 {
		return nil
	}
	args := make([]any, 0, 5*len(ws))
	for _, w := range ws {
		args = append(args, w.Key, nanos(w.Start), w.N, w.Names, nanosOrZero(w.CountedIn))
	}
	_, err := tx.tx.ExecContext(ctx, `INSERT INTO login_windows (key, start, n, names, counted_in) VALUES (?, ?, ?, ?, ?)`+
		strings.Repeat(", (?, ?, ?, ?, ?)", len(ws)-1)+
		` ON CONFLICT (key) DO UPDATE SET start = excluded.start, n = excluded.n, names = excluded.names, counted_in = excluded.counted_in`,
		args...)
	if err != nil {
		return fmt.Errorf("store: write login windows: %w", describe(err))
	}
	return nil
}

// DeleteLoginWindows deletes the rows of login_windows with the given keys.
func (tx *Tx) DeleteLoginWindows(ctx context.Context, keys ...[]byte) error {
	if len(keys) == 0 {
		return nil
	}
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = k
	}
	_, err := tx.tx.ExecContext(ctx, "DELETE FROM login_windows WHERE key IN (?"+strings.Repeat(", ?", len(keys)-1)+")", args...)
	if err != nil {
		return fmt.Errorf("store: delete login windows: %w", describe(err))
	}
	return nil
}

// LoginKnown returns when key of login_known was last marked, or
// ErrNotFound.
func (r Reader) LoginKnown(ctx context.Context, key []byte) (time.Time, error) {
	var at int64
	err := r.q.QueryRowContext(ctx, "SELECT at FROM login_known WHERE key = ?", key).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, ErrNotFound
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("store: read known address: %w", describe(err))
	}
	return fromNanos(at), nil
}

// PutLoginKnown marks key of login_known at the given time.
func (tx *Tx) PutLoginKnown(ctx context.Context, key []byte, at time.Time) error {
	_, err := tx.tx.ExecContext(ctx, `INSERT INTO login_known (key, at) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET at = excluded.at`, key, nanos(at))
	if err != nil {
		return fmt.Errorf("store: write known address: %w", describe(err))
	}
	return nil
}

// PruneLogins deletes the login windows that started at or before
// windowsBefore and the known addresses marked at or before knownBefore,
// then, if more than maxWindows windows or maxKnown known addresses are
// left, the oldest ones beyond that. It returns the rows deleted.
func (tx *Tx) PruneLogins(ctx context.Context, windowsBefore, knownBefore time.Time, maxWindows, maxKnown int) (int64, error) {
	var total int64
	for _, t := range []struct {
		table, col string
		before     time.Time
		max        int
	}{
		{"login_windows", "start", windowsBefore, maxWindows},
		{"login_known", "at", knownBefore, maxKnown},
	} {
		res, err := tx.tx.ExecContext(ctx, "DELETE FROM "+t.table+" WHERE "+t.col+" <= ?", nanos(t.before))
		if err != nil {
			return total, fmt.Errorf("store: prune %s: %w", t.table, describe(err))
		}
		n, _ := res.RowsAffected()
		total += n
		var left int
		if err := tx.q.QueryRowContext(ctx, "SELECT count(*) FROM "+t.table).Scan(&left); err != nil {
			return total, fmt.Errorf("store: prune %s: %w", t.table, describe(err))
		}
		if left <= t.max {
			continue
		}
		res, err = tx.tx.ExecContext(ctx, "DELETE FROM "+t.table+" WHERE key IN (SELECT key FROM "+t.table+
			" ORDER BY "+t.col+", key LIMIT ?)", left-t.max)
		if err != nil {
			return total, fmt.Errorf("store: prune %s: %w", t.table, describe(err))
		}
		n, _ = res.RowsAffected()
		total += n
	}
	return total, nil
}

// CountLogins returns the rows of login_windows and login_known.
func (r Reader) CountLogins(ctx context.Context) (windows, known int, err error) {
	err = r.q.QueryRowContext(ctx, "SELECT (SELECT count(*) FROM login_windows), (SELECT count(*) FROM login_known)").Scan(&windows, &known)
	if err != nil {
		return 0, 0, fmt.Errorf("store: count login rows: %w", describe(err))
	}
	return windows, known, nil
}

func nanosOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return nanos(t)
}

func fromNanosOrZero(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return fromNanos(n)
}
