-- PostgreSQL twin of ../0013_links.sql: the same schema, in PostgreSQL's types
-- (BIGINT for INTEGER, BYTEA for BLOB, text compared bytewise as SQLite
-- does: COLLATE "C").

-- Share links (issue 20). A link gives anonymous access to one node: read
-- (a file, or a folder's listing and zip) or upload-only (a file drop into
-- a folder). It is bound to the node's id, so it follows renames and moves
-- and goes with the node. Only a SHA-256 of the link's secret token is
-- kept. kind is 'read' or 'upload'. password_hash is an argon2id hash as
-- for account passwords ('' for none). max_downloads and max_uploads are 0
-- for no limit; downloads and uploads count what was served and created.
-- expires_at is unix nanoseconds, 0 for never. The creator's role is
-- checked at every use: the link dies with it (and with the user).
CREATE TABLE links (
    id            TEXT COLLATE "C" PRIMARY KEY,
    token_hash    TEXT COLLATE "C" NOT NULL UNIQUE,
    node_id       BIGINT NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    creator_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind          TEXT COLLATE "C" NOT NULL CHECK (kind IN ('read', 'upload')),
    label         TEXT COLLATE "C" NOT NULL DEFAULT '',
    password_hash TEXT COLLATE "C" NOT NULL DEFAULT '',
    max_downloads BIGINT NOT NULL DEFAULT 0 CHECK (max_downloads >= 0),
    downloads     BIGINT NOT NULL DEFAULT 0 CHECK (downloads >= 0),
    max_uploads   BIGINT NOT NULL DEFAULT 0 CHECK (max_uploads >= 0),
    uploads       BIGINT NOT NULL DEFAULT 0 CHECK (uploads >= 0),
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX links_node ON links (node_id);
CREATE INDEX links_creator ON links (creator_id);

-- An upload made through a drop link records the link ('' otherwise): its
-- user is the link's creator, and only requests through the same link may
-- resume it.
ALTER TABLE uploads ADD COLUMN link_id TEXT COLLATE "C" NOT NULL DEFAULT '';
