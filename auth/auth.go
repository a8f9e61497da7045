// Package auth owns who people are and what they may do: users, password
// hashing, app passwords, bearer tokens (api, session, upload), per-space
// roles, signed URLs and login throttling. Its rows live in store; it imports
// only store, the standard library and golang.org/x/crypto, and knows nothing
// of HTTP beyond reading credentials from a request.
package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/wharfhq/wharf/store"
)

// Errors returned by the Service; check them with errors.Is. The errors
// actually returned carry a one-line message a person can read (for example
// "password too short: at least 10 characters") and match one of these.
var (
	// ErrNotFound: the user, app password, token, membership or space does
	// not exist. It is store.ErrNotFound, so either may be checked.
	ErrNotFound = store.ErrNotFound
	// ErrExists: a user or app password label with that name exists. It is
	// store.ErrExists.
	ErrExists = store.ErrExists
	// ErrWeakPassword: a new password does not meet the policy.
	ErrWeakPassword = errors.New("password too weak")
	// ErrBadName: a user name or app password label is not acceptable.
	ErrBadName = errors.New("invalid name")
	// ErrBadRole: a role is not viewer, editor or manager.
	ErrBadRole = errors.New("invalid role")
	// ErrBadToken: token options are not acceptable.
	ErrBadToken = errors.New("invalid token options")
	// ErrUnauthenticated: no credentials, wrong credentials, an expired
	// token or a bad URL signature.
	ErrUnauthenticated = errors.New("authentication failed")
	// ErrWrongPassword: a user name and password that do not match,
	// without saying which of the two is wrong. It matches
	// ErrUnauthenticated too.
	ErrWrongPassword = fmt.Errorf("%w: user name or password is wrong", ErrUnauthenticated)
	// ErrThrottled: too many recent failed logins; the error is a
	// *ThrottledError saying when to retry.
	ErrThrottled = errors.New("too many failed logins")
	// ErrLastAdmin: the change would leave the instance without an
	// administrator.
	ErrLastAdmin = errors.New("the last administrator")
)

// reasonError is an error with its own message that matches a sentinel.
type reasonError struct {
	kind error
	msg  string
}

func (e *reasonError) Error() string { return e.msg }
func (e *reasonError) Unwrap() error { return e.kind }

func reason(kind error, format string, args ...any) error {
	return &reasonError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// ThrottledError is returned instead of checking an account password while
// its user name, or the remote address, has too many recent failures (the
// rule is in throttle.go), and for an unknown token from an address that
// sent too many. It matches ErrThrottled.
type ThrottledError struct {
	// RetryAfter is how long until an attempt will be checked again
	// (rounded up to a whole second, at least one).
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many failed logins: retry in %s", e.RetryAfter)
}

// Is makes errors.Is(err, ErrThrottled) true.
func (e *ThrottledError) Is(target error) bool { return target == ErrThrottled }

// Config configures a Service. Zero values mean the documented defaults.
type Config struct {
	// DB holds users, credentials, memberships and the URL signing key.
	// Required; the caller closes it after the Service is no longer used.
	DB *store.DB
	// Logger receives failed and throttled logins and failures to record
	// when a credential was last used. Nil: discard.
	Logger *slog.Logger
	// Now returns the current time. Nil: time.Now.
	Now func() time.Time
	// MaxFailures is how many failed account-password attempts one user
	// name may have in FailureWindow, from anywhere and separately from one
	// remote address, and how many user names may fail from one address,
	// before further attempts are refused with ErrThrottled (the full rule
	// is in throttle.go). 0: 10.
	MaxFailures int
	// FailureWindow is the period failures are counted over, from the first
	// failure. 0: 15 minutes.
	FailureWindow time.Duration
	// FailureDelay is the longest a password attempt waits before it is
	// checked when its user name keeps failing from its address (the wait
	// grows with the failures). 0: 2 seconds; negative: no wait.
	FailureDelay time.Duration
	// Throttle says where the login throttle keeps its counts and known
	// addresses: ThrottleMemory (this process only; a restart forgets
	// them) or ThrottleDatabase (shared by every process on DB, so that
	// its limits hold across replicas). "": the database when DB is
	// PostgreSQL (the engine replicas share), memory otherwise.
	Throttle string
	// PasswordCost selects the argon2id parameters of new password hashes.
	// 0: production argon2id parameters (19 MiB, 2 passes, 1 lane); tests
	// may set 1 for a minimal cost. Existing hashes are always verified with
	// the parameters written in them.
	PasswordCost int
}

// Service is the authentication and authorization service. It is safe for
// concurrent use. Several Services (several processes, such as the server and
// the command line) may share one database: what they cache in memory is
// either validated against the database on each use or only a throttling
// hint.
type Service struct {
	db       *store.DB
	log      *slog.Logger
	now      func() time.Time
	params   argonParams
	dummy    func() string // a hash verified when a user does not exist, so failures cost the same
	signKey  []byte
	verified *verifiedCache
	fresh    *freshCaches  // credentials and roles as of a store.Epoch (fresh.go)
	argon    chan struct{} // one slot per argon2id verification running
	lim      throttle      // the login throttle (throttle.go, throttledb.go)
	sleepers chan struct{} // the attempts waiting before they are checked (pause)
	attempts *attempts     // identical password attempts in flight (attempts.go)
}

// New validates cfg and returns a Service. It creates the URL signing key in
// the database on first use, so it needs a writable database.
func New(cfg Config) (*Service, error) {
	if cfg.DB == nil {
		return nil, errors.New("auth: Config.DB is required")
	}
	if cfg.MaxFailures < 0 || cfg.FailureWindow < 0 {
		return nil, errors.New("auth: Config.MaxFailures and Config.FailureWindow must not be negative")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxFailures == 0 {
		cfg.MaxFailures = 10
	}
	if cfg.FailureWindow == 0 {
		cfg.FailureWindow = 15 * time.Minute
	}
	if cfg.FailureDelay == 0 {
		cfg.FailureDelay = 2 * time.Second
	}
	switch cfg.Throttle {
	case "":
		cfg.Throttle = ThrottleMemory
		if cfg.DB.Postgres() {
			cfg.Throttle = ThrottleDatabase
		}
	case ThrottleMemory, ThrottleDatabase:
	default:
		return nil, fmt.Errorf("auth: Config.Throttle %q: want %q, %q or empty", cfg.Throttle, ThrottleMemory, ThrottleDatabase)
	}
	var params argonParams
	switch cfg.PasswordCost {
	case 0:
		params = productionParams
	case 1:
		params = minimalParams
	default:
		return nil, fmt.Errorf("auth: Config.PasswordCost %d: want 0 (production) or 1 (minimal, for tests)", cfg.PasswordCost)
	}
	s := &Service{
		db:       cfg.DB,
		log:      cfg.Logger,
		now:      cfg.Now,
		params:   params,
		verified: newVerifiedCache(),
		fresh:    newFreshCaches(),
		argon:    make(chan struct{}, argonSlots),
		sleepers: make(chan struct{}, maxSleepers),
		attempts: newAttempts(),
	}
	if cfg.Throttle == ThrottleDatabase {
		s.lim = newDBThrottle(cfg.DB, cfg.MaxFailures, cfg.FailureWindow, cfg.FailureDelay)
	} else {
		s.lim = memThrottle{newLimiter(cfg.MaxFailures, cfg.FailureWindow, cfg.FailureDelay)}
	}
	// Made on first need: every store command and every start would pay
	// for it otherwise.
	s.dummy = sync.OnceValue(func() string { return hashPassword(params, string(randomBytes(16))) })
	// New has no context in its signature; loading the key is one small
	// query, done once.
	key, err := loadSigningKey(context.Background(), cfg.DB)
	if err != nil {
		return nil, err
	}
	s.signKey = key
	return s, nil
}

// User is a person who can log in. Admins are managers of every space and
// may manage users.
type User struct {
	ID        int64
	Name      string
	Admin     bool
	CreatedAt time.Time
	Email     string // "": none
}

func toUser(u store.User) User {
	return User{ID: u.ID, Name: u.Name, Admin: u.Admin, CreatedAt: u.CreatedAt, Email: u.Email}
}

// userNotFound turns a store ErrNotFound for a user into a readable error and
// wraps anything else.
func userNotFound(err error, name, doing string) error {
	if errors.Is(err, store.ErrNotFound) {
		return reason(ErrNotFound, "user %q not found", name)
	}
	return fmt.Errorf("auth: %s: %w", doing, err)
}

// AddUser creates a user. It returns an error matching ErrBadName,
// ErrWeakPassword or ErrExists (names are unique whatever their case).
func (s *Service) AddUser(ctx context.Context, name, password string, admin bool) (User, error) {
	if err := checkName(name); err != nil {
		return User{}, err
	}
	if err := checkPassword(name, password); err != nil {
		return User{}, err
	}
	hash := hashPassword(s.params, password)
	var u store.User
	err := s.db.Update(ctx, func(tx *store.Tx) error {
		var err error
		u, err = tx.CreateUser(ctx, store.User{Name: name, PasswordHash: hash, Admin: admin, CreatedAt: s.now()})
		return err
	})
	if errors.Is(err, store.ErrExists) {
		return User{}, reason(ErrExists, "user %q already exists", name)
	}
	if err != nil {
		return User{}, fmt.Errorf("auth: add user %q: %w", name, err)
	}
	return toUser(u), nil
}

// SetPassword replaces the account password of user name. It returns an
// error matching ErrNotFound or ErrWeakPassword. App passwords and tokens
// stay valid; remembered verifications of the old password are forgotten.
func (s *Service) SetPassword(ctx context.Context, name, password string) error {
	u, err := s.db.UserByName(ctx, name)
	if err != nil {
		return userNotFound(err, name, "set password")
	}
	if err := checkPassword(u.Name, password); err != nil {
		return err
	}
	hash := hashPassword(s.params, password)
	err = s.db.Update(ctx, func(tx *store.Tx) error { return tx.SetPasswordHash(ctx, u.ID, hash) })
	if err != nil {
		return userNotFound(err, name, fmt.Sprintf("set password of %q", name))
	}
	s.verified.evictUser(u.ID)
	return nil
}

// Users returns every user, ordered by name.
func (s *Service) Users(ctx context.Context) ([]User, error) {
	us, err := s.db.Users(ctx)
	if err != nil {
		return nil, fmt.Errorf("auth: list users: %w", err)
	}
	out := make([]User, len(us))
	for i, u := range us {
		out[i] = toUser(u)
	}
	return out, nil
}

// User returns the user called name (ASCII case ignored), or an error
// matching ErrNotFound.
func (s *Service) User(ctx context.Context, name string) (User, error) {
	u, err := s.db.UserByName(ctx, name)
	if err != nil {
		return User{}, userNotFound(err, name, "get user")
	}
	return toUser(u), nil
}

// RemoveUser deletes user name with its app passwords, tokens and
// memberships, or returns an error matching ErrNotFound.
func (s *Service) RemoveUser(ctx context.Context, name string) error {
	var id int64
	err := s.db.Update(ctx, func(tx *store.Tx) error {
		u, err := tx.UserByName(ctx, name)
		if err != nil {
			return err
		}
		if u.Admin {
			users, err := tx.Users(ctx)
			if err != nil {
				return err
			}
			admins := 0
			for _, o := range users {
				if o.Admin {
					admins++
				}
			}
			if admins <= 1 {
				return reason(ErrLastAdmin, "%q is the last administrator: make another user an administrator first", u.Name)
			}
		}
		id = u.ID
		return tx.DeleteUser(ctx, u.ID)
	})
	if errors.Is(err, ErrLastAdmin) {
		return err
	}
	if err != nil {
		return userNotFound(err, name, fmt.Sprintf("remove user %q", name))
	}
	s.verified.evictUser(id)
	return nil
}
