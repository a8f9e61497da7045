package client

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// fileState is what a run remembers about one file, so a rerun resumes.
type fileState struct {
	Size     int64     `json:"size"`
	ModTime  time.Time `json:"modTime"`
	URL      string    `json:"url,omitempty"`
	Offset   int64     `json:"offset,omitempty"`
	Done     bool      `json:"done,omitempty"`
	SHA256   string    `json:"sha256,omitempty"`
	Rejected string    `json:"rejected,omitempty"`
}

// pushState is the state file of one run: os.UserCacheDir()/wharf/push/<hash>.json.
type pushState struct {
	mu    sync.Mutex
	path  string
	saved []byte

	Server string                `json:"server"`
	Space  string                `json:"space"`
	To     string                `json:"to"`
	Files  map[string]*fileState `json:"files"`
}

// update changes a file's state under the lock and saves the whole state.
func (s *pushState) update(rel string, f func(*fileState)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s.Files[rel])
	return s.saveLocked()
}

func (s *pushState) get(rel string) fileState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return *s.Files[rel]
}

// save writes the state file if it changed.
func (s *pushState) save() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.saveLocked()
}

func (s *pushState) saveLocked() error {
	b, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		return err
	}
	if string(b) == string(s.saved) {
		return nil
	}
	if err := writeFileAtomic(s.path, b, 0o700); err != nil {
		return fmt.Errorf("saving the push state: %w", err)
	}
	s.saved = b
	return nil
}

// loadPushState reads the state of the run that sends the local paths abs
// to folder to of space on server, or starts an empty one.
func loadPushState(server, space, to string, abs []string) (*pushState, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return nil, fmt.Errorf("push state: %w", err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n", server, space, to)
	for _, a := range abs {
		fmt.Fprintf(h, "%s\n", a)
	}
	p := filepath.Join(dir, "wharf", "push", hex.EncodeToString(h.Sum(nil))[:32]+".json")
	st := &pushState{path: p, Server: server, Space: space, To: to, Files: map[string]*fileState{}}
	b, err := os.ReadFile(p)
	if err == nil {
		if json.Unmarshal(b, st) != nil || st.Files == nil {
			st.Files = map[string]*fileState{} // unreadable: start over, the server dedups by checksum
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("push state: %w", err)
	}
	return st, nil
}
