package tus

import (
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tus/tusd/v2/pkg/handler"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/events"
	"github.com/wharfhq/wharf/postproc"
	"github.com/wharfhq/wharf/space"
	"github.com/wharfhq/wharf/store"
)

// preCreate runs before tusd creates an upload, before any byte of the body
// is read: it checks who may upload what where, records the upload and
// gives tusd its id. A refusal leaves nothing in uploads/.
func (h *Handler) preCreate(ev handler.HookEvent) (handler.HTTPResponse, handler.FileInfoChanges, error) {
	none := handler.FileInfoChanges{}
	rq := requestFrom(ev.Context)
	if rq == nil || rq.p == nil {
		return handler.HTTPResponse{}, none, tusError(http.StatusUnauthorized, "authentication required")
	}
	ctx, p, info := ev.Context, rq.p, ev.Upload
	// The parts of a final upload first, before anything about them or
	// the destination is computed: another user's part is unknown.
	for _, id := range info.PartialUploads {
		if err := h.ownPart(ctx, p, id); err != nil {
			return handler.HTTPResponse{}, none, err
		}
	}
	now := h.now()
	u := store.Upload{
		ID: newID(), UserID: p.User.ID, Size: info.Size, State: store.UploadReceiving,
		CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(h.expiry),
	}
	if p.Token != nil && p.Token.Kind == auth.KindUpload {
		u.TokenID = p.Token.ID
		if p.Token.Expired(now) {
			return handler.HTTPResponse{}, none, tusError(http.StatusUnauthorized, "the upload token has expired")
		}
		// Its limits are counted on announced sizes, before any byte:
		// neither a deferred length nor parts to concatenate can be.
		if info.IsPartial || len(info.PartialUploads) > 0 {
			return handler.HTTPResponse{}, none, tusError(http.StatusForbidden, "an upload token cannot create partial uploads")
		}
		if info.SizeIsDeferred {
			return handler.HTTPResponse{}, none, tusError(http.StatusBadRequest, "an upload token needs Upload-Length at creation")
		}
	}
	if p.Link != nil {
		u.LinkID = p.Link.ID
		// Like an upload token: every upload is counted at its creation.
		if info.IsPartial || len(info.PartialUploads) > 0 {
			return handler.HTTPResponse{}, none, tusError(http.StatusForbidden, "a drop link cannot create partial uploads")
		}
		if info.SizeIsDeferred {
			return handler.HTTPResponse{}, none, tusError(http.StatusBadRequest, "a drop link needs Upload-Length at creation")
		}
	}
	if info.SizeIsDeferred {
		u.Size = -1
	}
	if info.Size > h.maxSize {
		return handler.HTTPResponse{}, none, tusError(http.StatusRequestEntityTooLarge,
			"the upload is larger than the largest allowed, %d bytes", h.maxSize)
	}
	if !info.IsFinal && info.Size > h.maxPending {
		return handler.HTTPResponse{}, none, tusError(http.StatusRequestEntityTooLarge,
			"the upload is larger than your unfinished uploads may hold, %d bytes", h.maxPending)
	}
	if info.IsPartial {
		// Its destination comes with the final upload; until then only
		// someone who could upload somewhere may store it.
		if err := h.writerSomewhere(ctx, p); err != nil {
			return handler.HTTPResponse{}, none, err
		}
		u.Partial = true
	} else {
		spaceID, p2, err := h.target(ctx, rq, info.MetaData)
		if err != nil {
			return handler.HTTPResponse{}, none, err
		}
		u.SpaceID, u.Path = spaceID, p2
		if u.TokenID != "" && !p.Covers(u.SpaceID, u.Path) {
			return handler.HTTPResponse{}, none, tusError(http.StatusForbidden,
				"this upload token only allows uploads under %s/%s", p.Token.SpaceID, p.Token.Prefix)
		}
		if err := h.checkTarget(ctx, p, &u, info); err != nil {
			return handler.HTTPResponse{}, none, err
		}
		sum, err := parseWholeSum(info.MetaData["checksum"], rq.r.Header.Get("OC-Checksum"))
		if err != nil {
			return handler.HTTPResponse{}, none, tusError(http.StatusBadRequest, "%v", err)
		}
		u.Expect = sum
		if v := info.MetaData["mtime"]; v != "" {
			secs, err := strconv.ParseFloat(v, 64)
			if err != nil || secs <= 0 {
				return handler.HTTPResponse{}, none, tusError(http.StatusBadRequest, "metadata mtime %q is not a Unix time in seconds", v)
			}
			u.MTime = time.Unix(0, int64(secs*1e9)).UTC()
		}
		u.SHA256State = freshState(sha256.New())
		if strings.Contains(u.Expect, "sha1:") {
			u.SHA1State = freshState(sha1.New())
		}
	}
	err := h.db.Update(ctx, func(tx *store.Tx) error {
		if u.TokenID != "" {
			if err := chargeToken(ctx, tx, u); err != nil {
				return err
			}
		}
		if u.LinkID != "" {
			err := tx.ChargeLink(ctx, u.LinkID, store.LinkUpload)
			switch {
			case errors.Is(err, store.ErrLinkUsedUp):
				return tusError(http.StatusForbidden, "this link accepts no more uploads")
			case errors.Is(err, store.ErrNotFound):
				return tusError(http.StatusNotFound, "no such link")
			case err != nil:
				return err
			}
		}
		return tx.InsertUpload(ctx, u)
	})
	var refusal handler.Error
	if errors.As(err, &refusal) {
		return handler.HTTPResponse{}, none, refusal
	}
	if store.IsFull(err) {
		return handler.HTTPResponse{}, none, tusError(http.StatusInsufficientStorage, "the server's disk is full")
	}
	if err != nil {
		return handler.HTTPResponse{}, none, fmt.Errorf("tus: record upload: %w", err)
	}
	h.publish(events.Event{Type: events.UploadCreated, Space: u.SpaceID, Path: u.Path, Upload: u.ID,
		User: p.Name(), Size: max(u.Size, 0)})
	resp := handler.HTTPResponse{Header: handler.HTTPHeader{
		"Upload-Expires": u.ExpiresAt.UTC().Format(http.TimeFormat),
	}}
	return resp, handler.FileInfoChanges{ID: u.ID}, nil
}

// chargeToken counts upload u against the limits of the upload token that
// creates it, in the transaction that records u, so that concurrent
// creations cannot together exceed them. A token without limits is only
// checked to still exist.
func chargeToken(ctx context.Context, tx *store.Tx, u store.Upload) error {
	lim, err := tx.UploadTokenLimits(ctx, u.TokenID)
	if errors.Is(err, store.ErrNotFound) {
		if _, err := tx.TokenByID(ctx, u.TokenID); errors.Is(err, store.ErrNotFound) {
			return tusError(http.StatusUnauthorized, "the upload token has been revoked")
		} else if err != nil {
			return err
		}
		return nil
	}
	if err != nil {
		return err
	}
	if lim.MaxFiles > 0 && lim.UsedFiles+1 > lim.MaxFiles {
		return tusError(http.StatusForbidden, "this upload token allows %d files and all have been created", lim.MaxFiles)
	}
	if lim.MaxBytes > 0 && lim.UsedBytes+u.Size > lim.MaxBytes {
		return tusError(http.StatusRequestEntityTooLarge,
			"this upload token allows %d bytes in all: %d used, this upload needs %d", lim.MaxBytes, lim.UsedBytes, u.Size)
	}
	return tx.AddUploadTokenUsage(ctx, u.TokenID, u.Size, 1)
}

// target finds the destination of a new upload: the space and directory of
// an oCIS-style creation's URL with metadata filename, else metadata space
// and path, or space, dir and filename. A missing space is the only one the
// caller can write to. The path is cleaned (space.Clean).
func (h *Handler) target(ctx context.Context, rq *request, meta handler.MetaData) (string, string, error) {
	spaceID, p := meta["space"], meta["path"]
	if rq.dav != nil {
		spaceID, p = rq.dav.space, ""
		if meta["filename"] == "" {
			return "", "", tusError(http.StatusBadRequest, "Upload-Metadata needs a filename")
		}
		p = joinPath(rq.dav.dir, meta["filename"])
	} else if p == "" {
		if meta["filename"] == "" {
			return "", "", tusError(http.StatusBadRequest, "Upload-Metadata needs space and path, or filename (and dir)")
		}
		p = joinPath(meta["dir"], meta["filename"])
	}
	if spaceID == "" {
		roles, err := h.auth.SpaceRoles(ctx, rq.p)
		if err != nil {
			return "", "", fmt.Errorf("tus: find the space: %w", err)
		}
		var writable []string
		for id, role := range roles {
			if role.Allows(auth.Editor) {
				writable = append(writable, id)
			}
		}
		if len(writable) != 1 {
			sort.Strings(writable)
			return "", "", tusError(http.StatusBadRequest, "Upload-Metadata needs space (one of: %s)", strings.Join(writable, ", "))
		}
		spaceID = writable[0]
	}
	// ".." is refused rather than resolved: a client must not climb out
	// of the collection it names.
	for _, e := range strings.Split(p, "/") {
		if e == ".." {
			return "", "", tusError(http.StatusBadRequest, "the path %q must not contain \"..\"", p)
		}
	}
	clean, err := space.Clean(p)
	if err != nil {
		return "", "", tusError(http.StatusBadRequest, "%s", strings.TrimPrefix(err.Error(), space.ErrBadPath.Error()+": "))
	}
	if clean == "" {
		return "", "", tusError(http.StatusBadRequest, "the upload needs a file name")
	}
	return spaceID, clean, nil
}

func joinPath(dir, name string) string {
	if dir == "" {
		return name
	}
	return strings.TrimSuffix(dir, "/") + "/" + name
}

// checkTarget checks that p may write u's destination and that it can be
// written: role, token, parent directory, name, size and quota.
func (h *Handler) checkTarget(ctx context.Context, p *auth.Principal, u *store.Upload, info handler.FileInfo) error {
	role, ok, err := h.auth.RoleIn(ctx, p, u.SpaceID)
	if err != nil {
		return fmt.Errorf("tus: role in %q: %w", u.SpaceID, err)
	}
	sp, serr := h.tree.Space(ctx, u.SpaceID)
	if !ok || errors.Is(serr, space.ErrNotFound) {
		return tusError(http.StatusNotFound, "no such space %q", u.SpaceID)
	}
	if serr != nil {
		return fmt.Errorf("tus: space %q: %w", u.SpaceID, serr)
	}
	if !role.Allows(auth.Editor) || !p.Covers(u.SpaceID, u.Path) {
		return tusError(http.StatusForbidden, "you may not upload to %s/%s", u.SpaceID, u.Path)
	}
	dir := path.Dir(u.Path)
	if dir == "." {
		dir = ""
	}
	parent, err := h.tree.Stat(ctx, u.SpaceID, dir)
	switch {
	case errors.Is(err, space.ErrNotFound):
		return tusError(http.StatusConflict, "the folder %q does not exist in space %q", dir, u.SpaceID)
	case err != nil:
		return fmt.Errorf("tus: stat %s/%q: %w", u.SpaceID, dir, err)
	case !parent.IsDir:
		return tusError(http.StatusConflict, "%q is a file, not a folder", dir)
	}
	if p.Link != nil {
		// A drop link only adds files and shows nothing of its folder:
		// a name already taken becomes "name (2).ext", and the install
		// is conditional (submit), so nothing is ever replaced.
		free, err := h.freeName(ctx, u.SpaceID, u.Path)
		if err != nil {
			return err
		}
		u.Path = free
	}
	var replaced int64
	cur, err := h.tree.Stat(ctx, u.SpaceID, u.Path)
	switch {
	case err == nil && cur.IsDir:
		return tusError(http.StatusConflict, "%q is a folder", u.Path)
	case err == nil:
		replaced = cur.Size
	case !errors.Is(err, space.ErrNotFound):
		return fmt.Errorf("tus: stat %s/%q: %w", u.SpaceID, u.Path, err)
	}
	if sp.QuotaBytes > 0 && !info.SizeIsDeferred {
		pending, err := h.db.PendingUploadBytes(ctx, u.SpaceID, "")
		if err != nil {
			return fmt.Errorf("tus: quota of %q: %w", u.SpaceID, err)
		}
		free := sp.QuotaBytes - sp.UsedBytes - pending + replaced
		if info.Size > free {
			return tusError(http.StatusInsufficientStorage, "not enough room in space %q: %d bytes needed, %d free",
				u.SpaceID, info.Size, max(free, 0))
		}
	}
	return nil
}

// freeName returns p, or if a node is there "stem (2).ext", "stem (3).ext"…:
// the first name free in space spaceID.
func (h *Handler) freeName(ctx context.Context, spaceID, p string) (string, error) {
	dir, base := path.Split(p)
	ext := path.Ext(base)
	stem := strings.TrimSuffix(base, ext)
	if stem == "" {
		stem, ext = base, ""
	}
	for i := 1; i <= 1000; i++ {
		name := p
		if i > 1 {
			name = dir + stem + " (" + strconv.Itoa(i) + ")" + ext
		}
		_, err := h.tree.Stat(ctx, spaceID, name)
		if errors.Is(err, space.ErrNotFound) {
			return name, nil
		}
		if err != nil {
			return "", fmt.Errorf("tus: stat %s/%q: %w", spaceID, name, err)
		}
	}
	return "", tusError(http.StatusConflict, "too many files named %q already", base)
}

// newID returns a fresh upload id: 128 random bits in hex.
func newID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// freshState is the marshalled state of a new digest.
func freshState(d hash.Hash) []byte {
	b, err := d.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		panic(err) // the standard library's digests always marshal
	}
	return b
}

// parseWholeSum parses the client's checksum of the whole file, from the
// metadata "checksum" ("sha1 <hex or base64>", oCIS style) or an
// OC-Checksum header ("SHA1:<hex>"), into the uploads table's form
// ("algo:hex").
func parseWholeSum(vals ...string) (string, error) {
	var out []string
	for _, v := range vals {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		algo, val, ok := strings.Cut(v, " ")
		if !ok {
			algo, val, ok = strings.Cut(v, ":")
		}
		algo = strings.ToLower(strings.TrimSpace(algo))
		val = strings.TrimSpace(val)
		n, known := digestSizes[algo]
		if !ok || !known {
			return "", fmt.Errorf("checksum %q: want \"<sha1|sha256|md5> <value>\"", v)
		}
		b, err := hex.DecodeString(val)
		if err != nil || len(b) != n {
			b, err = base64.StdEncoding.DecodeString(val)
		}
		if err != nil || len(b) != n {
			return "", fmt.Errorf("checksum %q: not a %s in hex or base64", v, algo)
		}
		out = append(out, algo+":"+hex.EncodeToString(b))
	}
	return strings.Join(out, " "), nil
}

// parseExpect turns the uploads table's checksums into the pipeline's.
func parseExpect(s string) []postproc.Checksum {
	var out []postproc.Checksum
	for _, f := range strings.Fields(s) {
		algo, val, _ := strings.Cut(f, ":")
		out = append(out, postproc.Checksum{Algo: algo, Hex: val})
	}
	return out
}
