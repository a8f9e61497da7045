-- Counters of rows that change rarely but are read on almost every
-- request, each moved by every committed change of its kind of row,
-- whoever makes it (the server, a command run beside it, another
-- replica): a value read after a counter is known to be current while the
-- counter is unchanged, even while other tables change at every write
-- (store/gens.go). Triggers keep them, so no code path can forget to.
--   spaces: a space created or deleted, its quota or upload policy set
--           (not its used bytes nor its generation, which every write moves);
--   locks:  a WebDAV lock taken, refreshed or released;
--   users:  an account created, changed (password, e-mail, admin) or removed.
CREATE TABLE generations (
    kind TEXT PRIMARY KEY,
    n    INTEGER NOT NULL
) STRICT;
INSERT INTO generations (kind, n) VALUES ('spaces', 1), ('locks', 1), ('users', 1);

CREATE TRIGGER spaces_settings_insert AFTER INSERT ON spaces BEGIN
    UPDATE generations SET n = n + 1 WHERE kind = 'spaces';
END;

CREATE TRIGGER spaces_settings_update AFTER UPDATE OF id, quota_bytes, policy ON spaces BEGIN
    UPDATE generations SET n = n + 1 WHERE kind = 'spaces';
END;

CREATE TRIGGER spaces_settings_delete AFTER DELETE ON spaces BEGIN
    UPDATE generations SET n = n + 1 WHERE kind = 'spaces';
END;

CREATE TRIGGER locks_generation_insert AFTER INSERT ON locks BEGIN
    UPDATE generations SET n = n + 1 WHERE kind = 'locks';
END;

CREATE TRIGGER locks_generation_update AFTER UPDATE ON locks BEGIN
    UPDATE generations SET n = n + 1 WHERE kind = 'locks';
END;

CREATE TRIGGER locks_generation_delete AFTER DELETE ON locks BEGIN
    UPDATE generations SET n = n + 1 WHERE kind = 'locks';
END;

CREATE TRIGGER users_generation_insert AFTER INSERT ON users BEGIN
    UPDATE generations SET n = n + 1 WHERE kind = 'users';
END;

CREATE TRIGGER users_generation_update AFTER UPDATE ON users BEGIN
    UPDATE generations SET n = n + 1 WHERE kind = 'users';
END;

CREATE TRIGGER users_generation_delete AFTER DELETE ON users BEGIN
    UPDATE generations SET n = n + 1 WHERE kind = 'users';
END;
