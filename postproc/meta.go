package postproc

import (
	"encoding/json"
	"strings"

	"github.com/wharfhq/wharf/store"
)

// The pipeline's findings outlive the job: they are recorded per content
// (store.Content, by SHA-256) when a file is installed after the full
// steps, or, for a file installed after the quick steps only (a WebDAV
// PUT), by the background pass that runs the other steps on it soon after
// (see Runner.enrich). FileMeta is how the surfaces show them.

// FileMeta is what is known of a file's content, as the surfaces show it:
// the node JSON of the web API ("meta"), GET /api/v1/metadata ("file") and
// the WebDAV properties in Wharf's namespace.
type FileMeta struct {
	MIME   string `json:"mime"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	SHA1   string `json:"sha1,omitempty"`
	// Scanned: the virus scanner found the content clean.
	Scanned bool `json:"scanned"`
	// Extracted: the thumbnail and metadata steps have looked at the
	// content; what they found follows (each field when found).
	Extracted   bool   `json:"extracted"`
	Width       int    `json:"width,omitempty"`
	Height      int    `json:"height,omitempty"`
	Make        string `json:"make,omitempty"`
	Model       string `json:"model,omitempty"`
	Captured    string `json:"captured,omitempty"` // EXIF DateTimeOriginal as ISO 8601, camera's local time
	Orientation int    `json:"orientation,omitempty"`
	Thumbnail   bool   `json:"thumbnail,omitempty"`
}

// recorded is the JSON of the findings as the steps leave them in a
// task's meta and as they are recorded (store.Content.Meta).
type recorded struct {
	Width     int    `json:"width"`
	Height    int    `json:"height"`
	Thumbnail string `json:"thumbnail"`
	EXIF      struct {
		DateTimeOriginal string `json:"dateTimeOriginal"`
		Make             string `json:"make"`
		Model            string `json:"model"`
		Orientation      int    `json:"orientation"`
	} `json:"exif"`
}

// Describe is what is known of file n, whose content is c (a zero Content
// when nothing is recorded).
func Describe(n store.Node, c store.Content) FileMeta {
	m := FileMeta{MIME: n.MIME, Size: n.Size, SHA256: n.SHA256, SHA1: n.SHA1, Scanned: c.Scanned() && c.SHA256 == n.SHA256}
	if m.MIME == "" {
		m.MIME = "application/octet-stream"
	}
	if c.Meta == "" || c.SHA256 != n.SHA256 {
		return m
	}
	var r recorded
	if err := json.Unmarshal([]byte(c.Meta), &r); err != nil {
		return m // written by us; a bad one is just left out
	}
	m.Extracted = true
	m.Width, m.Height, m.Thumbnail = r.Width, r.Height, r.Thumbnail != ""
	m.Make, m.Model, m.Orientation = r.EXIF.Make, r.EXIF.Model, r.EXIF.Orientation
	m.Captured = exifTime(r.EXIF.DateTimeOriginal)
	return m
}

// exifTime turns EXIF's "2006:01:02 15:04:05" into "2006-01-02T15:04:05";
// anything else is returned as it is.
func exifTime(s string) string {
	s = strings.TrimSpace(s)
	if len(s) == 19 && s[4] == ':' && s[7] == ':' && s[10] == ' ' {
		return s[:4] + "-" + s[5:7] + "-" + s[8:10] + "T" + s[11:]
	}
	return s
}

// enriched lists the media types the steps a quick job skips
// (thumbnail, metadata) read: files of other types have nothing to find.
var enriched = []string{"image/jpeg", "image/png", "image/gif"}

func wantsEnrich(mime string) bool {
	m := mediaType(mime)
	for _, e := range enriched {
		if m == e {
			return true
		}
	}
	return false
}
