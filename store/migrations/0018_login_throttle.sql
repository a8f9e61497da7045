-- The login throttle's state when several processes share the database
-- (auth: replicas on PostgreSQL), so that its limits hold across them.
-- A window counts the failures of one key (a user name, a user name from
-- an address, an address) over a fixed period from its first failure:
-- key is one byte of kind and the first 16 bytes of the SHA-256 of the
-- name or address, so names of any length cost the same; start and
-- counted_in are unix nanoseconds (counted_in 0: not counted). Rows whose
-- window is over are deleted, and the table is capped (oldest first).
CREATE TABLE login_windows (
    key        BLOB PRIMARY KEY,
    start      INTEGER NOT NULL,
    n          INTEGER NOT NULL,
    names      INTEGER NOT NULL,
    counted_in INTEGER NOT NULL
);
CREATE INDEX login_windows_start ON login_windows (start);

-- Known addresses: a (user name, address) key where the user name last
-- logged in at (unix nanoseconds).
CREATE TABLE login_known (
    key BLOB PRIMARY KEY,
    at  INTEGER NOT NULL
);
CREATE INDEX login_known_at ON login_known (at);
