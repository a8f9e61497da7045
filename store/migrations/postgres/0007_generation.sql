-- PostgreSQL twin of ../0007_generation.sql: the same schema, in PostgreSQL's types
-- (BIGINT for INTEGER, BYTEA for BLOB, text compared bytewise as SQLite
-- does: COLLATE "C").

-- A space's generation grows with every change to its nodes, whoever
-- makes it (the server, a command run beside it, a repair): a listing
-- cached at one generation is known to be current while the number is
-- unchanged. Triggers keep it, so no code path can forget to.
ALTER TABLE spaces ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;

CREATE FUNCTION nodes_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE spaces SET generation = generation + 1 WHERE id = NEW.space_id;
    ELSIF TG_OP = 'UPDATE' THEN
        UPDATE spaces SET generation = generation + 1 WHERE id IN (OLD.space_id, NEW.space_id);
    ELSE
        UPDATE spaces SET generation = generation + 1 WHERE id = OLD.space_id;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER nodes_generation AFTER INSERT OR UPDATE OR DELETE ON nodes
    FOR EACH ROW EXECUTE FUNCTION nodes_generation();
