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
    id            TEXT PRIMARY KEY,
    space_id      TEXT NOT NULL,
    path          TEXT NOT NULL,
    staged        TEXT NOT NULL DEFAULT '',
    size          INTEGER NOT NULL,
    sha256        TEXT NOT NULL DEFAULT '',
    sha1          TEXT NOT NULL DEFAULT '',
    expect        TEXT NOT NULL DEFAULT '',
    user_id       INTEGER NOT NULL DEFAULT 0,
    user_name     TEXT NOT NULL DEFAULT '',
    mtime         INTEGER NOT NULL DEFAULT 0,
    quick         INTEGER NOT NULL DEFAULT 0 CHECK (quick IN (0, 1)),
    if_match      TEXT NOT NULL DEFAULT '',
    if_none_match TEXT NOT NULL DEFAULT '',
    state         TEXT NOT NULL CHECK (state IN ('queued', 'running', 'installing', 'done', 'rejected')),
    step          TEXT NOT NULL DEFAULT '',
    percent       INTEGER NOT NULL DEFAULT 0,
    message       TEXT NOT NULL DEFAULT '',
    error         TEXT NOT NULL DEFAULT '',
    steps_done    INTEGER NOT NULL DEFAULT 0,
    node_id       INTEGER NOT NULL DEFAULT 0,
    etag          TEXT NOT NULL DEFAULT '',
    mime          TEXT NOT NULL DEFAULT '',
    metadata      TEXT NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;
-- Start looks for unfinished jobs and undisposed bytes; Prune for old
-- finished jobs.
CREATE INDEX jobs_state_updated ON jobs (state, updated_at);
