-- PostgreSQL twin of the SQLite migration of the same name: the same schema,
-- in PostgreSQL's types (BIGINT for INTEGER, BYTEA for BLOB).
CREATE TABLE login_windows (
    key        BYTEA PRIMARY KEY,
    start      BIGINT NOT NULL,
    n          BIGINT NOT NULL,
    names      BIGINT NOT NULL,
    counted_in BIGINT NOT NULL
);
CREATE INDEX login_windows_start ON login_windows (start);

CREATE TABLE login_known (
    key BYTEA PRIMARY KEY,
    at  BIGINT NOT NULL
);
CREATE INDEX login_known_at ON login_known (at);
