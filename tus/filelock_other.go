//go:build !unix

package tus

import "os"

// lockFile on systems without flock: the in-process lock only (one server
// process per data directory there).
func lockFile(path string) (*os.File, error) { return nil, nil }
