-- PostgreSQL twin of ../0004_uploads.sql: the same schema, in PostgreSQL's types
-- (BIGINT for INTEGER, BYTEA for BLOB, text compared bytewise as SQLite
-- does: COLLATE "C").

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
    id           TEXT COLLATE "C" PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_id     TEXT COLLATE "C" NOT NULL DEFAULT '',
    space_id     TEXT COLLATE "C" REFERENCES spaces (id) ON DELETE CASCADE,
    path         TEXT COLLATE "C" NOT NULL DEFAULT '',
    size         BIGINT NOT NULL CHECK (size >= -1),
    received     BIGINT NOT NULL DEFAULT 0,
    partial      BIGINT NOT NULL DEFAULT 0 CHECK (partial IN (0, 1)),
    state        TEXT COLLATE "C" NOT NULL CHECK (state IN ('receiving', 'processing', 'done', 'rejected')),
    step         TEXT COLLATE "C" NOT NULL DEFAULT '',
    error        TEXT COLLATE "C" NOT NULL DEFAULT '',
    hashed       BIGINT NOT NULL DEFAULT 0,
    sha256_state BYTEA,
    sha1_state   BYTEA,
    expect       TEXT COLLATE "C" NOT NULL DEFAULT '',
    mtime        BIGINT NOT NULL DEFAULT 0,
    node_id      BIGINT NOT NULL DEFAULT 0,
    etag         TEXT COLLATE "C" NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
-- The janitor's sweeps: expired receiving uploads, processing ones, old
-- finished ones; the quota check: bytes pending in a space.
CREATE INDEX uploads_state_expires ON uploads (state, expires_at);
CREATE INDEX uploads_space_state ON uploads (space_id, state);
