-- PostgreSQL twin of ../0009_phraseanet_secret_hash.sql: the same schema, in PostgreSQL's types
-- (BIGINT for INTEGER, BYTEA for BLOB, text compared bytewise as SQLite
-- does: COLLATE "C").

-- Pull-mode client secrets are only checked (POST /oauth/v2/token), never
-- sent anywhere: keep a hash of them. They are 192-bit random strings Wharf
-- makes, so a SHA-256 is enough: "sha256:" and its lowercase hex.
-- (PostgreSQL: its own sha256 function; the table is empty when this runs
-- on a new database.) The
-- WHERE converts a row once, whatever ran before; secure_delete overwrites
-- the plaintext's old bytes in the file instead of leaving them in free
-- space. (The enqueue keys of push mode, auth_key, and the commits'
-- AssetTokens are sent to Phraseanet and stay readable.)
ALTER TABLE phraseanet_targets RENAME COLUMN client_secret TO client_secret_hash;
UPDATE phraseanet_targets SET client_secret_hash = 'sha256:' || encode(sha256(convert_to(client_secret_hash, 'UTF8')), 'hex')
    WHERE client_secret_hash NOT LIKE 'sha256:%';
