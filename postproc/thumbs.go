package postproc

import (
	"bytes"
	"context"
	"image"
	"image/jpeg"
	"path/filepath"
)

// Thumbnails are <sha256>.jpg, one per content. In the data directory's
// layout they are files of ThumbsDir; in object-store mode
// (space.Tree.Objects) they are objects ThumbKey of the tree's store,
// which every replica serves, and ThumbsDir keeps only the enrichment
// pass's temporary copies.

// thumbQuality is the JPEG quality of thumbnails.
const thumbQuality = 80

// thumbPrefix starts the keys of thumbnails in an object store.
const thumbPrefix = "thumbs/"

// ThumbKey is the object of the thumbnail of the content whose SHA-256
// (lowercase hex) is sha256, in object-store mode.
func ThumbKey(sha256 string) string { return thumbPrefix + sha256 + ".jpg" }

// saveThumb stores the thumbnail of the content sha256: atomically, in
// ThumbsDir or in the tree's object store.
func (r *Runner) saveThumb(ctx context.Context, sha256 string, img image.Image) error {
	bs := r.tree.Objects()
	if bs == nil {
		return writeJPEG(filepath.Join(r.thumbs, sha256+".jpg"), img)
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: thumbQuality}); err != nil {
		return err
	}
	_, err := bs.Put(ctx, ThumbKey(sha256), bytes.NewReader(b.Bytes()), int64(b.Len()))
	return err
}
