-- PostgreSQL twin of ../0010_minted_by.sql: the same schema, in PostgreSQL's types
-- (BIGINT for INTEGER, BYTEA for BLOB, text compared bytewise as SQLite
-- does: COLLATE "C").

-- Credentials minted by credentials (issue 17): a token made with another
-- token (an upload token by a session) or with an app password (a session
-- token from POST /api/v1/auth/token) records which, and goes when it goes:
-- revoking a credential revokes everything it minted. A token made with the
-- account password, or by the command line, has neither.
ALTER TABLE tokens ADD COLUMN parent_token TEXT COLLATE "C" REFERENCES tokens (id) ON DELETE CASCADE;
ALTER TABLE tokens ADD COLUMN parent_app_password BIGINT REFERENCES app_passwords (id) ON DELETE CASCADE;
CREATE INDEX tokens_parent_token ON tokens (parent_token) WHERE parent_token IS NOT NULL;
CREATE INDEX tokens_parent_app_password ON tokens (parent_app_password) WHERE parent_app_password IS NOT NULL;
