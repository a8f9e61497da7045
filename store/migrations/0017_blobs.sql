-- File contents in an object store (--blobs, docs/scale-out.md). A file's
-- content is then the object named by its blob key, not a file at its path;
-- keys are never reused, so a rename or a move changes rows only. '' means
-- the content is the file at the node's path (the data directory's layout).
ALTER TABLE nodes ADD COLUMN blob TEXT NOT NULL DEFAULT '';
ALTER TABLE versions ADD COLUMN blob TEXT NOT NULL DEFAULT '';
-- A processing job's content waiting in the store (instead of staged); a
-- tus upload's key and the store's id of its staged (multipart) upload.
ALTER TABLE jobs ADD COLUMN blob TEXT NOT NULL DEFAULT '';
ALTER TABLE uploads ADD COLUMN blob TEXT NOT NULL DEFAULT '';
ALTER TABLE uploads ADD COLUMN blob_upload TEXT NOT NULL DEFAULT '';

-- Objects that may exist in the store without a row naming them: a write
-- records its key here before it stores the object and deletes the row in
-- the transaction that names it; a transaction that stops naming an object
-- (an overwrite without a version, a purge) records its key here, and the
-- object is deleted after the commit, then the row. What a crash leaves is
-- found here by the collector, never by listing the bucket.
CREATE TABLE blob_orphans (
    key   TEXT PRIMARY KEY,
    since INTEGER NOT NULL
);
CREATE INDEX nodes_blob ON nodes (blob) WHERE blob <> '';
