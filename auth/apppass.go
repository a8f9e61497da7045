package auth

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/wharfhq/wharf/store"
)

// AppPassword is a per-device password of a user, for WebDAV clients that
// only know Basic auth. Its secret is shown once, when it is created.
type AppPassword struct {
	ID         int64
	Label      string
	CreatedAt  time.Time
	LastUsedAt time.Time // zero until first use; updated at most once a minute
}

func toAppPassword(a store.AppPassword) AppPassword {
	return AppPassword{ID: a.ID, Label: a.Label, CreatedAt: a.CreatedAt, LastUsedAt: a.LastUsedAt}
}

// appSecretBytes of randomness: 200 bits, 40 base32 characters shown in
// eight groups of five. Secrets that random cannot be guessed, so they are
// kept as a plain SHA-256: a slow hash would add nothing but cost on every
// WebDAV request.
const appSecretBytes = 25

var base32Lower = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

func newAppSecret() string {
	s := base32Lower.EncodeToString(randomBytes(appSecretBytes))
	var b strings.Builder
	for i := 0; i < len(s); i += 5 {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(s[i:min(i+5, len(s))])
	}
	return b.String()
}

// appSecretHash returns the stored hash of an app password as typed (with or
// without dashes or spaces, any case), or false if it cannot be one.
func appSecretHash(typed string) (string, bool) {
	s, ok := appSecret(typed)
	if !ok {
		return "", false
	}
	return sha256Hex(s), true
}

// appSecret returns an app password as typed in its one spelling (lower
// case, without dashes or spaces), the one its stored hash is of, or false
// if it cannot be one.
func appSecret(typed string) (string, bool) {
	if len(typed) > 128 {
		return "", false
	}
	// Checked on every Basic request: no allocation for what cannot be one.
	b := make([]byte, 0, base32Lower.EncodedLen(appSecretBytes))
	for i := 0; i < len(typed); i++ {
		c := typed[i]
		switch {
		case c == '-' || c == ' ':
			continue
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		if len(b) == cap(b) {
			return "", false
		}
		b = append(b, c)
	}
	s := string(b)
	if len(s) != base32Lower.EncodedLen(appSecretBytes) {
		return "", false
	}
	if _, err := base32Lower.DecodeString(s); err != nil {
		return "", false
	}
	return s, true
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

const maxLabelLen = 64

// checkLabel checks an app password or token label. App password labels may
// not be all digits, so that RevokeAppPassword can tell a label from an id.
func checkLabel(label string, allDigitsOK bool) error {
	if utf8.RuneCountInString(label) > maxLabelLen {
		return reason(ErrBadName, "label too long: at most %d characters", maxLabelLen)
	}
	if !utf8.ValidString(label) || strings.IndexFunc(label, unicode.IsControl) >= 0 {
		return reason(ErrBadName, "label %q: control characters are not allowed", label)
	}
	if _, err := strconv.ParseUint(label, 10, 64); err == nil && !allDigitsOK {
		return reason(ErrBadName, "label %q: a label cannot be only digits", label)
	}
	return nil
}

// CreateAppPassword creates an app password for user and returns it with its
// secret, which is not kept and cannot be shown again. An empty label gets
// the first free "device-N". It returns an error matching ErrNotFound (no
// such user), ErrBadName (label) or ErrExists (label in use).
func (s *Service) CreateAppPassword(ctx context.Context, user, label string) (AppPassword, string, error) {
	label = strings.TrimSpace(label)
	if err := checkLabel(label, false); err != nil {
		return AppPassword{}, "", err
	}
	secret := newAppSecret()
	hash, _ := appSecretHash(secret)
	var a store.AppPassword
	err := s.db.Update(ctx, func(tx *store.Tx) error {
		u, err := tx.UserByName(ctx, user)
		if err != nil {
			return err
		}
		if label == "" {
			existing, err := tx.AppPasswords(ctx, u.ID)
			if err != nil {
				return err
			}
			used := make(map[string]bool, len(existing))
			for _, e := range existing {
				used[e.Label] = true
			}
			for n := 1; label == "" || used[label]; n++ {
				label = "device-" + strconv.Itoa(n)
			}
		}
		a, err = tx.CreateAppPassword(ctx, store.AppPassword{UserID: u.ID, Label: label, Hash: hash, CreatedAt: s.now()})
		if errors.Is(err, store.ErrExists) {
			return reason(ErrExists, "user %q already has an app password labelled %q", user, label)
		}
		return err
	})
	if errors.Is(err, ErrExists) {
		return AppPassword{}, "", err
	}
	if err != nil {
		return AppPassword{}, "", userNotFound(err, user, fmt.Sprintf("create app password for %q", user))
	}
	return toAppPassword(a), secret, nil
}

// AppPasswords returns the app passwords of user, oldest first, or an error
// matching ErrNotFound.
func (s *Service) AppPasswords(ctx context.Context, user string) ([]AppPassword, error) {
	u, err := s.db.UserByName(ctx, user)
	if err != nil {
		return nil, userNotFound(err, user, "list app passwords")
	}
	as, err := s.db.AppPasswords(ctx, u.ID)
	if err != nil {
		return nil, fmt.Errorf("auth: list app passwords of %q: %w", user, err)
	}
	out := make([]AppPassword, len(as))
	for i, a := range as {
		out[i] = toAppPassword(a)
	}
	return out, nil
}

// RevokeAppPassword deletes the app password of user with that label, or
// with that id. It returns an error matching ErrNotFound if there is none.
// Clients using it fail from their next request.
func (s *Service) RevokeAppPassword(ctx context.Context, user, idOrLabel string) error {
	err := s.db.Update(ctx, func(tx *store.Tx) error {
		u, err := tx.UserByName(ctx, user)
		if err != nil {
			return err
		}
		if id, perr := strconv.ParseInt(idOrLabel, 10, 64); perr == nil {
			err = tx.DeleteAppPassword(ctx, u.ID, id)
		} else {
			err = tx.DeleteAppPasswordByLabel(ctx, u.ID, idOrLabel)
		}
		if errors.Is(err, store.ErrNotFound) {
			return reason(ErrNotFound, "user %q has no app password %q", user, idOrLabel)
		}
		return err
	})
	var re *reasonError
	if errors.As(err, &re) {
		return err
	}
	if err != nil {
		return userNotFound(err, user, fmt.Sprintf("revoke app password %q of %q", idOrLabel, user))
	}
	return nil
}
