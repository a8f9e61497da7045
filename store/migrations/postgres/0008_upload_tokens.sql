-- PostgreSQL twin of ../0008_upload_tokens.sql: the same schema, in PostgreSQL's types
-- (BIGINT for INTEGER, BYTEA for BLOB, text compared bytewise as SQLite
-- does: COLLATE "C").

-- Publishing from scripts (issue 9).
--
-- upload_token_limits: what an upload token (a tokens row of kind 'upload')
-- may still create, and what it has used. A token without a row has no
-- limits beyond its space and prefix. max_bytes and max_files are 0 for no
-- limit; used_bytes and used_files count every upload created with the
-- token (announced sizes), whatever became of it. Revoking the token
-- deletes its row.
CREATE TABLE upload_token_limits (
    token_id   TEXT COLLATE "C" PRIMARY KEY REFERENCES tokens (id) ON DELETE CASCADE,
    max_bytes  BIGINT NOT NULL DEFAULT 0 CHECK (max_bytes >= 0),
    max_files  BIGINT NOT NULL DEFAULT 0 CHECK (max_files >= 0),
    used_bytes BIGINT NOT NULL DEFAULT 0 CHECK (used_bytes >= 0),
    used_files BIGINT NOT NULL DEFAULT 0 CHECK (used_files >= 0)
);

-- node_metadata: the metadata a finalization stored on a file, as a JSON
-- object. It goes with the node.
CREATE TABLE node_metadata (
    node_id    BIGINT PRIMARY KEY REFERENCES nodes (id) ON DELETE CASCADE,
    json       TEXT COLLATE "C" NOT NULL,
    updated_at BIGINT NOT NULL
);

-- finalizations: the final answers of POST /api/v1/uploads/finalize, so
-- that finalizing the same uploads again answers the same and never makes
-- a second commit. key is a hash of the caller, the sorted upload ids and
-- the target; answer is the JSON answered; commit_id is '' without one.
CREATE TABLE finalizations (
    key        TEXT COLLATE "C" PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    target_id  TEXT COLLATE "C" NOT NULL DEFAULT '',
    commit_id  TEXT COLLATE "C" NOT NULL DEFAULT '',
    answer     TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL
);
