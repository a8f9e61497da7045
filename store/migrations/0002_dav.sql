-- WebDAV state that must survive restarts: dead properties and locks.

-- SHA-1 of a file, kept beside its SHA-256 for clients that verify nothing
-- else (rclone's owncloud and nextcloud vendors). '' when not computed.
ALTER TABLE nodes ADD COLUMN sha1 TEXT NOT NULL DEFAULT '';

-- Dead properties of a node (file or directory), set by PROPPATCH. They go
-- with the node: kept by MOVE (node ids are stable), copied by COPY, removed
-- with the node. xml is the property element's content, verbatim.
CREATE TABLE props (
    node_id INTEGER NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    ns      TEXT NOT NULL,
    name    TEXT NOT NULL,
    lang    TEXT NOT NULL DEFAULT '',
    xml     TEXT NOT NULL,
    PRIMARY KEY (node_id, ns, name)
) STRICT, WITHOUT ROWID;

-- WebDAV locks. They name paths, not nodes: a lock may be taken on a name
-- that does not exist yet, and a MOVE does not carry locks along. root is the
-- locked path in the space ('' for the space root); depth is 0 or -1
-- (infinity); expires_at is unix nanoseconds.
CREATE TABLE locks (
    token      TEXT PRIMARY KEY,
    space_id   TEXT NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    root       TEXT NOT NULL,
    depth      INTEGER NOT NULL CHECK (depth IN (0, -1)),
    shared     INTEGER NOT NULL CHECK (shared IN (0, 1)),
    owner_xml  TEXT NOT NULL DEFAULT '',
    user_id    INTEGER REFERENCES users (id) ON DELETE CASCADE,
    timeout_s  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX locks_space_root ON locks (space_id, root);
