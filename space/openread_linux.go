package space

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// On Linux a file is opened for reading with one openat2 call relative to
// the space's directory, with RESOLVE_BENEATH: the kernel refuses any
// resolution that leaves the directory (a ".." above it, an absolute or
// escaping symbolic link) and RESOLVE_NO_MAGICLINKS refuses /proc-style
// links, which is the confinement os.Root gives. os.Root walks the path
// one component at a time (an open and a close per folder) and registers
// the file with the poller, which a regular file refuses: six system
// calls for a file one folder down, against two here (openat2 and the
// flags check of os.NewFile). Where openat2 is missing or forbidden (old
// kernels, some sandboxes) the root's Open is used.

const (
	sysOpenat2          = 437      // the same number on every Linux architecture
	oPath               = 0x200000 // O_PATH, which package syscall lacks (same on Go's Linux architectures)
	resolveNoMagiclinks = 0x02
	resolveBeneath      = 0x08
)

// openHow is the kernel's struct open_how.
type openHow struct {
	flags, mode, resolve uint64
}

// noOpenat2 is set once openat2 turned out to be unavailable.
var noOpenat2 atomic.Bool

// readDir is a space directory held open for openat2 (O_PATH: it can only
// be a reference point for lookups). Its Close waits for lookups in
// progress (they hold it through SyscallConn), so a descriptor number is
// never used after it is closed.
type readDir struct{ f *os.File }

func openReadDir(dir string) readDir {
	f, err := os.OpenFile(dir, oPath|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return readDir{}
	}
	return readDir{f: f}
}

func (d readDir) close() {
	if d.f != nil {
		d.f.Close()
	}
}

// openRead opens the file at p, a cleaned path, inside the space for
// reading, confined to it as st.root.Open is.
func (st *spaceState) openRead(p string) (*os.File, error) {
	name := filepath.FromSlash(p)
	if st.rd.f == nil || noOpenat2.Load() || name == "" {
		return st.root.Open(name)
	}
	bname, err := syscall.BytePtrFromString(name)
	if err != nil {
		return st.root.Open(name)
	}
	how := openHow{
		flags:   syscall.O_RDONLY | syscall.O_CLOEXEC | syscall.O_NOCTTY,
		resolve: resolveBeneath | resolveNoMagiclinks,
	}
	rc, err := st.rd.f.SyscallConn()
	if err != nil {
		return st.root.Open(name)
	}
	var fd uintptr
	var errno syscall.Errno
	cerr := rc.Control(func(dfd uintptr) {
		for {
			fd, _, errno = syscall.Syscall6(sysOpenat2, dfd, uintptr(unsafe.Pointer(bname)),
				uintptr(unsafe.Pointer(&how)), unsafe.Sizeof(how), 0, 0)
			if errno != syscall.EINTR {
				return
			}
		}
	})
	switch {
	case cerr != nil:
		return st.root.Open(name)
	case errno == 0:
		// name is clean and relative (Clean): a plain join, as the root's
		// file names are.
		return os.NewFile(fd, st.dir+string(filepath.Separator)+name), nil
	case errno == syscall.ENOSYS || errno == syscall.EPERM || errno == syscall.E2BIG:
		// Not there, or filtered out (a seccomp profile may answer EPERM).
		noOpenat2.Store(true)
		return st.root.Open(name)
	case errno == syscall.EAGAIN || errno == syscall.EXDEV || errno == syscall.EINVAL:
		// EAGAIN: a rename raced the lookup; EXDEV: the path leaves the
		// space; EINVAL: flags this kernel does not know. The root gives
		// the answer (and its own error).
		return st.root.Open(name)
	}
	return nil, &os.PathError{Op: "openat2", Path: name, Err: errno}
}
