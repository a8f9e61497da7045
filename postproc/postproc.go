// Package postproc is the processing pipeline every finished upload goes
// through before it appears in a space: checksum verification, type
// sniffing, policy, virus scan (clamd), thumbnails and metadata. A job is
// recorded in SQLite before it runs and resumes after a crash from its last
// finished step; success installs the file into the space atomically
// (space.Tree.PutFile) and publishes node.created, failure keeps it out and
// records the step and the reason.
//
// What the steps learn of a file — the virus scan's verdict, the metadata —
// is recorded per content (store.Content) when the file is installed; a
// file installed after the quick steps only gets the others from a
// background pass (enrich.go). Scanner is the same virus scan for files
// already in a space, which the space tree calls on their first exposure
// (space.Scanner).
//
// Its one HTTP endpoint is the progress of a job (Progress), which the
// upload front ends name in Progress-Location; it knows nothing of tus or
// WebDAV. Each space's policy is read from the store (SpacePolicies).
//
// postproc imports space, events, auth (who may watch a job), store and
// internal/api.
package postproc

import (
	"errors"
	"time"

	"github.com/wharfhq/wharf/space"
	"github.com/wharfhq/wharf/store"
)

// State is where a job stands.
type State string

const (
	Queued   State = "queued"   // recorded, waiting for a worker
	Running  State = "running"  // a step is running
	Done     State = "done"     // installed in the space
	Rejected State = "rejected" // a step failed: the file is not in the space
)

// Final reports whether a job in state s will not change any more.
func (s State) Final() bool { return s == Done || s == Rejected }

// Checksum is a checksum a client sent along with the bytes (tus
// Upload-Checksum, OC-Checksum, Digest), to be verified by the checksum
// step. Algo is "sha256", "sha1" or "md5"; Hex is lowercase hex.
type Checksum struct {
	Algo, Hex string
}

// Job is a file to process. The bytes are a staged file under the data
// directory's uploads/ (on the filesystem of spaces/); on success it is
// renamed into the space, on rejection quarantined or deleted.
type Job struct {
	// ID names the job (the tus upload id, or a fresh id for a PUT). It is
	// what /api/v1/uploads/<id>/progress shows.
	ID     string
	Space  string // destination space
	Path   string // destination path in the space (cleaned by the caller)
	Staged string // absolute path of the bytes
	// Blob is, in object-store mode (space.Tree.ObjectMode), the key of
	// the bytes in the store (space.Tree.NewObject), instead of Staged. A
	// job submitted with Staged in that mode has its file stored first,
	// so that any replica can run it.
	Blob string
	Size int64
	// SHA256 is the bytes' SHA-256 as computed while they streamed in
	// (lowercase hex). "": the checksum step computes it (one read).
	SHA256 string
	// SHA1 likewise, if known ("" is fine: it is then not computed).
	SHA1 string
	// Expect are the client's checksums to verify; a mismatch rejects.
	Expect []Checksum
	// UserID is who uploaded (0 for an upload token).
	UserID int64
	// User is the uploader's name, for events.
	User string
	// MTime is the modification time to give the file. Zero: now.
	MTime time.Time
	// Put carries the conditions of the install (If-Match, If-None-Match).
	// ExpectedSize, MIME and Verify are ignored.
	Put space.PutOptions
	// Head is the file's first bytes as they streamed in
	// (space.Staged.Head), if the caller has them: the type is sniffed
	// from them rather than from the file. nil: read from the file.
	Head []byte
	// Quick runs only the quick steps (checksum, sniff, policy, and the
	// virus scan when clamd is configured), as WebDAV PUTs do unless their
	// space asks for more.
	Quick bool
	// Record, if set, is called by Submit in the transaction that records
	// the job, so that the caller's own record of the hand-off commits
	// with it (tus marks its upload processing this way). If the job was
	// recorded before (a retry after a crash), it runs in a transaction
	// of its own.
	Record func(tx *store.Tx) error
}

// Status is a job's state as the progress endpoint reports it.
type Status struct {
	ID      string    `json:"id"`
	Space   string    `json:"space"`
	Path    string    `json:"path"`
	State   State     `json:"state"`
	Step    string    `json:"step,omitempty"`    // running or failed step
	Percent int       `json:"percent"`           // of the running step
	Message string    `json:"message,omitempty"` // the running step's last word
	Error   string    `json:"error,omitempty"`   // why it was rejected
	Updated time.Time `json:"updated"`
	// Node is the installed file, once Done.
	Node *space.Node `json:"-"`
	// Created tells, once Done, whether the install created the file
	// rather than replacing one (known to the process that installed it;
	// false when read back from the record).
	Created bool `json:"-"`
	// ETag and FileID of the installed file, once Done.
	ETag   string `json:"etag,omitempty"`
	FileID int64  `json:"fileId,omitempty"`
	// MIME is the sniffed media type, once the sniff step has run.
	MIME string `json:"mime,omitempty"`
	// Metadata is what the metadata and thumbnail steps found, as recorded
	// (decoded from JSON: numbers are float64): "width", "height", "exif"
	// {"dateTimeOriginal", "make", "model", "orientation"} and "thumbnail"
	// (the file name in the thumbnails directory), each when found.
	Metadata map[string]any `json:"metadata,omitempty"`
}

// ErrClosed is returned by Submit, and by Wait for a job still running,
// once the Runner is closed.
var ErrClosed = errors.New("postproc: runner closed")

// ErrJobExists is returned by Submit for a job id already submitted.
var ErrJobExists = errors.New("postproc: job already submitted")

// progressPrefix is where Progress serves a job's progress.
const progressPrefix = "/api/v1/uploads/"

// ProgressURL is the path of job id's progress (JSON or websocket), which
// the upload front ends name in Progress-Location.
func ProgressURL(id string) string { return progressPrefix + id + "/progress" }

// ErrUnknownJob is returned for a job id that was never submitted (or whose
// record has been cleaned up).
var ErrUnknownJob = errors.New("postproc: unknown job")

// RejectedError is what Wait returns (with the Status) for a rejected job.
type RejectedError struct {
	Step, Reason string
}

func (e *RejectedError) Error() string { return e.Step + ": " + e.Reason }
