package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// User is a row of users. Name is unique without regard to ASCII case.
type User struct {
	ID           int64
	Name         string
	PasswordHash string
	Admin        bool
	CreatedAt    time.Time
	Email        string // "": none
}

// AppPassword is a row of app_passwords: a per-device secret of one user,
// kept only as a hash. Label is unique per user. LastUsedAt is zero until
// first use.
type AppPassword struct {
	ID         int64
	UserID     int64
	Label      string
	Hash       string
	CreatedAt  time.Time
	LastUsedAt time.Time
}

// Token is a row of tokens: a bearer secret kept only as a hash. SpaceID and
// Prefix are empty unless the token is narrowed to one space (and a path
// prefix in it). ExpiresAt and LastUsedAt are zero when unset.
type Token struct {
	ID         string
	Hash       string
	UserID     int64
	Kind       string // "session", "api" or "upload"
	Label      string
	Scopes     []string
	SpaceID    string
	Prefix     string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	LastUsedAt time.Time
	// ParentToken and ParentAppPassword name the credential that minted
	// the token ("" and 0: none); deleting it deletes the token.
	ParentToken       string
	ParentAppPassword int64
}

// Member is a row of space_members, with the member's user name.
type Member struct {
	SpaceID  string
	UserID   int64
	UserName string
	Role     string // "viewer", "editor" or "manager"
}

// describeRef is describe plus a foreign key failure, which on insert means a
// referenced row (a user or a space) does not exist: ErrNotFound.
func describeRef(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY || pgCode(err) == pgForeignKeyViolation {
		return fmt.Errorf("%w (%v)", ErrNotFound, err)
	}
	return describe(err)
}

// rowScanner is what *sql.Row and *sql.Rows have in common.
type rowScanner interface{ Scan(dest ...any) error }

const userCols = "u.id, u.name, u.password_hash, u.admin, u.created_at, u.email"

func scanUser(s rowScanner, extra ...any) (User, error) {
	var u User
	var created int64
	err := s.Scan(append([]any{&u.ID, &u.Name, &u.PasswordHash, &u.Admin, &created, &u.Email}, extra...)...)
	u.CreatedAt = fromNanos(created)
	return u, err
}

// UserByName returns the user called name (ASCII case ignored), or
// ErrNotFound.
func (r Reader) UserByName(ctx context.Context, name string) (User, error) {
	u, err := scanUser(r.q.QueryRowContext(ctx, "SELECT "+userCols+" FROM users u WHERE u.name = ?", name))
	if err != nil {
		return User{}, fmt.Errorf("store: get user %q: %w", name, describe(err))
	}
	return u, nil
}

// UserByID returns the user with id, or ErrNotFound.
func (r Reader) UserByID(ctx context.Context, id int64) (User, error) {
	u, err := scanUser(r.q.QueryRowContext(ctx, "SELECT "+userCols+" FROM users u WHERE u.id = ?", id))
	if err != nil {
		return User{}, fmt.Errorf("store: get user %d: %w", id, describe(err))
	}
	return u, nil
}

// Users returns every user, ordered by name.
func (r Reader) Users(ctx context.Context) ([]User, error) {
	rows, err := r.q.QueryContext(ctx, "SELECT "+userCols+" FROM users u ORDER BY u.name")
	if err != nil {
		return nil, fmt.Errorf("store: list users: %w", describe(err))
	}
	defer rows.Close()
	var us []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list users: %w", err)
		}
		us = append(us, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list users: %w", err)
	}
	return us, nil
}

// CountUsers returns how many users exist.
func (r Reader) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := r.q.QueryRowContext(ctx, "SELECT count(*) FROM users").Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count users: %w", describe(err))
	}
	return n, nil
}

// CreateUser inserts u (its ID is ignored) and returns it with its new ID.
// It returns ErrExists if the name is taken, whatever its case.
func (tx *Tx) CreateUser(ctx context.Context, u User) (User, error) {
	err := tx.tx.QueryRowContext(ctx,
		"INSERT INTO users (name, password_hash, admin, created_at, email) VALUES (?, ?, ?, ?, ?) RETURNING id",
		u.Name, u.PasswordHash, u.Admin, nanos(u.CreatedAt), u.Email).Scan(&u.ID)
	if err != nil {
		return User{}, fmt.Errorf("store: create user %q: %w", u.Name, describe(err))
	}
	return u, nil
}

// SetUserEmail sets the e-mail address of user id ("": none), or returns
// ErrNotFound.
func (tx *Tx) SetUserEmail(ctx context.Context, id int64, email string) error {
	return tx.execOne(ctx, fmt.Sprintf("set e-mail of user %d", id),
		"UPDATE users SET email = ? WHERE id = ?", email, id)
}

// SetPasswordHash replaces the password hash of user id, or returns
// ErrNotFound.
func (tx *Tx) SetPasswordHash(ctx context.Context, id int64, hash string) error {
	return tx.execOne(ctx, fmt.Sprintf("set password of user %d", id),
		"UPDATE users SET password_hash = ? WHERE id = ?", hash, id)
}

// DeleteUser deletes user id with its app passwords, tokens and memberships,
// or returns ErrNotFound.
func (tx *Tx) DeleteUser(ctx context.Context, id int64) error {
	return tx.execOne(ctx, fmt.Sprintf("delete user %d", id), "DELETE FROM users WHERE id = ?", id)
}

const appPasswordCols = "a.id, a.user_id, a.label, a.hash, a.created_at, a.last_used_at"

func scanAppPassword(s rowScanner, extra ...any) (AppPassword, error) {
	var a AppPassword
	var created int64
	var used sql.NullInt64
	err := s.Scan(append([]any{&a.ID, &a.UserID, &a.Label, &a.Hash, &created, &used}, extra...)...)
	a.CreatedAt, a.LastUsedAt = fromNanos(created), fromNullNanos(used)
	return a, err
}

// AppPasswords returns the app passwords of user userID, oldest first.
func (r Reader) AppPasswords(ctx context.Context, userID int64) ([]AppPassword, error) {
	rows, err := r.q.QueryContext(ctx,
		"SELECT "+appPasswordCols+" FROM app_passwords a WHERE a.user_id = ? ORDER BY a.created_at, a.id", userID)
	if err != nil {
		return nil, fmt.Errorf("store: list app passwords of user %d: %w", userID, describe(err))
	}
	defer rows.Close()
	var as []AppPassword
	for rows.Next() {
		a, err := scanAppPassword(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list app passwords of user %d: %w", userID, err)
		}
		as = append(as, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list app passwords of user %d: %w", userID, err)
	}
	return as, nil
}

// AppPasswordByHash returns the app password whose hash is hash, and its
// user, or ErrNotFound.
func (r Reader) AppPasswordByHash(ctx context.Context, hash string) (AppPassword, User, error) {
	row := r.q.QueryRowContext(ctx, "SELECT "+appPasswordCols+", "+userCols+
		" FROM app_passwords a JOIN users u ON u.id = a.user_id WHERE a.hash = ?", hash)
	var u User
	var created int64
	a, err := scanAppPassword(row, &u.ID, &u.Name, &u.PasswordHash, &u.Admin, &created, &u.Email)
	if err != nil {
		// Never put a credential hash in an error message.
		return AppPassword{}, User{}, fmt.Errorf("store: get app password by hash: %w", describe(err))
	}
	u.CreatedAt = fromNanos(created)
	return a, u, nil
}

// appPasswordLastID is the settings key of the highest app password id
// ever given: ids are never given again, even after the app password
// with the highest one is revoked (the table's rowid alone would reuse
// it), so an id in a log or a script's note always means one app password.
const appPasswordLastID = "app_password_last_id"

// CreateAppPassword inserts a (its ID is ignored) and returns it with its new
// ID, one above any id given before. It returns ErrExists if the user
// already has that label (or, in theory, the hash exists) and ErrNotFound if
// the user does not exist.
func (tx *Tx) CreateAppPassword(ctx context.Context, a AppPassword) (AppPassword, error) {
	var last int64
	if v, err := tx.Setting(ctx, appPasswordLastID); err == nil {
		last, _ = strconv.ParseInt(string(v), 10, 64)
	} else if !errors.Is(err, ErrNotFound) {
		return AppPassword{}, fmt.Errorf("store: create app password %q of user %d: %w", a.Label, a.UserID, err)
	}
	var maxID sql.NullInt64
	if err := tx.tx.QueryRowContext(ctx, "SELECT max(id) FROM app_passwords").Scan(&maxID); err != nil {
		return AppPassword{}, fmt.Errorf("store: create app password %q of user %d: %w", a.Label, a.UserID, describe(err))
	}
	a.ID = max(last, maxID.Int64) + 1
	_, err := tx.tx.ExecContext(ctx,
		"INSERT INTO app_passwords (id, user_id, label, hash, created_at, last_used_at) VALUES (?, ?, ?, ?, ?, ?)",
		a.ID, a.UserID, a.Label, a.Hash, nanos(a.CreatedAt), nullNanos(a.LastUsedAt))
	if err != nil {
		return AppPassword{}, fmt.Errorf("store: create app password %q of user %d: %w", a.Label, a.UserID, describeRef(err))
	}
	if err := tx.PutSetting(ctx, appPasswordLastID, []byte(strconv.FormatInt(a.ID, 10))); err != nil {
		return AppPassword{}, fmt.Errorf("store: create app password %q of user %d: %w", a.Label, a.UserID, err)
	}
	return a, nil
}

// DeleteAppPassword deletes app password id of user userID, or returns
// ErrNotFound (also when it belongs to another user).
func (tx *Tx) DeleteAppPassword(ctx context.Context, userID, id int64) error {
	return tx.execOne(ctx, fmt.Sprintf("delete app password %d of user %d", id, userID),
		"DELETE FROM app_passwords WHERE user_id = ? AND id = ?", userID, id)
}

// DeleteAppPasswordByLabel deletes the app password labelled label of user
// userID, or returns ErrNotFound.
func (tx *Tx) DeleteAppPasswordByLabel(ctx context.Context, userID int64, label string) error {
	return tx.execOne(ctx, fmt.Sprintf("delete app password %q of user %d", label, userID),
		"DELETE FROM app_passwords WHERE user_id = ? AND label = ?", userID, label)
}

// TouchAppPassword sets the last use of app password id to at, or returns
// ErrNotFound.
func (tx *Tx) TouchAppPassword(ctx context.Context, id int64, at time.Time) error {
	return tx.execOne(ctx, fmt.Sprintf("touch app password %d", id),
		"UPDATE app_passwords SET last_used_at = ? WHERE id = ?", nanos(at), id)
}

const tokenCols = "t.id, t.hash, t.user_id, t.kind, t.label, t.scopes, t.space_id, t.prefix, t.created_at, t.expires_at, t.last_used_at"

func scanToken(s rowScanner, extra ...any) (Token, error) {
	var t Token
	var scopes string
	var space sql.NullString
	var created int64
	var expires, used sql.NullInt64
	err := s.Scan(append([]any{&t.ID, &t.Hash, &t.UserID, &t.Kind, &t.Label, &scopes, &space, &t.Prefix,
		&created, &expires, &used}, extra...)...)
	if scopes != "" {
		t.Scopes = strings.Fields(scopes)
	}
	t.SpaceID = space.String
	t.CreatedAt, t.ExpiresAt, t.LastUsedAt = fromNanos(created), fromNullNanos(expires), fromNullNanos(used)
	return t, err
}

// TokenByID returns token id, or ErrNotFound.
func (r Reader) TokenByID(ctx context.Context, id string) (Token, error) {
	t, err := scanToken(r.q.QueryRowContext(ctx, "SELECT "+tokenCols+" FROM tokens t WHERE t.id = ?", id))
	if err != nil {
		return Token{}, fmt.Errorf("store: get token %q: %w", id, describe(err))
	}
	return t, nil
}

// TokenByHash returns the token whose hash is hash, and its user, or
// ErrNotFound. Expired tokens are returned too: expiry is the caller's rule.
func (r Reader) TokenByHash(ctx context.Context, hash string) (Token, User, error) {
	row := r.q.QueryRowContext(ctx, "SELECT "+tokenCols+", "+userCols+
		" FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.hash = ?", hash)
	var u User
	var created int64
	t, err := scanToken(row, &u.ID, &u.Name, &u.PasswordHash, &u.Admin, &created, &u.Email)
	if err != nil {
		return Token{}, User{}, fmt.Errorf("store: get token by hash: %w", describe(err))
	}
	u.CreatedAt = fromNanos(created)
	return t, u, nil
}

// Tokens returns the tokens of user userID, oldest first, expired ones
// included.
func (r Reader) Tokens(ctx context.Context, userID int64) ([]Token, error) {
	rows, err := r.q.QueryContext(ctx,
		"SELECT "+tokenCols+" FROM tokens t WHERE t.user_id = ? ORDER BY t.created_at, t.id", userID)
	if err != nil {
		return nil, fmt.Errorf("store: list tokens of user %d: %w", userID, describe(err))
	}
	defer rows.Close()
	var ts []Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list tokens of user %d: %w", userID, err)
		}
		ts = append(ts, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list tokens of user %d: %w", userID, err)
	}
	return ts, nil
}

// CreateToken inserts t. It returns ErrExists if the id or hash exists and
// ErrNotFound if its user or space does not exist. Scopes must not contain
// spaces: they are stored space-separated.
func (tx *Tx) CreateToken(ctx context.Context, t Token) error {
	space := sql.NullString{String: t.SpaceID, Valid: t.SpaceID != ""}
	parentTok := sql.NullString{String: t.ParentToken, Valid: t.ParentToken != ""}
	parentApp := sql.NullInt64{Int64: t.ParentAppPassword, Valid: t.ParentAppPassword != 0}
	_, err := tx.tx.ExecContext(ctx,
		`INSERT INTO tokens (id, hash, user_id, kind, label, scopes, space_id, prefix, created_at, expires_at, last_used_at,
		                     parent_token, parent_app_password)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, t.Hash, t.UserID, t.Kind, t.Label, strings.Join(t.Scopes, " "), space, t.Prefix,
		nanos(t.CreatedAt), nullNanos(t.ExpiresAt), nullNanos(t.LastUsedAt), parentTok, parentApp)
	if err != nil {
		return fmt.Errorf("store: create token %q: %w", t.ID, describeRef(err))
	}
	return nil
}

// DeleteToken deletes token id, or returns ErrNotFound.
func (tx *Tx) DeleteToken(ctx context.Context, id string) error {
	return tx.execOne(ctx, fmt.Sprintf("delete token %q", id), "DELETE FROM tokens WHERE id = ?", id)
}

// DeleteExpiredTokens deletes the tokens that expired at or before now and
// returns how many there were.
func (tx *Tx) DeleteExpiredTokens(ctx context.Context, now time.Time) (int64, error) {
	res, err := tx.tx.ExecContext(ctx,
		"DELETE FROM tokens WHERE expires_at IS NOT NULL AND expires_at <= ?", nanos(now))
	if err != nil {
		return 0, fmt.Errorf("store: delete expired tokens: %w", describe(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: delete expired tokens: %w", err)
	}
	return n, nil
}

// TouchToken sets the last use of token id to at, or returns ErrNotFound.
func (tx *Tx) TouchToken(ctx context.Context, id string, at time.Time) error {
	return tx.execOne(ctx, fmt.Sprintf("touch token %q", id),
		"UPDATE tokens SET last_used_at = ? WHERE id = ?", nanos(at), id)
}

// SetMember gives user userID role in space spaceID, replacing any role it
// had there. It returns ErrNotFound if the user or the space does not exist.
func (tx *Tx) SetMember(ctx context.Context, spaceID string, userID int64, role string) error {
	_, err := tx.tx.ExecContext(ctx,
		`INSERT INTO space_members (space_id, user_id, role) VALUES (?, ?, ?)
		 ON CONFLICT (space_id, user_id) DO UPDATE SET role = excluded.role`,
		spaceID, userID, role)
	if err != nil {
		return fmt.Errorf("store: set member %d of space %q: %w", userID, spaceID, describeRef(err))
	}
	return nil
}

// DeleteMember removes user userID from space spaceID, or returns ErrNotFound
// if it was not a member.
func (tx *Tx) DeleteMember(ctx context.Context, spaceID string, userID int64) error {
	return tx.execOne(ctx, fmt.Sprintf("delete member %d of space %q", userID, spaceID),
		"DELETE FROM space_members WHERE space_id = ? AND user_id = ?", spaceID, userID)
}

// queryMembers runs a query selecting space_id, user_id, name, role.
func (r Reader) queryMembers(ctx context.Context, query string, arg any) ([]Member, error) {
	rows, err := r.q.QueryContext(ctx, query, arg)
	if err != nil {
		return nil, describe(err)
	}
	defer rows.Close()
	var ms []Member
	for rows.Next() {
		var m Member
		if err := rows.Scan(&m.SpaceID, &m.UserID, &m.UserName, &m.Role); err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	return ms, rows.Err()
}

// Members returns the members of space spaceID, ordered by user name. A space
// that does not exist has no members.
func (r Reader) Members(ctx context.Context, spaceID string) ([]Member, error) {
	ms, err := r.queryMembers(ctx, `SELECT m.space_id, m.user_id, u.name, m.role
		FROM space_members m JOIN users u ON u.id = m.user_id
		WHERE m.space_id = ? ORDER BY u.name`, spaceID)
	if err != nil {
		return nil, fmt.Errorf("store: list members of space %q: %w", spaceID, err)
	}
	return ms, nil
}

// MemberSpaces returns the memberships of user userID, ordered by space id.
func (r Reader) MemberSpaces(ctx context.Context, userID int64) ([]Member, error) {
	ms, err := r.queryMembers(ctx, `SELECT m.space_id, m.user_id, u.name, m.role
		FROM space_members m JOIN users u ON u.id = m.user_id
		WHERE m.user_id = ? ORDER BY m.space_id`, userID)
	if err != nil {
		return nil, fmt.Errorf("store: list spaces of user %d: %w", userID, err)
	}
	return ms, nil
}

// MemberRole returns the role of user userID in space spaceID, or
// ErrNotFound if it is not a member.
func (r Reader) MemberRole(ctx context.Context, spaceID string, userID int64) (string, error) {
	var role string
	err := r.q.QueryRowContext(ctx,
		"SELECT role FROM space_members WHERE space_id = ? AND user_id = ?", spaceID, userID).Scan(&role)
	if err != nil {
		return "", fmt.Errorf("store: role of user %d in space %q: %w", userID, spaceID, describe(err))
	}
	return role, nil
}

// SpaceIDs returns the id of every space, in order.
func (r Reader) SpaceIDs(ctx context.Context) ([]string, error) {
	rows, err := r.q.QueryContext(ctx, "SELECT id FROM spaces ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("store: list space ids: %w", describe(err))
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: list space ids: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list space ids: %w", err)
	}
	return ids, nil
}
