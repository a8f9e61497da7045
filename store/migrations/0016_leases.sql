-- Work done once when several processes share the database (replicas on
-- PostgreSQL). A processing job being run has an owner (the id of the
-- process running it) and a lease: until lease_until (unix nanoseconds)
-- no other process takes it; the owner renews it while the job runs.
-- owner '' and lease_until 0: nobody runs it.
ALTER TABLE jobs ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN lease_until INTEGER NOT NULL DEFAULT 0;

-- Named leases: one holder at a time for a task that must run in one
-- process only (the Phraseanet scheduler and push outbox). The holder
-- renews expires_at (unix nanoseconds); once it has passed, another
-- process may take the lease.
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
