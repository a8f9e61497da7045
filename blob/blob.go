// Package blob owns file contents as objects addressed by opaque keys, in a
// directory (blob/local) or in an S3-compatible object store (blob/s3). A
// key names one immutable content version (the caller builds it from a node
// id and a content version, never from a path), so renaming or moving a file
// changes metadata only. The package defines the contract both
// implementations meet, the errors they return, the rules for keys, and the
// conformance suite (blob/blobtest) that proves them. It imports nothing of
// Wharf.
package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Errors returned by every implementation, checked with errors.Is.
var (
	// ErrNotFound: no object (or no upload) under that key or id.
	ErrNotFound = errors.New("blob: not found")
	// ErrInvalidKey: the key breaks the rules of CheckKey.
	ErrInvalidKey = errors.New("blob: invalid key")
	// ErrOffset: a staged upload's write did not start at its current
	// offset (another writer got there first, or the caller's view is
	// stale); the caller asks UploadOffset again.
	ErrOffset = errors.New("blob: upload offset mismatch")
	// ErrIncomplete: Complete was asked of an upload that has not received
	// its declared size.
	ErrIncomplete = errors.New("blob: upload incomplete")
	// ErrTooLarge: more bytes than the declared size, or than the store
	// accepts.
	ErrTooLarge = errors.New("blob: too large")
	// ErrChanged: the object was replaced while a reader was open on it;
	// the reader stops rather than return a mix of two versions.
	ErrChanged = errors.New("blob: object changed while reading")
)

// Info describes one stored object.
type Info struct {
	Key  string
	Size int64
	// ModTime is when the object was written, to the second on S3.
	ModTime time.Time
	// ETag is an opaque version tag: it changes when the object does. It
	// is NOT a content hash (an S3 multipart object's ETag is not the MD5
	// of its bytes); callers keep their own checksums.
	ETag string
}

// Reader reads one version of an object. It is what http.ServeContent
// needs (Seek to the end gives the size, Seek + Read serve a range) and
// ReadAt serves random access (thumbnails, EXIF). On S3 each Seek that
// moves the position costs one ranged GET, pinned to the version opened
// (If-Match on its ETag), so a replaced object gives ErrChanged, never a
// mix. Not safe for concurrent use except ReadAt; the caller closes it.
type Reader interface {
	io.ReadSeekCloser
	io.ReaderAt
	Info() Info
}

// Store is an object store. All methods are safe for concurrent use. A
// context cancelled mid-call stops it and leaves no partial object
// visible.
type Store interface {
	// Put stores r under key, replacing any object there. size is the
	// number of bytes r yields, or -1 when unknown. Atomic: a reader sees
	// the previous object or the new one, whole, never a part. A reader
	// that yields a different number of bytes than a size >= 0 fails the
	// Put and stores nothing.
	Put(ctx context.Context, key string, r io.Reader, size int64) (Info, error)
	// Open returns a Reader on the object's current version, or
	// ErrNotFound.
	Open(ctx context.Context, key string) (Reader, error)
	// Stat describes the object, or ErrNotFound.
	Stat(ctx context.Context, key string) (Info, error)
	// Delete removes the object; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// Copy copies src to dst inside the store, without the bytes going
	// through the caller; ErrNotFound when src is missing. Atomic like Put.
	Copy(ctx context.Context, src, dst string) (Info, error)
	// List calls fn for each object whose key starts with prefix, in key
	// order, until fn returns an error (which List returns). Staging
	// objects are never listed.
	List(ctx context.Context, prefix string, fn func(Info) error) error
}

// Upload names one staged (resumable) upload. The caller keeps all three
// fields (in its database row of the upload) and passes them back on each
// call, from any process: the state itself is in the store.
type Upload struct {
	// Key is where Complete puts the object.
	Key string
	// ID is the store's handle: an S3 multipart upload id, or a staging
	// file name.
	ID string
	// Size is the declared size, or -1 while unknown. It chooses the part
	// size on S3 (so the upload fits the store's part count), and Complete
	// checks it.
	Size int64
}

// Stager stages resumable uploads (tus): bytes arrive in writes at
// increasing offsets, possibly on different processes, possibly after a
// crash; Complete turns them into the object at Upload.Key atomically.
// Methods are safe for concurrent use, but two writes to the same upload
// at once are the caller's to prevent (tus locks the upload): the loser
// gets ErrOffset at best.
type Stager interface {
	// CreateUpload starts an upload of size bytes (-1: unknown yet) to key.
	CreateUpload(ctx context.Context, key string, size int64) (Upload, error)
	// UploadOffset is how many bytes the upload holds, read from the store
	// itself (after a restart too); ErrNotFound when it was completed,
	// aborted or never existed.
	UploadOffset(ctx context.Context, u Upload) (int64, error)
	// WriteUpload appends r's bytes at offset, which must be the current
	// offset (ErrOffset otherwise). It returns how many bytes it kept: when
	// r fails midway (a client disconnects), what was read is kept as far
	// as possible and the error is returned with the count. A write that
	// would pass a declared Size fails with ErrTooLarge.
	WriteUpload(ctx context.Context, u Upload, offset int64, r io.Reader) (int64, error)
	// CompleteUpload installs the staged bytes at u.Key. With u.Size >= 0
	// the offset must equal it (ErrIncomplete otherwise). Calling it again
	// after it succeeded returns the object's Info again (a retry after a
	// crash between the store's completion and the caller's commit).
	CompleteUpload(ctx context.Context, u Upload) (Info, error)
	// AbortUpload discards the upload; aborting a missing upload is not an
	// error.
	AbortUpload(ctx context.Context, u Upload) error
	// AbortUploadsBefore aborts every upload started before t (abandoned
	// ones: the caller's expiry) and returns how many it aborted.
	AbortUploadsBefore(ctx context.Context, t time.Time) (int, error)
}

// Backend is both abilities; blob/local and blob/s3 implement it.
type Backend interface {
	Store
	Stager
}

// MaxKeyLen is the longest key, in bytes (S3's limit).
const MaxKeyLen = 1024

// MaxSegmentLen is the longest segment of a key between slashes, in bytes
// once escaped for a file name (a file name's limit on Linux).
const MaxSegmentLen = 255

// StagingPrefix starts the keys an implementation uses for itself (S3's
// incomplete parts). Callers' keys may not start with it.
const StagingPrefix = ".staging/"

// CheckKey validates a key: valid UTF-8, 1 to MaxKeyLen bytes, no NUL or
// other control character, no backslash (some S3 servers read it as '/'),
// segments between '/' neither empty nor "." nor "..", and not under
// StagingPrefix. Every other character is allowed (spaces, '%', '#', '?',
// non-ASCII), so that both implementations accept the same keys. The error wraps ErrInvalidKey.
func CheckKey(key string) error {
	bad := func(why string) error {
		return fmt.Errorf("%w %q: %s", ErrInvalidKey, key, why)
	}
	switch {
	case key == "":
		return bad("empty")
	case len(key) > MaxKeyLen:
		return bad(fmt.Sprintf("longer than %d bytes", MaxKeyLen))
	case !utf8.ValidString(key):
		return bad("not UTF-8")
	case strings.HasPrefix(key, StagingPrefix):
		return bad("reserved prefix " + StagingPrefix)
	}
	for _, r := range key {
		if r < 0x20 || r == 0x7f {
			return bad("control character")
		}
		if r == '\\' {
			// SeaweedFS (by default) and some gateways turn it into '/'.
			return bad("backslash")
		}
	}
	for _, seg := range strings.Split(key, "/") {
		switch {
		case seg == "":
			return bad("empty segment")
		case seg == "." || seg == "..":
			return bad("dot segment")
		case len(EscapeSegment(seg)) > MaxSegmentLen:
			return bad(fmt.Sprintf("segment longer than %d bytes once escaped", MaxSegmentLen))
		}
	}
	return nil
}

// EscapeSegment turns a key segment into a file name: bytes other than
// ASCII letters, digits, '-', '_' and '.' become %XX, so that a name never
// holds a '~' (blob/local's object suffix) and two segments never map to
// the same name.
func EscapeSegment(seg string) string {
	var b strings.Builder
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// UnescapeSegment reverses EscapeSegment.
func UnescapeSegment(name string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		if name[i] != '%' {
			b.WriteByte(name[i])
			continue
		}
		if i+2 >= len(name) {
			return "", fmt.Errorf("blob: bad escape in %q", name)
		}
		c, err := strconv.ParseUint(name[i+1:i+3], 16, 8)
		if err != nil {
			return "", fmt.Errorf("blob: bad escape in %q", name)
		}
		b.WriteByte(byte(c))
		i += 2
	}
	return b.String(), nil
}
