-- PostgreSQL twin of ../0007_generation.sql: the same schema, in PostgreSQL's types
-- (BIGINT for INTEGER, BYTEA for BLOB, text compared bytewise as SQLite
-- does: COLLATE "C").

-- A space's generation grows with every change to its nodes, whoever
-- makes it (the server, a command run beside it, a repair): a listing
-- cached at one generation is known to be current while the number is
-- unchanged. Triggers keep it, so no code path can forget to.
ALTER TABLE spaces ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;

-- PostgreSQL: a row updated many times in one transaction leaves a
-- version per update that the next update must walk past (none can be
-- pruned before the commit), so the 10,000 inserts of a large copy would
-- cost quadratic time. The generation is therefore moved once per
-- transaction and space, at its first change: every committed change still
-- moves it, and a transaction reading it before and after its changes
-- still sees it move. The transaction-local setting wharf_gen.<md5 of the
-- space id> remembers that it moved (undone with a rolled back savepoint,
-- like the update itself).
CREATE FUNCTION wharf_bump_generation(space text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    mark text := 'wharf_gen.s' || md5(space);
BEGIN
    IF space IS NULL OR current_setting(mark, true) = '1' THEN
        RETURN;
    END IF;
    UPDATE spaces SET generation = generation + 1 WHERE id = space;
    PERFORM set_config(mark, '1', true);
END
$$;

CREATE FUNCTION nodes_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM wharf_bump_generation(NEW.space_id);
    ELSIF TG_OP = 'UPDATE' THEN
        PERFORM wharf_bump_generation(OLD.space_id);
        IF NEW.space_id <> OLD.space_id THEN
            PERFORM wharf_bump_generation(NEW.space_id);
        END IF;
    ELSE
        PERFORM wharf_bump_generation(OLD.space_id);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER nodes_generation AFTER INSERT OR UPDATE OR DELETE ON nodes
    FOR EACH ROW EXECUTE FUNCTION nodes_generation();
