-- PostgreSQL twin of ../0006_space_policy.sql: the same schema, in PostgreSQL's types
-- (BIGINT for INTEGER, BYTEA for BLOB, text compared bytewise as SQLite
-- does: COLLATE "C").

-- What a space accepts from uploads, as the JSON of postproc.Policy
-- (maximum size, allowed and denied types, forbidden names, how much
-- processing a WebDAV PUT gets). '' accepts everything.
ALTER TABLE spaces ADD COLUMN policy TEXT COLLATE "C" NOT NULL DEFAULT '';
