-- PostgreSQL twin of ../0016_leases.sql: the same schema, in PostgreSQL's
-- types (BIGINT for INTEGER, text compared bytewise: COLLATE "C").
ALTER TABLE jobs ADD COLUMN owner TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN lease_until BIGINT NOT NULL DEFAULT 0;

CREATE TABLE leases (
    name       TEXT COLLATE "C" PRIMARY KEY,
    owner      TEXT COLLATE "C" NOT NULL,
    expires_at BIGINT NOT NULL
);
