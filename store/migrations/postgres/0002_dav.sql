-- PostgreSQL twin of ../0002_dav.sql: the same schema, in PostgreSQL's types
-- (BIGINT for INTEGER, BYTEA for BLOB, text compared bytewise as SQLite
-- does: COLLATE "C").

-- WebDAV state that must survive restarts: dead properties and locks.

-- SHA-1 of a file, kept beside its SHA-256 for clients that verify nothing
-- else (rclone's owncloud and nextcloud vendors). '' when not computed.
ALTER TABLE nodes ADD COLUMN sha1 TEXT COLLATE "C" NOT NULL DEFAULT '';

-- Dead properties of a node (file or directory), set by PROPPATCH. They go
-- with the node: kept by MOVE (node ids are stable), copied by COPY, removed
-- with the node. xml is the property element's content, verbatim.
CREATE TABLE props (
    node_id BIGINT NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    ns      TEXT COLLATE "C" NOT NULL,
    name    TEXT COLLATE "C" NOT NULL,
    lang    TEXT COLLATE "C" NOT NULL DEFAULT '',
    xml     TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (node_id, ns, name)
);

-- WebDAV locks. They name paths, not nodes: a lock may be taken on a name
-- that does not exist yet, and a MOVE does not carry locks along. root is the
-- locked path in the space ('' for the space root); depth is 0 or -1
-- (infinity); expires_at is unix nanoseconds.
CREATE TABLE locks (
    token      TEXT COLLATE "C" PRIMARY KEY,
    space_id   TEXT COLLATE "C" NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    root       TEXT COLLATE "C" NOT NULL,
    depth      BIGINT NOT NULL CHECK (depth IN (0, -1)),
    shared     BIGINT NOT NULL CHECK (shared IN (0, 1)),
    owner_xml  TEXT COLLATE "C" NOT NULL DEFAULT '',
    user_id    BIGINT REFERENCES users (id) ON DELETE CASCADE,
    timeout_s  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX locks_space_root ON locks (space_id, root);
