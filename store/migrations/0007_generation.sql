-- A space's generation grows with every change to its nodes, whoever
-- makes it (the server, a command run beside it, a repair): a listing
-- cached at one generation is known to be current while the number is
-- unchanged. Triggers keep it, so no code path can forget to.
ALTER TABLE spaces ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;

CREATE TRIGGER nodes_generation_insert AFTER INSERT ON nodes BEGIN
    UPDATE spaces SET generation = generation + 1 WHERE id = NEW.space_id;
END;

CREATE TRIGGER nodes_generation_update AFTER UPDATE ON nodes BEGIN
    UPDATE spaces SET generation = generation + 1 WHERE id IN (OLD.space_id, NEW.space_id);
END;

CREATE TRIGGER nodes_generation_delete AFTER DELETE ON nodes BEGIN
    UPDATE spaces SET generation = generation + 1 WHERE id = OLD.space_id;
END;
