//go:build !linux

package space

import (
	"os"
	"path/filepath"
)

// Elsewhere than on Linux a file is opened through the space's os.Root.

type readDir struct{}

func openReadDir(string) readDir { return readDir{} }

func (readDir) close() {}

func (st *spaceState) openRead(p string) (*os.File, error) {
	return st.root.Open(filepath.FromSlash(p))
}
