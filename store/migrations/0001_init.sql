-- Foundation schema: users, credentials, spaces, members and the node index.
-- Times are INTEGER unix nanoseconds (UTC). Booleans are INTEGER 0/1.

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) STRICT;

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    admin         INTEGER NOT NULL DEFAULT 0 CHECK (admin IN (0, 1)),
    created_at    INTEGER NOT NULL
) STRICT;

-- App passwords are 128-bit random secrets: a SHA-256 of them is as good as a
-- slow hash and cheap enough to check on every WebDAV request.
CREATE TABLE app_passwords (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    label        TEXT NOT NULL,
    hash         TEXT NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    UNIQUE (user_id, label)
) STRICT;

CREATE TABLE spaces (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    quota_bytes INTEGER NOT NULL DEFAULT 0 CHECK (quota_bytes >= 0), -- 0: no quota
    used_bytes  INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE space_members (
    space_id TEXT NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    user_id  INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role     TEXT NOT NULL CHECK (role IN ('viewer', 'editor', 'manager')),
    PRIMARY KEY (space_id, user_id)
) STRICT;
CREATE INDEX space_members_user ON space_members (user_id);

-- Bearer tokens (sessions, API tokens, upload tokens). Only a SHA-256 of the
-- secret is kept. space_id/prefix narrow an upload token; scopes is a
-- space-separated list.
CREATE TABLE tokens (
    id           TEXT PRIMARY KEY,
    hash         TEXT NOT NULL UNIQUE,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind         TEXT NOT NULL CHECK (kind IN ('session', 'api', 'upload')),
    label        TEXT NOT NULL DEFAULT '',
    scopes       TEXT NOT NULL DEFAULT '',
    space_id     TEXT REFERENCES spaces (id) ON DELETE CASCADE,
    prefix       TEXT NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    last_used_at INTEGER
) STRICT;
CREATE INDEX tokens_user ON tokens (user_id);

-- The node index: one row per file or directory of every space. path is the
-- slash-separated NFC path relative to the space root ('' for the root), so a
-- subtree is the range [path || '/', path || '0').
CREATE TABLE nodes (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    space_id  TEXT NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    parent_id INTEGER REFERENCES nodes (id) ON DELETE CASCADE,
    path      TEXT NOT NULL,
    name      TEXT NOT NULL,
    is_dir    INTEGER NOT NULL CHECK (is_dir IN (0, 1)),
    size      INTEGER NOT NULL DEFAULT 0,
    mtime     INTEGER NOT NULL,
    ctime     INTEGER NOT NULL,
    etag      TEXT NOT NULL,
    sha256    TEXT NOT NULL DEFAULT '',
    mime      TEXT NOT NULL DEFAULT '',
    UNIQUE (space_id, path)
) STRICT;
CREATE INDEX nodes_parent ON nodes (parent_id, name);
