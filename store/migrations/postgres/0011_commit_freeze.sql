-- PostgreSQL twin of ../0011_commit_freeze.sql: the same schema, in PostgreSQL's types
-- (BIGINT for INTEGER, BYTEA for BLOB, text compared bytewise as SQLite
-- does: COLLATE "C").

-- What Phraseanet gets is what was committed; finalize is a gate (issue 18).
--
-- phraseanet_assets: sha256 is the SHA-256 (lowercase hex) of the bytes
-- the asset serves, and size their length, both read from the frozen copy
-- made when the commit was; frozen = 1 says that copy exists
-- (commits/<commit id>/<asset id> in the data directory). Rows of older
-- commits have frozen = 0 and are served from their node, as before.
ALTER TABLE phraseanet_assets ADD COLUMN sha256 TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE phraseanet_assets ADD COLUMN frozen BIGINT NOT NULL DEFAULT 0 CHECK (frozen IN (0, 1));

-- phraseanet_targets: exclude is the newline-separated list of name
-- patterns never committed; the word "defaults" stands for the built-in
-- list of operating-system junk. publisher_id is the user named as the
-- publisher of scheduled commits whose uploader is unknown (0: none).
ALTER TABLE phraseanet_targets ADD COLUMN exclude TEXT COLLATE "C" NOT NULL DEFAULT 'defaults';
ALTER TABLE phraseanet_targets ADD COLUMN publisher_id BIGINT NOT NULL DEFAULT 0;

-- users: an optional e-mail address, sent to Phraseanet as
-- phraseanet_submiter_email with the commits the user publishes.
ALTER TABLE users ADD COLUMN email TEXT COLLATE "C" NOT NULL DEFAULT '';

-- finalizations: request is a hash of what the finalization asked
-- (metadata and form), so that the same request again gets the recorded
-- answer and a different one a conflict. '' on older rows: any.
ALTER TABLE finalizations ADD COLUMN request TEXT COLLATE "C" NOT NULL DEFAULT '';

-- finalize_holds: the files an upload token delivered and nobody has
-- finalized yet. They stay out of commits while their token lives: the
-- finalization that names them releases them; revoking the token, or its
-- expiry (the token row is deleted), releases them too (ON DELETE CASCADE;
-- readers also ignore a hold whose token has expired but is not deleted
-- yet). A hold goes with its file.
CREATE TABLE finalize_holds (
    node_id   BIGINT PRIMARY KEY REFERENCES nodes (id) ON DELETE CASCADE,
    upload_id TEXT COLLATE "C" NOT NULL,
    token_id  TEXT COLLATE "C" NOT NULL REFERENCES tokens (id) ON DELETE CASCADE
);
CREATE INDEX finalize_holds_token ON finalize_holds (token_id);

-- The hold is made in the transaction that installs the file and marks its
-- job done (postproc), so no scheduler can see the file unheld in between.
-- A job's id is its upload's id.
CREATE FUNCTION finalize_hold() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO finalize_holds (node_id, upload_id, token_id)
    SELECT NEW.node_id, u.id, u.token_id FROM uploads u JOIN tokens t ON t.id = u.token_id
    WHERE u.id = NEW.id AND u.token_id != '' AND t.kind = 'upload'
    ON CONFLICT (node_id) DO UPDATE SET upload_id = excluded.upload_id, token_id = excluded.token_id;
    RETURN NULL;
END
$$;

CREATE TRIGGER finalize_hold AFTER UPDATE OF state ON jobs FOR EACH ROW
    WHEN (NEW.state = 'done' AND OLD.state != 'done' AND NEW.node_id != 0)
    EXECUTE FUNCTION finalize_hold();

-- Who uploaded a file, for the publisher of scheduled commits.
CREATE INDEX uploads_node ON uploads (node_id) WHERE node_id != 0;
