-- PostgreSQL twin of ../0015_trash_versions.sql: the same schema, in PostgreSQL's types
-- (BIGINT for INTEGER, BYTEA for BLOB, text compared bytewise as SQLite
-- does: COLLATE "C").

-- Trash and versions (issue 20). A deleted file or folder leaves the space
-- for the trash (its files under trash/<space>/<id> in the data directory),
-- and an overwritten file's previous content becomes a version (under
-- versions/<space>/<id>). Both keep their bytes out of the visible tree
-- until they are restored or purged.
--
-- Retention per space: days in the trash (0: no trash, deletes are final),
-- versions kept per file (0: none) and their days.
ALTER TABLE spaces ADD COLUMN trash_days BIGINT NOT NULL DEFAULT 30 CHECK (trash_days >= 0);
ALTER TABLE spaces ADD COLUMN keep_versions BIGINT NOT NULL DEFAULT 10 CHECK (keep_versions >= 0);
ALTER TABLE spaces ADD COLUMN version_days BIGINT NOT NULL DEFAULT 30 CHECK (version_days >= 0);

-- One row per trashed item (the top of what was deleted). nodes is the JSON
-- of the subtree's index rows, paths relative to the item, so a restore
-- puts the index back as it was (same node ids) without reading the files.
-- restoring is the destination of a restore in progress (NULL otherwise):
-- it is recorded before the item is renamed out of the trash, so a crash
-- in between is undone at the next start.
CREATE TABLE trash (
    id         TEXT COLLATE "C" PRIMARY KEY,
    space_id   TEXT COLLATE "C" NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    node_id    BIGINT NOT NULL,
    path       TEXT COLLATE "C" NOT NULL,
    is_dir     BIGINT NOT NULL CHECK (is_dir IN (0, 1)),
    size       BIGINT NOT NULL,
    files      BIGINT NOT NULL,
    deleted_by TEXT COLLATE "C" NOT NULL DEFAULT '',
    deleted_at BIGINT NOT NULL,
    nodes      TEXT COLLATE "C" NOT NULL,
    restoring  TEXT COLLATE "C"
);
CREATE INDEX trash_space ON trash (space_id, deleted_at);

-- One row per kept version of a file (node_id). A version of a file that is
-- in the trash names its trash item: it is purged with it, and comes back
-- with it.
CREATE TABLE versions (
    id         TEXT COLLATE "C" PRIMARY KEY,
    space_id   TEXT COLLATE "C" NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    node_id    BIGINT NOT NULL,
    size       BIGINT NOT NULL,
    mtime      BIGINT NOT NULL,
    sha256     TEXT COLLATE "C" NOT NULL,
    sha1       TEXT COLLATE "C" NOT NULL DEFAULT '',
    mime       TEXT COLLATE "C" NOT NULL DEFAULT '',
    created_by TEXT COLLATE "C" NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    trash_id   TEXT COLLATE "C" REFERENCES trash (id) ON DELETE SET NULL
);
CREATE INDEX versions_node ON versions (node_id, created_at);
CREATE INDEX versions_space ON versions (space_id, created_at);
CREATE INDEX versions_trash ON versions (trash_id) WHERE trash_id IS NOT NULL;
