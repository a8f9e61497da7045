//go:build !linux

package diskio

import "os"

// startWriteback is a no-op where sync_file_range(2) does not exist: the
// fsync acknowledging a chunk writes it all.
func startWriteback(*os.File, int64, int64) {}

// openDirect returns nil: writes around the page cache are used only on
// Linux.
func openDirect(string) *os.File { return nil }
