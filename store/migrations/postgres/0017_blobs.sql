-- PostgreSQL twin of ../0017_blobs.sql: the same schema, in PostgreSQL's
-- types (BIGINT for INTEGER, text compared bytewise: COLLATE "C").
ALTER TABLE nodes ADD COLUMN blob TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE versions ADD COLUMN blob TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN blob TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE uploads ADD COLUMN blob TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE uploads ADD COLUMN blob_upload TEXT COLLATE "C" NOT NULL DEFAULT '';

CREATE TABLE blob_orphans (
    key   TEXT COLLATE "C" PRIMARY KEY,
    since BIGINT NOT NULL
);
CREATE INDEX nodes_blob ON nodes (blob) WHERE blob <> '';
