-- PostgreSQL twin of ../0003_jobs.sql: the same schema, in PostgreSQL's types
-- (BIGINT for INTEGER, BYTEA for BLOB, text compared bytewise as SQLite
-- does: COLLATE "C").

-- Processing jobs (postproc): one row per finished upload going
-- through the pipeline, written before it runs and after every step, so a
-- crash resumes at the first unfinished step. Finished rows are kept for the
-- progress endpoint and HEAD after a restart, until pruned.
--
-- No foreign keys on purpose: the record of a job must outlive a deleted
-- user or space (it says why the file never appeared).
--
-- staged is the bytes' absolute path while they are ours to install,
-- quarantine or delete; '' once they have been disposed of. expect holds the
-- client's checksums as space-separated "algo:hex". steps_done counts the
-- pipeline's steps finished (in its fixed order). metadata is JSON written
-- by the pipeline. Times are unix nanoseconds; mtime 0 means "now".
CREATE TABLE jobs (
    id            TEXT COLLATE "C" PRIMARY KEY,
    space_id      TEXT COLLATE "C" NOT NULL,
    path          TEXT COLLATE "C" NOT NULL,
    staged        TEXT COLLATE "C" NOT NULL DEFAULT '',
    size          BIGINT NOT NULL,
    sha256        TEXT COLLATE "C" NOT NULL DEFAULT '',
    sha1          TEXT COLLATE "C" NOT NULL DEFAULT '',
    expect        TEXT COLLATE "C" NOT NULL DEFAULT '',
    user_id       BIGINT NOT NULL DEFAULT 0,
    user_name     TEXT COLLATE "C" NOT NULL DEFAULT '',
    mtime         BIGINT NOT NULL DEFAULT 0,
    quick         BIGINT NOT NULL DEFAULT 0 CHECK (quick IN (0, 1)),
    if_match      TEXT COLLATE "C" NOT NULL DEFAULT '',
    if_none_match TEXT COLLATE "C" NOT NULL DEFAULT '',
    state         TEXT COLLATE "C" NOT NULL CHECK (state IN ('queued', 'running', 'installing', 'done', 'rejected')),
    step          TEXT COLLATE "C" NOT NULL DEFAULT '',
    percent       BIGINT NOT NULL DEFAULT 0,
    message       TEXT COLLATE "C" NOT NULL DEFAULT '',
    error         TEXT COLLATE "C" NOT NULL DEFAULT '',
    steps_done    BIGINT NOT NULL DEFAULT 0,
    node_id       BIGINT NOT NULL DEFAULT 0,
    etag          TEXT COLLATE "C" NOT NULL DEFAULT '',
    mime          TEXT COLLATE "C" NOT NULL DEFAULT '',
    metadata      TEXT COLLATE "C" NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
-- Start looks for unfinished jobs and undisposed bytes; Prune for old
-- finished jobs.
CREATE INDEX jobs_state_updated ON jobs (state, updated_at);
