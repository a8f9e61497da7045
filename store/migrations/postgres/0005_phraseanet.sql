-- PostgreSQL twin of ../0005_phraseanet.sql: the same schema, in PostgreSQL's types
-- (BIGINT for INTEGER, BYTEA for BLOB, text compared bytewise as SQLite
-- does: COLLATE "C").

-- Phraseanet hand-off (phraseanet): targets, commits, their assets,
-- the push outbox (the commits' push columns), pull-mode bearer tokens and
-- the record of files already handed off whose commit rows were pruned.
-- Times are unix nanoseconds; 0 means "not yet" / "never". Durations are
-- nanoseconds. JSON columns hold what the service wrote; the store does not
-- read them.

-- A target: where commits of one space (optionally one folder of it) go.
-- mode: push (Wharf calls enqueue_url), pull (Phraseanet polls), both.
-- params is a JSON object merged over every commit's form data;
-- form_schema the JSON schema of the form ('' = none). every (an interval)
-- or daily_at ("HH:MM", server local time) drive the scheduler (both
-- empty: no scheduled commits). after_ack: keep, delete or move:<folder>. The client
-- credentials are kept in clear so that `wharf target test` can print them.
CREATE TABLE phraseanet_targets (
    id            TEXT COLLATE "C" PRIMARY KEY,
    name          TEXT COLLATE "C" NOT NULL UNIQUE,
    space_id      TEXT COLLATE "C" NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    folder        TEXT COLLATE "C" NOT NULL DEFAULT '',
    mode          TEXT COLLATE "C" NOT NULL CHECK (mode IN ('push', 'pull', 'both')),
    enqueue_url   TEXT COLLATE "C" NOT NULL DEFAULT '',
    scheme        TEXT COLLATE "C" NOT NULL DEFAULT 'OAuth',
    auth_key      TEXT COLLATE "C" NOT NULL DEFAULT '',
    destination   TEXT COLLATE "C" NOT NULL DEFAULT '',
    params        TEXT COLLATE "C" NOT NULL DEFAULT '{}',
    form_schema   TEXT COLLATE "C" NOT NULL DEFAULT '',
    every         BIGINT NOT NULL DEFAULT 0 CHECK (every >= 0),
    daily_at      TEXT COLLATE "C" NOT NULL DEFAULT '',
    max_files     BIGINT NOT NULL CHECK (max_files > 0),
    max_bytes     BIGINT NOT NULL CHECK (max_bytes > 0),
    after_ack     TEXT COLLATE "C" NOT NULL DEFAULT 'keep',
    grace         BIGINT NOT NULL DEFAULT 0 CHECK (grace >= 0),
    retention     BIGINT NOT NULL CHECK (retention >= 0),
    enabled       BIGINT NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    client_id     TEXT COLLATE "C" NOT NULL UNIQUE,
    client_secret TEXT COLLATE "C" NOT NULL,
    last_run_at   BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL
);
CREATE INDEX phraseanet_targets_space ON phraseanet_targets (space_id);

-- A commit: a batch of files handed to one target, with its form data and
-- its AssetToken (token). push = 1 puts it in the outbox: the worker sends
-- it while state is pending or failing and next_attempt_at has come.
-- disposed_at is when the after-ack action (keep/delete/move) was done.
CREATE TABLE phraseanet_commits (
    id              TEXT COLLATE "C" PRIMARY KEY,
    target_id       TEXT COLLATE "C" NOT NULL REFERENCES phraseanet_targets (id) ON DELETE CASCADE,
    token           TEXT COLLATE "C" NOT NULL UNIQUE,
    user_id         BIGINT NOT NULL DEFAULT 0,
    form_data       TEXT COLLATE "C" NOT NULL DEFAULT '{}',
    total_size      BIGINT NOT NULL DEFAULT 0,
    state           TEXT COLLATE "C" NOT NULL CHECK (state IN ('pending', 'pushed', 'failing', 'acknowledged')),
    push            BIGINT NOT NULL DEFAULT 0 CHECK (push IN (0, 1)),
    attempts        BIGINT NOT NULL DEFAULT 0,
    last_error      TEXT COLLATE "C" NOT NULL DEFAULT '',
    next_attempt_at BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    acknowledged_at BIGINT NOT NULL DEFAULT 0,
    disposed_at     BIGINT NOT NULL DEFAULT 0
);
-- The outbox query, the listing of a target's commits, the janitor.
CREATE INDEX phraseanet_commits_outbox ON phraseanet_commits (push, state, next_attempt_at);
CREATE INDEX phraseanet_commits_target ON phraseanet_commits (target_id, acknowledged_at, created_at);

-- An asset: one file of a commit. node_id is unique: a file goes into at
-- most one commit, ever (no foreign key: the file may be deleted or moved
-- after the hand-off, the record stays). path and original_name are as at
-- commit time.
CREATE TABLE phraseanet_assets (
    id              TEXT COLLATE "C" PRIMARY KEY,
    commit_id       TEXT COLLATE "C" NOT NULL REFERENCES phraseanet_commits (id) ON DELETE CASCADE,
    node_id         BIGINT NOT NULL UNIQUE,
    space_id        TEXT COLLATE "C" NOT NULL,
    path            TEXT COLLATE "C" NOT NULL,
    size            BIGINT NOT NULL,
    original_name   TEXT COLLATE "C" NOT NULL,
    mime            TEXT COLLATE "C" NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL,
    acknowledged_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX phraseanet_assets_commit ON phraseanet_assets (commit_id);

-- Files whose commit rows were pruned after the retention period: they
-- stay handed off, so the scheduler never commits them again. Node ids are
-- never reused (AUTOINCREMENT).
CREATE TABLE phraseanet_done (
    node_id   BIGINT PRIMARY KEY,
    target_id TEXT COLLATE "C" NOT NULL,
    done_at   BIGINT NOT NULL
);

-- Pull-mode bearer tokens from POST /oauth/v2/token. Only a SHA-256 of the
-- secret is kept.
CREATE TABLE phraseanet_tokens (
    hash       TEXT COLLATE "C" PRIMARY KEY,
    target_id  TEXT COLLATE "C" NOT NULL REFERENCES phraseanet_targets (id) ON DELETE CASCADE,
    scope      TEXT COLLATE "C" NOT NULL,
    expires_at BIGINT NOT NULL
);
