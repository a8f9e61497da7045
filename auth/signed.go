package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/wharfhq/wharf/store"
)

// signingKeySetting is the settings key of the URL signing key: 32 random
// bytes made on first use and shared by every process on the database.
const signingKeySetting = "signing_key"

func loadSigningKey(ctx context.Context, db *store.DB) ([]byte, error) {
	key, err := db.Setting(ctx, signingKeySetting)
	if errors.Is(err, store.ErrNotFound) {
		// Check again in the write transaction: another process may have
		// made one since.
		err = db.Update(ctx, func(tx *store.Tx) error {
			var err error
			key, err = tx.Setting(ctx, signingKeySetting)
			if !errors.Is(err, store.ErrNotFound) {
				return err
			}
			key = randomBytes(32)
			return tx.PutSetting(ctx, signingKeySetting, key)
		})
	}
	if err != nil {
		return nil, fmt.Errorf("auth: load URL signing key: %w", err)
	}
	if len(key) < 32 {
		return nil, fmt.Errorf("auth: URL signing key in settings is %d bytes, want 32", len(key))
	}
	return key, nil
}

// SignURL returns path (a URL path, optionally with a query) with an expiry
// and a signature added to its query: "?expires=<unix>&sig=<base64url>". The
// signature covers the decoded path and every query parameter, not the
// scheme or host. Anyone holding the URL may use it until expires.
func (s *Service) SignURL(path string, expires time.Time) string {
	u, err := url.Parse(path)
	if err != nil {
		u = &url.URL{Path: path}
	}
	q := u.Query()
	q.Del("sig")
	q.Set("expires", strconv.FormatInt(expires.Unix(), 10))
	u.RawQuery = q.Encode() + "&sig=" + base64.RawURLEncoding.EncodeToString(s.urlMAC(u.Path, q))
	return u.String()
}

// urlMAC signs a path and its query parameters other than sig, in a
// canonical order so re-encoding the URL does not break the signature.
func (s *Service) urlMAC(path string, q url.Values) []byte {
	h := hmac.New(sha256.New, s.signKey)
	h.Write([]byte("wharf signed URL v1\n" + path + "\n" + q.Encode()))
	return h.Sum(nil)
}

// VerifyURL checks a URL made by SignURL, as received (r.URL). It returns an
// error matching ErrUnauthenticated if the signature is missing or wrong or
// the URL has expired.
func (s *Service) VerifyURL(u *url.URL) error {
	q := u.Query()
	if len(q["sig"]) != 1 || len(q["expires"]) != 1 {
		return reason(ErrUnauthenticated, "URL is not signed")
	}
	// Strict: a signature is one string, not every string that decodes to
	// the same bytes (the last character carries two unused bits).
	sig, err := base64.RawURLEncoding.Strict().DecodeString(q.Get("sig"))
	q.Del("sig")
	if err != nil || !hmac.Equal(sig, s.urlMAC(u.Path, q)) {
		return reason(ErrUnauthenticated, "bad URL signature")
	}
	exp, err := strconv.ParseInt(q.Get("expires"), 10, 64)
	if err != nil {
		return reason(ErrUnauthenticated, "bad URL expiry")
	}
	if !s.now().Before(time.Unix(exp, 0)) {
		return reason(ErrUnauthenticated, "signed URL expired")
	}
	return nil
}
