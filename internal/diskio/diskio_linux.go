package diskio

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to start writing bytes [off, off+n) of f
// to disk now, without waiting, so that the fsync acknowledging a large
// chunk finds little left to write. It is only a hint: errors are left to
// that fsync.
func startWriteback(f *os.File, off, n int64) {
	unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}

// openDirect opens path for writes around the page cache (O_DIRECT): the
// bytes go from the buffer to the disk with no copy into the cache, no
// dirty pages to write back, and no cache evicted for bytes nobody reads
// soon. Eight parallel 1 GiB uploads took half the time they took through
// the cache (docs/benchmarks.md). Such writes must start at an offset, and
// come from memory, aligned to align, and be a multiple of it long. It
// returns nil where the file system refuses O_DIRECT.
func openDirect(path string) *os.File {
	f, err := os.OpenFile(path, os.O_WRONLY|unix.O_DIRECT, 0)
	if err != nil {
		return nil
	}
	return f
}
