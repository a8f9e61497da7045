package store

import (
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// The WAL index is the "-shm" file SQLite keeps beside a database in WAL
// mode: memory shared by every connection of every process using the
// database. Its first 96 bytes are two copies of a 48-byte header that
// every commit rewrites. docs/reliability.md ("Reading the Epoch without
// a query") gives the layout and why an unchanged header means that
// nothing was committed. walIndex maps that page read-only, so the watch
// can compare the header with the one it saw before its last query
// without running one.

const (
	walHdrWords   = 12      // one copy of the header: 48 bytes
	walIdxVersion = 3007000 // iVersion of the only header layout there is
	walMapLen     = 4096    // both copies are in the first page
)

// walHeader is one copy of the header, as native-order 32-bit words.
type walHeader [walHdrWords]uint32

// walIndex is a DB's use of its database's WAL index.
type walIndex struct {
	s *shmFile
}

// shmFile is one -shm file open in this process. Closing a file
// descriptor drops every POSIX lock the process holds on that file,
// SQLite's own locks on the WAL index included, whichever descriptor they
// were taken through. So this process opens each -shm file once, shares
// it between its DBs, and closes it only when the last of them closes,
// after that DB's connections are closed (DB.Close). That is why the
// table is process-wide: the locks it protects are.
type shmFile struct {
	key   shmKey
	f     *os.File
	mem   []byte // nil if the file could not be mapped or is no WAL index
	refs  int
	extra []*os.File // more descriptors of the same file (openWALIndex)
}

type shmKey struct{ dev, ino uint64 }

var shmFiles = struct {
	sync.Mutex
	m map[shmKey]*shmFile
}{m: map[shmKey]*shmFile{}}

// openWALIndex maps the WAL index of the SQLite database at dbPath, which
// must already be open in WAL mode by a connection of this DB. It returns
// nil when there is none (then the Epoch is read with a query every
// time). It never creates the file. The caller calls close after closing
// all its connections to the database.
func openWALIndex(dbPath string) *walIndex {
	name := dbPath + "-shm"
	var st syscall.Stat_t
	if err := syscall.Stat(name, &st); err != nil {
		return nil
	}
	shmFiles.Lock()
	defer shmFiles.Unlock()
	if s := shmFiles.m[shmKey{uint64(st.Dev), st.Ino}]; s != nil {
		s.refs++
		return &walIndex{s: s}
	}
	f, err := os.Open(name)
	if err != nil {
		return nil
	}
	// From here on f may only be closed by release (see shmFile).
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		st = syscall.Stat_t{}
	}
	key := shmKey{uint64(st.Dev), st.Ino}
	if s := shmFiles.m[key]; s != nil {
		// Replaced between the two stats (the file of a database in use
		// is not) and already in the table: f must stay open as long.
		s.refs++
		s.extra = append(s.extra, f)
		return &walIndex{s: s}
	}
	s := &shmFile{key: key, f: f, refs: 1}
	if st.Mode&syscall.S_IFMT == syscall.S_IFREG && st.Size >= walMapLen {
		if mem, err := syscall.Mmap(int(f.Fd()), 0, walMapLen, syscall.PROT_READ, syscall.MAP_SHARED); err == nil {
			s.mem = mem
		}
	}
	shmFiles.m[key] = s
	return &walIndex{s: s}
}

// close gives the DB's use of the file back; the last user unmaps and
// closes it.
func (x *walIndex) close() {
	if x == nil {
		return
	}
	shmFiles.Lock()
	defer shmFiles.Unlock()
	s := x.s
	if s.refs--; s.refs > 0 {
		return
	}
	delete(shmFiles.m, s.key)
	if s.mem != nil {
		syscall.Munmap(s.mem)
	}
	s.f.Close()
	for _, f := range s.extra {
		f.Close()
	}
}

// header reads the current header the way SQLite's readers do: the first
// copy, then the second, each word with an atomic load (ordered against
// the writer's barrier between its two copies), and accepts them only if
// they are equal, initialised, of the known version and their checksum
// matches. ok is false otherwise (a commit is being written, the file
// was truncated, it is not a WAL index): the caller then asks SQLite.
func (x *walIndex) header() (h walHeader, ok bool) {
	if x == nil || x.s.mem == nil {
		return h, false
	}
	// A mapping past the end of a file faults (SIGBUS) instead of
	// reading; the file is never shortened while this process has the
	// database open, but a fault must not take the server down.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	base := unsafe.Pointer(unsafe.SliceData(x.s.mem))
	var h2 walHeader
	for i := range h {
		h[i] = atomic.LoadUint32((*uint32)(unsafe.Add(base, 4*i)))
	}
	for i := range h2 {
		h2[i] = atomic.LoadUint32((*uint32)(unsafe.Add(base, 4*(walHdrWords+i))))
	}
	return h, h == h2 && h.valid()
}

// change is the header's change counter (iChange): SQLite adds one to it
// with each commit and changes it for nothing else (a WAL restart, which
// rewrites the header inside a write transaction, keeps it).
func (h *walHeader) change() uint32 { return h[2] }

// valid checks a header copy: iVersion, isInit and the checksum of its
// first 40 bytes (SQLite's: two running sums over pairs of native-order
// words), stored in its last 8.
func (h *walHeader) valid() bool {
	if h[0] != walIdxVersion {
		return false
	}
	// Word 3 holds isInit (byte 12), bigEndCksum and szPage.
	if *(*byte)(unsafe.Pointer(&h[3])) == 0 {
		return false
	}
	var s1, s2 uint32
	for i := 0; i < 10; i += 2 {
		s1 += h[i] + s2
		s2 += h[i+1] + s1
	}
	return s1 == h[10] && s2 == h[11]
}
