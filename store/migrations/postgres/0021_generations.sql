-- PostgreSQL twin of ../0021_generations.sql: the same schema, in PostgreSQL's types
-- (BIGINT for INTEGER, text compared bytewise as SQLite does: COLLATE "C").

-- Counters of rows that change rarely but are read on almost every
-- request, each moved by every committed change of its kind of row,
-- whoever makes it: a value read after a counter is known to be current
-- while the counter is unchanged (store/gens.go). Triggers keep them.
--   spaces: a space created or deleted, its quota or upload policy set;
--   locks:  a WebDAV lock taken, refreshed or released;
--   users:  an account created, changed (password, e-mail, admin) or removed.
-- Statement triggers: one move per statement is enough (a statement that
-- changes no row moves it too, which costs a cache refill, nothing more).
CREATE TABLE generations (
    kind TEXT COLLATE "C" PRIMARY KEY,
    n    BIGINT NOT NULL
);
INSERT INTO generations (kind, n) VALUES ('spaces', 1), ('locks', 1), ('users', 1);

CREATE FUNCTION wharf_bump_kind() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE generations SET n = n + 1 WHERE kind = TG_ARGV[0];
    RETURN NULL;
END
$$;

CREATE TRIGGER spaces_settings AFTER INSERT OR DELETE OR UPDATE OF id, quota_bytes, policy ON spaces
    FOR EACH STATEMENT EXECUTE FUNCTION wharf_bump_kind('spaces');

CREATE TRIGGER locks_generation AFTER INSERT OR UPDATE OR DELETE ON locks
    FOR EACH STATEMENT EXECUTE FUNCTION wharf_bump_kind('locks');

CREATE TRIGGER users_generation AFTER INSERT OR UPDATE OR DELETE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION wharf_bump_kind('users');
