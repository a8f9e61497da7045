//go:build !unix

package local

import "io/fs"

// inode: no inode number on this system; ETags rest on time and size.
func inode(fs.FileInfo) (uint64, bool) { return 0, false }
