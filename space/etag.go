package space

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"mime"
	"path"
	"strconv"
	"strings"
	"time"
)

// fileETag is a file's strong ETag: a 64-bit FNV-1a of its SHA-256, size and
// mtime, so that new content or a new mtime (Chtimes, X-OC-Mtime) changes it
// while a byte-identical copy with the same mtime keeps it. Quotes included.
func fileETag(sha256hex string, size int64, mtime time.Time) string {
	h := fnv.New64a()
	h.Write([]byte(sha256hex))
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(size))
	binary.BigEndian.PutUint64(b[8:], uint64(mtime.UnixNano()))
	h.Write(b[:])
	return fmt.Sprintf(`"%016x"`, h.Sum64())
}

// dirETag is a fresh ETag for a directory whose children changed at now:
// the time plus random bits, so it changes on every change even with a
// coarse clock. Quotes included.
func dirETag(now time.Time) string {
	return `"` + strconv.FormatInt(now.UnixNano(), 36) + "-" + randomHex()[:8] + `"`
}

// fallbackTypes completes mime.TypeByExtension, whose answer depends on the
// host's mime.types files (absent from minimal containers).
var fallbackTypes = map[string]string{
	".7z":   "application/x-7z-compressed",
	".aac":  "audio/aac",
	".avi":  "video/x-msvideo",
	".bmp":  "image/bmp",
	".cr2":  "image/x-canon-cr2",
	".csv":  "text/csv; charset=utf-8",
	".dng":  "image/x-adobe-dng",
	".doc":  "application/msword",
	".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
	".eps":  "application/postscript",
	".flac": "audio/flac",
	".gz":   "application/gzip",
	".heic": "image/heic",
	".heif": "image/heif",
	".ico":  "image/vnd.microsoft.icon",
	".m4a":  "audio/mp4",
	".m4v":  "video/x-m4v",
	".md":   "text/markdown; charset=utf-8",
	".mkv":  "video/x-matroska",
	".mov":  "video/quicktime",
	".mp3":  "audio/mpeg",
	".mp4":  "video/mp4",
	".mpeg": "video/mpeg",
	".mpg":  "video/mpeg",
	".mxf":  "application/mxf",
	".nef":  "image/x-nikon-nef",
	".odp":  "application/vnd.oasis.opendocument.presentation",
	".ods":  "application/vnd.oasis.opendocument.spreadsheet",
	".odt":  "application/vnd.oasis.opendocument.text",
	".ogg":  "audio/ogg",
	".opus": "audio/opus",
	".ppt":  "application/vnd.ms-powerpoint",
	".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
	".psd":  "image/vnd.adobe.photoshop",
	".rar":  "application/vnd.rar",
	".rtf":  "application/rtf",
	".tar":  "application/x-tar",
	".tif":  "image/tiff",
	".tiff": "image/tiff",
	".txt":  "text/plain; charset=utf-8",
	".wav":  "audio/wav",
	".webm": "video/webm",
	".xls":  "application/vnd.ms-excel",
	".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
	".yaml": "application/yaml",
	".yml":  "application/yaml",
	".zip":  "application/zip",
}

// mimeFor guesses a file's media type from its name's extension.
func mimeFor(name string) string {
	ext := strings.ToLower(path.Ext(name))
	if ext == "" {
		return "application/octet-stream"
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	if t := fallbackTypes[ext]; t != "" {
		return t
	}
	return "application/octet-stream"
}

// MatchETag reports whether etag is in list, a comma-separated If-Match or
// If-None-Match value. Strong comparison ignores weak tags (W/"…"); weak
// comparison strips the W/.
func MatchETag(list, etag string, weak bool) bool {
	for _, c := range strings.Split(list, ",") {
		c = strings.TrimSpace(c)
		if strings.HasPrefix(c, "W/") {
			if !weak {
				continue
			}
			c = c[2:]
		}
		if c == etag {
			return true
		}
	}
	return false
}

// checkConditions applies PutOptions' If-Match and If-None-Match to the
// current node (exists false: none).
func checkConditions(o PutOptions, cur Node, exists bool) error {
	switch {
	case o.IfMatch == "*" && !exists:
		return fmt.Errorf("%w: If-Match: * but nothing is there", ErrPreconditionFailed)
	case o.IfMatch != "" && o.IfMatch != "*" && (!exists || !MatchETag(o.IfMatch, cur.ETag, false)):
		return fmt.Errorf("%w: If-Match %s does not match", ErrPreconditionFailed, o.IfMatch)
	case o.IfNoneMatch == "*" && exists:
		return fmt.Errorf("%w: If-None-Match: * but it exists", ErrPreconditionFailed)
	case o.IfNoneMatch != "" && o.IfNoneMatch != "*" && exists && MatchETag(o.IfNoneMatch, cur.ETag, true):
		return fmt.Errorf("%w: If-None-Match %s matches", ErrPreconditionFailed, o.IfNoneMatch)
	}
	return nil
}
