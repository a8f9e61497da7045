package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Credential is one server's entry in credentials.json: what 'wharf login'
// keeps for push and pull.
type Credential struct {
	URL       string    `json:"url"`
	User      string    `json:"user"`
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
}

// Credentials is the content of credentials.json.
type Credentials struct {
	Servers []Credential `json:"servers"`
}

// CredentialsPath is where the credentials are kept:
// <config dir>/wharf/credentials.json.
func CredentialsPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("credentials: %w", err)
	}
	return filepath.Join(dir, "wharf", "credentials.json"), nil
}

// LoadCredentials reads the credentials file (none yet: no servers) and
// returns it with its path, for Save.
func LoadCredentials() (Credentials, string, error) {
	p, err := CredentialsPath()
	if err != nil {
		return Credentials{}, "", err
	}
	var cf Credentials
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return cf, p, nil
	}
	if err != nil {
		return cf, p, fmt.Errorf("credentials: %w", err)
	}
	if err := json.Unmarshal(b, &cf); err != nil {
		return cf, p, fmt.Errorf("credentials: %s is not valid JSON (%v); remove it and log in again", p, err)
	}
	return cf, p, nil
}

// Save writes the credentials to p atomically, readable only by the user.
func (cf Credentials) Save(p string) error {
	b, _ := json.MarshalIndent(cf, "", "  ")
	if err := writeFileAtomic(p, append(b, '\n'), 0o700); err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	return nil
}

// Put adds cr, or replaces the entry of the same server.
func (cf *Credentials) Put(cr Credential) {
	for i, e := range cf.Servers {
		if e.URL == cr.URL {
			cf.Servers[i] = cr
			return
		}
	}
	cf.Servers = append(cf.Servers, cr)
}

// Find is the entry of server, or with server "", the only entry.
func (cf Credentials) Find(server string) (Credential, bool) {
	if server == "" {
		if len(cf.Servers) == 1 {
			return cf.Servers[0], true
		}
		return Credential{}, false
	}
	for _, e := range cf.Servers {
		if e.URL == server {
			return e, true
		}
	}
	return Credential{}, false
}
