package space

import (
	"os"
	"path/filepath"
	"slices"
	"sync"
)

// Spare files: the inode of a small file an overwrite replaced is kept
// in uploads/ and becomes the staging file of a later write, instead of
// being unlinked while a new one is created for that write.
//
// A replace-by-rename makes a new inode for every overwrite and frees
// the old one. On ext4 without a journal (the disk these benchmarks run
// on), creating a file skips every inode freed in the last minute or more
// (ext4's recently_deleted), so under a steady stream of overwrites each
// create scans further: 0.4 ms of kernel CPU per create+unlink pair at
// 1,000 overwrites a second, against 0.1 ms when the inodes are reused
// (docs/benchmarks.md, round 5). Reusing the inodes keeps the allocator
// out of an overwrite altogether, as an in-place rewrite would, while
// each write is still a rename of complete, fsynced bytes.
//
// A file is reused only if nothing else can read it: its one name is the
// spare's (no version, frozen commit or enrichment link shares the inode)
// and no process has it open (a GET that opened the old content before
// the rename keeps reading the old bytes): exclusive checks both right
// before the file is truncated. Otherwise the spare is unlinked, as
// before. Spares are staging files by name, so a crash leaves nothing
// (New removes them); they hold at most sparesMax × spareMaxSize bytes.
const (
	sparesMax    = 64
	spareMaxSize = 64 << 10
)

type spares struct {
	// off: no spares are kept (a process of the command line beside a
	// server: its spares would outlive it in uploads/ until the server's
	// next start).
	off   bool
	mu    sync.Mutex
	names []string
}

// offer keeps name, a replaced file's last link in uploads/, as a spare
// if it may be reused and the pool has room, and removes it otherwise.
func (s *spares) offer(name string) {
	if !s.reusable(name) || !s.add(name) {
		os.Remove(name)
	}
}

// reusable reports whether the file at name is worth keeping as a spare:
// small, regular, its inode's only name.
func (s *spares) reusable(name string) bool {
	if !canReuse || s.off {
		return false
	}
	fi, err := os.Lstat(name)
	return err == nil && fi.Mode().IsRegular() && fi.Size() <= spareMaxSize && linkCount(fi) == 1
}

func (s *spares) add(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.names) >= sparesMax {
		return false
	}
	s.names = append(s.names, name)
	return true
}

// recycle removes a purged file (a version or a trashed file, outside
// uploads/), keeping it as a spare if it may be reused.
func (t *Tree) recycle(p string) error {
	if t.spares.reusable(p) {
		name := filepath.Join(t.uploads, stagingPfx+randomHex())
		if os.Rename(p, name) == nil {
			if !t.spares.add(name) {
				os.Remove(name)
			}
			return nil
		}
	}
	return os.RemoveAll(p)
}

// take returns a spare opened for writing, its name and its size, or nil
// if there is none that may be reused. Its old bytes are still there:
// the caller writes over them from the start and truncates the file to
// its new size (a 4 KiB file rewritten in place frees and allocates no
// block, where emptying it first would free one and allocate one again).
func (s *spares) take() (*os.File, string, int64) {
	for {
		s.mu.Lock()
		n := len(s.names)
		if n == 0 {
			s.mu.Unlock()
			return nil, "", 0
		}
		name := s.names[n-1]
		s.names = s.names[:n-1]
		s.mu.Unlock()
		f, err := os.OpenFile(name, os.O_RDWR|oNoFollow, 0)
		if err != nil {
			os.Remove(name)
			continue
		}
		if size, ok := exclusive(f); ok {
			return f, name, size
		}
		f.Close()
		os.Remove(name)
	}
}

// holds reports whether name is a spare.
func (s *spares) holds(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Contains(s.names, name)
}

// drop removes every spare (Tree.Close).
func (s *spares) drop() {
	s.mu.Lock()
	names := s.names
	s.names = nil
	s.mu.Unlock()
	for _, name := range names {
		os.Remove(name)
	}
}
