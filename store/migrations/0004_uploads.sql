-- tus uploads (tus): one row per upload, written by the create hook
-- before the client gets its 201, so the owner, the destination and the
-- running hash survive a restart. The bytes themselves are in uploads/tus/
-- (tusd's filestore: <id> and <id>.info).
--
-- space_id is NULL for a partial upload of the concatenation extension (its
-- destination comes with the final upload). size is -1 while the length is
-- deferred. received is the offset last recorded; hashed is the offset the
-- digest states cover (their encoding.BinaryMarshaler form; NULL: that
-- digest is not computed). expect holds the client's whole-file checksums
-- as space-separated "algo:hex". token_id is the upload token that created
-- the upload ('' for a user's own credentials). mtime is the modification
-- time the client asked for (0: none). node_id and etag describe
-- the installed file once done. Times are unix nanoseconds.
--
-- No dependency on the jobs table: an upload's job has the upload's id.
CREATE TABLE uploads (
    id           TEXT PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_id     TEXT NOT NULL DEFAULT '',
    space_id     TEXT REFERENCES spaces (id) ON DELETE CASCADE,
    path         TEXT NOT NULL DEFAULT '',
    size         INTEGER NOT NULL CHECK (size >= -1),
    received     INTEGER NOT NULL DEFAULT 0,
    partial      INTEGER NOT NULL DEFAULT 0 CHECK (partial IN (0, 1)),
    state        TEXT NOT NULL CHECK (state IN ('receiving', 'processing', 'done', 'rejected')),
    step         TEXT NOT NULL DEFAULT '',
    error        TEXT NOT NULL DEFAULT '',
    hashed       INTEGER NOT NULL DEFAULT 0,
    sha256_state BLOB,
    sha1_state   BLOB,
    expect       TEXT NOT NULL DEFAULT '',
    mtime        INTEGER NOT NULL DEFAULT 0,
    node_id      INTEGER NOT NULL DEFAULT 0,
    etag         TEXT NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
) STRICT;
-- The janitor's sweeps: expired receiving uploads, processing ones, old
-- finished ones; the quota check: bytes pending in a space.
CREATE INDEX uploads_state_expires ON uploads (state, expires_at);
CREATE INDEX uploads_space_state ON uploads (space_id, state);
