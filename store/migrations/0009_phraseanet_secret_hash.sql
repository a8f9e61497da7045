-- Pull-mode client secrets are only checked (POST /oauth/v2/token), never
-- sent anywhere: keep a hash of them. They are 192-bit random strings Wharf
-- makes, so a SHA-256 is enough: "sha256:" and its lowercase hex.
-- wharf_sha256_hex is a function the store registers with the driver. The
-- WHERE converts a row once, whatever ran before; secure_delete overwrites
-- the plaintext's old bytes in the file instead of leaving them in free
-- space. (The enqueue keys of push mode, auth_key, and the commits'
-- AssetTokens are sent to Phraseanet and stay readable.)
PRAGMA secure_delete = ON;
ALTER TABLE phraseanet_targets RENAME COLUMN client_secret TO client_secret_hash;
UPDATE phraseanet_targets SET client_secret_hash = 'sha256:' || wharf_sha256_hex(client_secret_hash)
    WHERE client_secret_hash NOT LIKE 'sha256:%';
PRAGMA secure_delete = OFF;
