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
    id            TEXT PRIMARY KEY,
    token_hash    TEXT NOT NULL UNIQUE,
    node_id       INTEGER NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    creator_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind          TEXT NOT NULL CHECK (kind IN ('read', 'upload')),
    label         TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL DEFAULT '',
    max_downloads INTEGER NOT NULL DEFAULT 0 CHECK (max_downloads >= 0),
    downloads     INTEGER NOT NULL DEFAULT 0 CHECK (downloads >= 0),
    max_uploads   INTEGER NOT NULL DEFAULT 0 CHECK (max_uploads >= 0),
    uploads       INTEGER NOT NULL DEFAULT 0 CHECK (uploads >= 0),
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX links_node ON links (node_id);
CREATE INDEX links_creator ON links (creator_id);

-- An upload made through a drop link records the link ('' otherwise): its
-- user is the link's creator, and only requests through the same link may
-- resume it.
ALTER TABLE uploads ADD COLUMN link_id TEXT NOT NULL DEFAULT '';
