// Package s3 is the blob store in an S3-compatible object store, through
// minio-go. Objects are stored under Config.Prefix + key; a staged upload
// is an S3 multipart upload on its final key, plus at most one "incomplete
// part" object under blob.StagingPrefix holding the tail shorter than S3's
// 5 MiB minimum part. All upload state is read from the store itself
// (ListParts, the incomplete part's name), so any process can continue an
// upload another one started, after a crash too. It imports blob only.
package s3

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/wharfhq/wharf/blob"
)

// S3's limits (AWS's; other servers accept at least these).
const (
	// MinPartSize is the smallest part but the last.
	MinPartSize = 5 << 20
	// MaxParts is the most parts of one multipart upload.
	MaxParts = 10000
	// MaxPartSize is the largest part.
	MaxPartSize = 5 << 30
	// MaxObjectSize is the largest object.
	MaxObjectSize = 5 << 40
	// PreferredPartSize is the part size of uploads small enough for it:
	// big enough to keep the request count low, small enough to buffer.
	PreferredPartSize = 16 << 20
)

// PartSize is the part size of an upload of size bytes (-1: unknown, then
// maxSize bytes at most): PreferredPartSize when MaxParts of them hold it,
// else the smallest size that fits in MaxParts parts, rounded up to a MiB.
func PartSize(size, maxSize int64) int64 {
	if size < 0 {
		size = maxSize
	}
	if size <= PreferredPartSize*MaxParts {
		return PreferredPartSize
	}
	ps := (size + MaxParts - 1) / MaxParts
	ps = (ps + 1<<20 - 1) &^ (1<<20 - 1)
	return min(ps, MaxPartSize)
}

// Store is a blob store in one bucket. Safe for concurrent use.
type Store struct {
	c    *minio.Client
	core minio.Core
	cfg  Config
}

var (
	_ blob.Store  = (*Store)(nil)
	_ blob.Stager = (*Store)(nil)
)

// New connects to the bucket of cfg and checks that it exists (one
// request). The error never holds the secret key.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if err := checkBucket(cfg.Bucket); err != nil {
		return nil, err
	}
	if cfg.MaxUploadSize <= 0 || cfg.MaxUploadSize > MaxObjectSize {
		cfg.MaxUploadSize = MaxObjectSize
	}
	if cfg.ListPartsPage <= 0 || cfg.ListPartsPage > 1000 {
		cfg.ListPartsPage = 1000
	}
	lookup := minio.BucketLookupAuto
	switch cfg.PathStyle {
	case "true":
		lookup = minio.BucketLookupPath
	case "false":
		lookup = minio.BucketLookupDNS
	}
	var creds *credentials.Credentials
	if cfg.AccessKey != "" || cfg.SecretKey != "" {
		creds = credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, "")
	} else {
		creds = credentials.New(&credentials.Static{}) // anonymous
	}
	c, err := minio.New(cfg.endpoint(), &minio.Options{
		Creds:        creds,
		Secure:       cfg.Secure,
		Region:       cfg.region(),
		BucketLookup: lookup,
	})
	if err != nil {
		return nil, fmt.Errorf("blob/s3: %s: %w", cfg, err)
	}
	ok, err := c.BucketExists(ctx, cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("blob/s3: %s: %w", cfg, err)
	}
	if !ok {
		return nil, fmt.Errorf("blob/s3: %s: the bucket does not exist", cfg)
	}
	return &Store{c: c, core: minio.Core{Client: c}, cfg: cfg}, nil
}

func (s *Store) name(key string) string { return s.cfg.Prefix + key }

// String describes the store (its Config's String: never the secret).
func (s *Store) String() string { return s.cfg.String() }

// mapErr turns S3's error codes into blob's errors.
func mapErr(op, key string, err error) error {
	if err == nil {
		return nil
	}
	resp := minio.ToErrorResponse(err)
	switch {
	case resp.Code == "NoSuchKey" || resp.Code == "NoSuchUpload" || resp.StatusCode == http.StatusNotFound && resp.Code != "NoSuchBucket":
		err = blob.ErrNotFound
	case resp.Code == "PreconditionFailed" || resp.StatusCode == http.StatusPreconditionFailed:
		err = blob.ErrChanged
	case resp.Code == "EntityTooLarge":
		err = blob.ErrTooLarge
	}
	return fmt.Errorf("blob/s3: %s %q: %w", op, key, err)
}

func toInfo(key string, oi minio.ObjectInfo) blob.Info {
	return blob.Info{Key: key, Size: oi.Size, ModTime: oi.LastModified, ETag: oi.ETag}
}

// exactReader yields exactly n bytes of r and fails when r has fewer or
// more, so that a wrong size never stores a cut or padded object: the
// failing Read aborts the request before S3 completes it.
type exactReader struct {
	r io.Reader
	n int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.n == 0 {
		var one [1]byte
		if m, _ := io.ReadFull(e.r, one[:]); m > 0 {
			return 0, fmt.Errorf("the reader holds more than the declared size: %w", blob.ErrTooLarge)
		}
		return 0, io.EOF
	}
	if int64(len(p)) > e.n {
		p = p[:e.n]
	}
	m, err := e.r.Read(p)
	e.n -= int64(m)
	if err == io.EOF {
		if e.n > 0 {
			// Wrapped, not io.ErrUnexpectedEOF itself: minio-go takes that
			// one for a last part shorter than the others, sends it and
			// retries the failing request for seconds.
			return m, fmt.Errorf("the reader ended %d bytes before the declared size: %w", e.n, io.ErrUnexpectedEOF)
		}
		err = nil
	}
	if e.n == 0 && err == nil {
		var one [1]byte
		if k, _ := io.ReadFull(e.r, one[:]); k > 0 {
			return m, fmt.Errorf("the reader holds more than the declared size: %w", blob.ErrTooLarge)
		}
		return m, io.EOF
	}
	return m, err
}

// remaining is how many bytes a seeker holds past its position.
func remaining(rs io.Seeker) (int64, error) {
	cur, err := rs.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, err
	}
	end, err := rs.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, err
	}
	if _, err := rs.Seek(cur, io.SeekStart); err != nil {
		return 0, err
	}
	return end - cur, nil
}

// Put implements blob.Store: one PUT, or minio-go's multipart upload for
// large or unknown sizes; either way S3 shows the object only once whole.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) (blob.Info, error) {
	if err := blob.CheckKey(key); err != nil {
		return blob.Info{}, err
	}
	// Unknown sizes use the preferred part size (objects up to 160 GiB):
	// minio-go buffers whole parts in memory.
	ps := int64(PreferredPartSize)
	if size >= 0 {
		ps = PartSize(size, size)
	}
	opts := minio.PutObjectOptions{ContentType: "application/octet-stream", PartSize: uint64(ps)}
	if size >= 0 {
		if rs, ok := r.(io.ReadSeeker); ok {
			// A file or a buffer: its length is checked first, and it goes
			// to minio-go as it is, which then sends parts in parallel
			// (ReadAt) and hashes them without a copy.
			left, err := remaining(rs)
			if err != nil {
				return blob.Info{}, fmt.Errorf("blob/s3: put %q: %w", key, err)
			}
			if left != size {
				return blob.Info{}, fmt.Errorf("blob/s3: put %q: the reader holds %d bytes, declared %d", key, left, size)
			}
		} else {
			r = &exactReader{r: r, n: size}
		}
	}
	ui, err := s.c.PutObject(ctx, s.cfg.Bucket, s.name(key), r, size, opts)
	if err != nil {
		return blob.Info{}, mapErr("put", key, err)
	}
	if size >= 0 && ui.Size != size {
		return blob.Info{}, fmt.Errorf("blob/s3: put %q: stored %d bytes of %d", key, ui.Size, size)
	}
	return s.Stat(ctx, key)
}

// Stat implements blob.Store.
func (s *Store) Stat(ctx context.Context, key string) (blob.Info, error) {
	if err := blob.CheckKey(key); err != nil {
		return blob.Info{}, err
	}
	oi, err := s.c.StatObject(ctx, s.cfg.Bucket, s.name(key), minio.StatObjectOptions{})
	if err != nil {
		return blob.Info{}, mapErr("stat", key, err)
	}
	return toInfo(key, oi), nil
}

// reader is a blob.Reader: Open's GET gives the object's Info and the
// first stream; a Read at another position (after a Seek) and each ReadAt
// is a ranged GET carrying If-Match with the ETag opened, so that a
// replaced object gives ErrChanged, never a mix. Seek costs no request.
// Later requests run on the context Open was given (a reader lives within
// one request).
type reader struct {
	s       *Store
	ctx     context.Context
	info    blob.Info
	pos     int64
	body    io.ReadCloser // the current stream, at bodyPos; nil: none
	bodyPos int64
}

func (r *reader) Info() blob.Info { return r.info }

// get opens a ranged GET of [off, end] (end < 0: to the object's end),
// pinned to the version opened.
func (r *reader) get(off, end int64) (io.ReadCloser, error) {
	opts := minio.GetObjectOptions{}
	if err := opts.SetMatchETag(r.info.ETag); err != nil {
		return nil, err
	}
	if end < 0 {
		end = r.info.Size - 1
	}
	if err := opts.SetRange(off, end); err != nil {
		return nil, err
	}
	body, _, _, err := r.s.core.GetObject(r.ctx, r.s.cfg.Bucket, r.s.name(r.info.Key), opts)
	if err != nil {
		return nil, mapErr("read", r.info.Key, err)
	}
	return body, nil
}

func (r *reader) Read(p []byte) (int, error) {
	if r.pos >= r.info.Size {
		return 0, io.EOF
	}
	if r.body != nil && r.bodyPos != r.pos {
		r.body.Close()
		r.body = nil
	}
	if r.body == nil {
		body, err := r.get(r.pos, -1)
		if err != nil {
			return 0, err
		}
		r.body, r.bodyPos = body, r.pos
	}
	n, err := r.body.Read(p)
	r.pos += int64(n)
	r.bodyPos = r.pos
	switch {
	case err == io.EOF && r.pos < r.info.Size:
		err = fmt.Errorf("blob/s3: read %q: %w", r.info.Key, io.ErrUnexpectedEOF)
	case err != nil && err != io.EOF:
		err = mapErr("read", r.info.Key, err)
	}
	return n, err
}

// ReadAt is safe for concurrent use: each call is its own request.
func (r *reader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("blob/s3: read %q: negative offset", r.info.Key)
	}
	if off >= r.info.Size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	want := min(int64(len(p)), r.info.Size-off)
	body, err := r.get(off, off+want-1)
	if err != nil {
		return 0, err
	}
	defer body.Close()
	n, err := io.ReadFull(body, p[:want])
	if err != nil {
		return n, mapErr("read", r.info.Key, err)
	}
	if want < int64(len(p)) {
		return n, io.EOF
	}
	return n, nil
}

func (r *reader) Seek(off int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = off
	case io.SeekCurrent:
		abs = r.pos + off
	case io.SeekEnd:
		abs = r.info.Size + off
	default:
		return 0, fmt.Errorf("blob/s3: seek %q: bad whence %d", r.info.Key, whence)
	}
	if abs < 0 {
		return 0, fmt.Errorf("blob/s3: seek %q: negative position", r.info.Key)
	}
	r.pos = abs
	return abs, nil
}

func (r *reader) Close() error {
	if r.body != nil {
		err := r.body.Close()
		r.body = nil
		return err
	}
	return nil
}

// Open implements blob.Store: one GET, whose answer is the Info (and
// ErrNotFound now rather than at the first Read) and the stream the first
// Read continues.
func (s *Store) Open(ctx context.Context, key string) (blob.Reader, error) {
	if err := blob.CheckKey(key); err != nil {
		return nil, err
	}
	body, oi, _, err := s.core.GetObject(ctx, s.cfg.Bucket, s.name(key), minio.GetObjectOptions{})
	if err != nil {
		return nil, mapErr("open", key, err)
	}
	return &reader{s: s, ctx: ctx, info: toInfo(key, oi), body: body}, nil
}

// Delete implements blob.Store (S3's DELETE of a missing key succeeds).
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := blob.CheckKey(key); err != nil {
		return err
	}
	err := s.c.RemoveObject(ctx, s.cfg.Bucket, s.name(key), minio.RemoveObjectOptions{})
	if err != nil && !errors.Is(mapErr("delete", key, err), blob.ErrNotFound) {
		return mapErr("delete", key, err)
	}
	return nil
}

// Copy implements blob.Store: CopyObject up to 5 GiB, a multipart copy
// (UploadPartCopy) beyond; the bytes stay in the store.
func (s *Store) Copy(ctx context.Context, src, dst string) (blob.Info, error) {
	if err := blob.CheckKey(src); err != nil {
		return blob.Info{}, err
	}
	if err := blob.CheckKey(dst); err != nil {
		return blob.Info{}, err
	}
	_, err := s.c.ComposeObject(ctx,
		minio.CopyDestOptions{Bucket: s.cfg.Bucket, Object: s.name(dst)},
		minio.CopySrcOptions{Bucket: s.cfg.Bucket, Object: s.name(src)})
	if err != nil {
		return blob.Info{}, mapErr("copy", src, err)
	}
	return s.Stat(ctx, dst)
}

// List implements blob.Store (ListObjectsV2, paginated by the client).
func (s *Store) List(ctx context.Context, prefix string, fn func(blob.Info) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the listing goroutine when fn fails
	for oi := range s.c.ListObjects(ctx, s.cfg.Bucket, minio.ListObjectsOptions{Prefix: s.name(prefix), Recursive: true}) {
		if oi.Err != nil {
			return mapErr("list", prefix, oi.Err)
		}
		key := strings.TrimPrefix(oi.Key, s.cfg.Prefix)
		if strings.HasPrefix(key, blob.StagingPrefix) {
			continue
		}
		if err := fn(toInfo(key, oi)); err != nil {
			return err
		}
	}
	return nil
}

// The incomplete part of an upload is the object
//
//	<Prefix>.staging/<sha256(key NUL id)>/<N>
//
// where N is the number of the part its bytes will become: it is valid
// only while the multipart upload's last part is N-1. A crash after a part
// absorbed those bytes but before the object was deleted leaves a stale
// one (last part >= N), which is ignored and removed, never counted twice.
func (s *Store) incompleteDir(u blob.Upload) string {
	h := sha256.Sum256([]byte(u.Key + "\x00" + u.ID))
	return s.cfg.Prefix + blob.StagingPrefix + hex.EncodeToString(h[:16]) + "/"
}

type part struct {
	number int
	size   int64
	etag   string
}

// state is what the store holds of an upload.
type state struct {
	parts      []part
	incomplete int64 // size of the valid incomplete part, 0: none
	stale      []string
}

func (st state) offset() int64 {
	n := st.incomplete
	for _, p := range st.parts {
		n += p.size
	}
	return n
}

func (st state) next() int {
	if len(st.parts) == 0 {
		return 1
	}
	return st.parts[len(st.parts)-1].number + 1
}

func (s *Store) incompleteName(u blob.Upload, n int) string {
	return s.incompleteDir(u) + strconv.Itoa(n)
}

// load reads the upload's parts (every page of ListParts) and its
// incomplete part.
func (s *Store) load(ctx context.Context, u blob.Upload) (state, error) {
	var st state
	if err := checkUpload(u); err != nil {
		return st, err
	}
	marker := 0
	for {
		res, err := s.core.ListObjectParts(ctx, s.cfg.Bucket, s.name(u.Key), u.ID, marker, s.cfg.ListPartsPage)
		if err != nil {
			return st, mapErr("list parts of upload", u.Key, err)
		}
		for _, p := range res.ObjectParts {
			st.parts = append(st.parts, part{number: p.PartNumber, size: p.Size, etag: p.ETag})
		}
		if !res.IsTruncated {
			break
		}
		if res.NextPartNumberMarker <= marker {
			return st, fmt.Errorf("blob/s3: list parts of %q: the marker does not advance", u.Key)
		}
		marker = res.NextPartNumberMarker
	}
	sort.Slice(st.parts, func(i, j int) bool { return st.parts[i].number < st.parts[j].number })
	next := st.next()
	for oi := range s.c.ListObjects(ctx, s.cfg.Bucket, minio.ListObjectsOptions{Prefix: s.incompleteDir(u), Recursive: true}) {
		if oi.Err != nil {
			return st, mapErr("list the incomplete part of upload", u.Key, oi.Err)
		}
		n, err := strconv.Atoi(strings.TrimPrefix(oi.Key, s.incompleteDir(u)))
		if err == nil && n == next {
			st.incomplete = oi.Size
		} else {
			st.stale = append(st.stale, oi.Key)
		}
	}
	return st, nil
}

func checkUpload(u blob.Upload) error {
	if err := blob.CheckKey(u.Key); err != nil {
		return err
	}
	if u.ID == "" {
		return fmt.Errorf("blob/s3: upload of %q without an id: %w", u.Key, blob.ErrNotFound)
	}
	return nil
}

// CreateUpload implements blob.Stager: CreateMultipartUpload on the key.
func (s *Store) CreateUpload(ctx context.Context, key string, size int64) (blob.Upload, error) {
	if err := blob.CheckKey(key); err != nil {
		return blob.Upload{}, err
	}
	if size > MaxObjectSize || size > s.cfg.MaxUploadSize {
		return blob.Upload{}, fmt.Errorf("blob/s3: create upload of %d bytes to %q: %w", size, key, blob.ErrTooLarge)
	}
	id, err := s.core.NewMultipartUpload(ctx, s.cfg.Bucket, s.name(key), minio.PutObjectOptions{ContentType: "application/octet-stream"})
	if err != nil {
		return blob.Upload{}, mapErr("create upload", key, err)
	}
	return blob.Upload{Key: key, ID: id, Size: size}, nil
}

// UploadOffset implements blob.Stager: the parts' sizes plus the
// incomplete part's, as S3 holds them.
func (s *Store) UploadOffset(ctx context.Context, u blob.Upload) (int64, error) {
	st, err := s.load(ctx, u)
	if err != nil {
		return 0, err
	}
	return st.offset(), nil
}

// WriteUpload implements blob.Stager. The bytes (after the incomplete
// part's, fetched back) are cut into parts of PartSize(u.Size); each part
// is buffered in a temporary file and sent once whole. What is left when r
// ends becomes a part when it is the upload's last byte, or when it is at
// least MinPartSize and the parts left still hold the rest of the upload
// (shortPartFits), else the new incomplete part. When r fails (a client gone),
// what was read is kept the same way, on a context that outlives the
// request's, and the error returned with the count.
func (s *Store) WriteUpload(ctx context.Context, u blob.Upload, offset int64, r io.Reader) (int64, error) {
	st, err := s.load(ctx, u)
	if err != nil {
		return 0, err
	}
	if st.offset() != offset {
		return 0, fmt.Errorf("blob/s3: write upload %q at %d, holds %d: %w", u.Key, offset, st.offset(), blob.ErrOffset)
	}
	ps := PartSize(u.Size, s.cfg.MaxUploadSize)
	buf, err := os.CreateTemp(s.cfg.TempDir, "wharf-part-")
	if err != nil {
		return 0, fmt.Errorf("blob/s3: write upload %q: %w", u.Key, err)
	}
	defer func() { buf.Close(); os.Remove(buf.Name()) }()

	// The pending bytes start with the incomplete part's.
	carried := st.incomplete
	if carried > 0 {
		o, err := s.c.GetObject(ctx, s.cfg.Bucket, s.incompleteName(u, st.next()), minio.GetObjectOptions{})
		if err != nil {
			return 0, mapErr("read the incomplete part of upload", u.Key, err)
		}
		n, err := io.Copy(buf, o)
		o.Close()
		if err != nil || n != carried {
			return 0, fmt.Errorf("blob/s3: read the incomplete part of upload %q: %d of %d bytes: %v", u.Key, n, carried, err)
		}
	}
	src := r
	if u.Size >= 0 {
		src = io.LimitReader(r, u.Size-offset)
	}
	var written int64 // bytes of r kept (acknowledged)
	next := st.next()
	pending := carried
	for {
		n, rerr := io.CopyN(buf, src, ps-pending)
		pending += n
		if rerr == nil {
			// A full part: send it and go on.
			if err := s.sendPart(ctx, u, next, buf, pending); err != nil {
				return written, err
			}
			if carried > 0 {
				s.removeIncomplete(ctx, u, next)
				carried = 0
			}
			written += n
			next++
			pending = 0
			if err := resetFile(buf); err != nil {
				return written, err
			}
			continue
		}
		// r ended (EOF) or failed: place what is pending.
		wctx := ctx
		if rerr != io.EOF {
			// Keep what arrived even though the request is gone.
			var cancel context.CancelFunc
			wctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
			defer cancel()
		}
		total := offset + written + n // bytes of the upload once these are placed
		last := u.Size >= 0 && total == u.Size
		switch {
		case pending == carried && n == 0:
			// Nothing new.
		case last || pending >= MinPartSize && shortPartFits(s.left(u, total), ps, next):
			if err := s.sendPart(wctx, u, next, buf, pending); err != nil {
				return written, err
			}
			if carried > 0 {
				s.removeIncomplete(wctx, u, next)
			}
		default:
			// Shorter than a part may be: the new incomplete part replaces
			// the old one under the same name, atomically.
			if _, err := buf.Seek(0, io.SeekStart); err != nil {
				return written, err
			}
			_, err := s.c.PutObject(wctx, s.cfg.Bucket, s.incompleteName(u, next), io.NewSectionReader(buf, 0, pending), pending,
				minio.PutObjectOptions{ContentType: "application/octet-stream", DisableMultipart: true})
			if err != nil {
				return written, mapErr("store the incomplete part of upload", u.Key, err)
			}
		}
		written += n
		if rerr == io.EOF {
			rerr = nil
			if u.Size >= 0 && offset+written == u.Size {
				// Anything more the reader holds is beyond the declared size.
				var one [1]byte
				if m, _ := r.Read(one[:]); m > 0 {
					rerr = fmt.Errorf("blob/s3: write upload %q: more than the declared %d bytes: %w", u.Key, u.Size, blob.ErrTooLarge)
				}
			}
		}
		return written, rerr
	}
}

// left is how many bytes may still come after total: the declared size's
// rest, or MaxUploadSize's for an upload of unknown size.
func (s *Store) left(u blob.Upload, total int64) int64 {
	if u.Size >= 0 {
		return u.Size - total
	}
	return s.cfg.MaxUploadSize - total
}

// shortPartFits says whether part next may be shorter than the part size
// ps: only while the parts after it, at ps each, still hold the left
// bytes. Sending every tail of at least 5 MiB as a part would let an upload
// in small PATCHes run out of S3's 10,000 parts; parked instead, the tail
// waits in the incomplete part for the next write.
func shortPartFits(left, ps int64, next int) bool {
	return left <= int64(MaxParts-next)*ps
}

func resetFile(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.Seek(0, io.SeekStart)
	return err
}

// sendPart uploads the first size bytes of buf as part n.
func (s *Store) sendPart(ctx context.Context, u blob.Upload, n int, buf *os.File, size int64) error {
	if n > MaxParts {
		return fmt.Errorf("blob/s3: upload %q needs more than %d parts: %w", u.Key, MaxParts, blob.ErrTooLarge)
	}
	_, err := s.core.PutObjectPart(ctx, s.cfg.Bucket, s.name(u.Key), u.ID, n, io.NewSectionReader(buf, 0, size), size, minio.PutObjectPartOptions{})
	if err != nil {
		return mapErr(fmt.Sprintf("send part %d of upload", n), u.Key, err)
	}
	return nil
}

// removeIncomplete deletes the incomplete part n once a part absorbed it.
// A failure is harmless: load ignores and removes a stale one.
func (s *Store) removeIncomplete(ctx context.Context, u blob.Upload, n int) {
	s.c.RemoveObject(ctx, s.cfg.Bucket, s.incompleteName(u, n), minio.RemoveObjectOptions{})
}

// CompleteUpload implements blob.Stager: the incomplete part, if any,
// becomes the last part (the last part may be short), an empty upload
// gets one empty part (S3 wants at least one), then
// CompleteMultipartUpload. S3's completion is not idempotent (a second
// one finds no upload): when the upload is gone and the object is there
// with the declared size, the first one succeeded and its Info is
// returned.
func (s *Store) CompleteUpload(ctx context.Context, u blob.Upload) (blob.Info, error) {
	st, err := s.load(ctx, u)
	if errors.Is(err, blob.ErrNotFound) {
		if in, serr := s.Stat(ctx, u.Key); serr == nil && (u.Size < 0 || in.Size == u.Size) {
			return in, nil
		}
		return blob.Info{}, err
	}
	if err != nil {
		return blob.Info{}, err
	}
	if u.Size >= 0 && st.offset() != u.Size {
		return blob.Info{}, fmt.Errorf("blob/s3: complete upload %q: %d of %d bytes: %w", u.Key, st.offset(), u.Size, blob.ErrIncomplete)
	}
	for _, k := range st.stale {
		s.c.RemoveObject(ctx, s.cfg.Bucket, k, minio.RemoveObjectOptions{})
	}
	if st.incomplete > 0 || len(st.parts) == 0 {
		next := st.next()
		var body io.Reader = strings.NewReader("")
		if st.incomplete > 0 {
			o, err := s.c.GetObject(ctx, s.cfg.Bucket, s.incompleteName(u, next), minio.GetObjectOptions{})
			if err != nil {
				return blob.Info{}, mapErr("read the incomplete part of upload", u.Key, err)
			}
			defer o.Close()
			body = o
		}
		p, err := s.core.PutObjectPart(ctx, s.cfg.Bucket, s.name(u.Key), u.ID, next, body, st.incomplete, minio.PutObjectPartOptions{})
		if err != nil {
			return blob.Info{}, mapErr("send the last part of upload", u.Key, err)
		}
		st.parts = append(st.parts, part{number: next, size: st.incomplete, etag: p.ETag})
	}
	parts := make([]minio.CompletePart, len(st.parts))
	for i, p := range st.parts {
		parts[i] = minio.CompletePart{PartNumber: p.number, ETag: p.etag}
	}
	if _, err := s.core.CompleteMultipartUpload(ctx, s.cfg.Bucket, s.name(u.Key), u.ID, parts, minio.PutObjectOptions{}); err != nil {
		err = mapErr("complete upload", u.Key, err)
		if errors.Is(err, blob.ErrNotFound) {
			if in, serr := s.Stat(ctx, u.Key); serr == nil && (u.Size < 0 || in.Size == u.Size) {
				return in, nil
			}
		}
		return blob.Info{}, err
	}
	s.removeIncompletes(ctx, u)
	in, err := s.Stat(ctx, u.Key)
	if err == nil && u.Size >= 0 && in.Size != u.Size {
		return blob.Info{}, fmt.Errorf("blob/s3: complete upload %q: the object holds %d bytes, not %d", u.Key, in.Size, u.Size)
	}
	return in, err
}

// removeIncompletes deletes every incomplete part of the upload.
func (s *Store) removeIncompletes(ctx context.Context, u blob.Upload) error {
	for oi := range s.c.ListObjects(ctx, s.cfg.Bucket, minio.ListObjectsOptions{Prefix: s.incompleteDir(u), Recursive: true}) {
		if oi.Err != nil {
			return mapErr("list the incomplete part of upload", u.Key, oi.Err)
		}
		if err := s.c.RemoveObject(ctx, s.cfg.Bucket, oi.Key, minio.RemoveObjectOptions{}); err != nil {
			return mapErr("remove the incomplete part of upload", u.Key, err)
		}
	}
	return nil
}

// AbortUpload implements blob.Stager: AbortMultipartUpload (its parts are
// freed) and the incomplete part removed.
func (s *Store) AbortUpload(ctx context.Context, u blob.Upload) error {
	if err := checkUpload(u); err != nil {
		return nil
	}
	if err := s.core.AbortMultipartUpload(ctx, s.cfg.Bucket, s.name(u.Key), u.ID); err != nil {
		if err := mapErr("abort upload", u.Key, err); !errors.Is(err, blob.ErrNotFound) {
			return err
		}
	}
	return s.removeIncompletes(ctx, u)
}

// AbortUploadsBefore implements blob.Stager: every multipart upload under
// the prefix initiated before t (ListMultipartUploads, paginated by the
// client) is aborted. A bucket lifecycle rule
// (AbortIncompleteMultipartUpload) does the same on the server's side; this
// one needs nothing configured.
func (s *Store) AbortUploadsBefore(ctx context.Context, t time.Time) (int, error) {
	var old []blob.Upload
	for mu := range s.c.ListIncompleteUploads(ctx, s.cfg.Bucket, s.cfg.Prefix, true) {
		if mu.Err != nil {
			return 0, mapErr("list uploads", s.cfg.Prefix, mu.Err)
		}
		if mu.Initiated.Before(t) {
			old = append(old, blob.Upload{Key: strings.TrimPrefix(mu.Key, s.cfg.Prefix), ID: mu.UploadID, Size: -1})
		}
	}
	n := 0
	for _, u := range old {
		if blob.CheckKey(u.Key) != nil {
			// Not one of ours (minio-go's own multipart Put of a key
			// under the staging prefix cannot happen; something else's).
			if err := s.core.AbortMultipartUpload(ctx, s.cfg.Bucket, s.name(u.Key), u.ID); err == nil {
				n++
			}
			continue
		}
		if err := s.AbortUpload(ctx, u); err != nil {
			return n, err
		}
		n++
	}
	// Incomplete parts a crash left behind (after a completion, before
	// their delete): one written before t belongs to an upload started
	// before t, which is aborted or completed by now.
	for oi := range s.c.ListObjects(ctx, s.cfg.Bucket, minio.ListObjectsOptions{Prefix: s.cfg.Prefix + blob.StagingPrefix, Recursive: true}) {
		if oi.Err != nil {
			return n, mapErr("list staging", s.cfg.Prefix, oi.Err)
		}
		if oi.LastModified.Before(t) {
			if err := s.c.RemoveObject(ctx, s.cfg.Bucket, oi.Key, minio.RemoveObjectOptions{}); err != nil {
				return n, mapErr("remove staging", oi.Key, err)
			}
		}
	}
	return n, nil
}
