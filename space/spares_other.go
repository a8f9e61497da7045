//go:build !linux

package space

import (
	"io/fs"
	"os"
)

// Elsewhere no lease tells whether another process has a file open, so
// replaced files are never reused (spares.go).
const (
	canReuse  = false
	oNoFollow = 0
)

func linkCount(fs.FileInfo) uint64 { return 0 }

func exclusive(*os.File) (int64, bool) { return 0, false }
