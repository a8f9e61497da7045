-- PostgreSQL twin of ../0012_contents.sql: the same schema, in PostgreSQL's types
-- (BIGINT for INTEGER, BYTEA for BLOB, text compared bytewise as SQLite
-- does: COLLATE "C").

-- What Wharf knows of a file's content, keyed by its SHA-256 rather than
-- by node: the virus scan's clean verdict and the metadata the pipeline
-- extracted (EXIF, dimensions) are facts about the bytes. So they follow a
-- file through moves and copies (same bytes), and no longer apply to a node
-- overwritten with other bytes (another SHA-256), whichever path wrote it.
-- Thumbnails are keyed the same way (thumbs/<sha256>.jpg).
--
-- scanned_at: when the scanner last found these bytes clean (unix
-- nanoseconds); 0: never. meta: the pipeline's findings as a JSON object;
-- '' when not extracted. Rows of content no node holds any more are removed
-- by the triggers below.
CREATE TABLE contents (
    sha256     TEXT COLLATE "C" PRIMARY KEY,
    scanned_at BIGINT NOT NULL DEFAULT 0,
    meta       TEXT COLLATE "C" NOT NULL DEFAULT ''
);

-- Which nodes hold some content: for the clean-up below and for finding
-- the files whose metadata is not extracted yet. Queries repeat the
-- index's condition (sha256 <> '') so that SQLite knows it may use it.
CREATE INDEX nodes_sha256 ON nodes (sha256) WHERE sha256 <> '';

CREATE FUNCTION contents_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM contents WHERE sha256 = OLD.sha256
        AND NOT EXISTS (SELECT 1 FROM nodes WHERE sha256 = OLD.sha256 AND sha256 <> '');
    RETURN NULL;
END
$$;

CREATE TRIGGER contents_gone_update AFTER UPDATE OF sha256 ON nodes FOR EACH ROW
    WHEN (OLD.sha256 <> '' AND OLD.sha256 <> NEW.sha256) EXECUTE FUNCTION contents_gone();

CREATE TRIGGER contents_gone_delete AFTER DELETE ON nodes FOR EACH ROW
    WHEN (OLD.sha256 <> '') EXECUTE FUNCTION contents_gone();
