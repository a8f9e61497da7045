-- Search by name (issue 20): a full-text index of node names with SQLite's
-- FTS5 trigram tokenizer, folding case and removing diacritics, so that a
-- MATCH on a phrase of three or more characters finds every name holding
-- it as a substring ("resume" finds "Résumé.pdf"). rowid is the node id.
-- Triggers keep it in step with nodes whatever writes them (inserts,
-- renames and moves, copies, deletes and their cascades). Space roots (name
-- '') are not indexed.
CREATE VIRTUAL TABLE node_names USING fts5 (name, tokenize = 'trigram remove_diacritics 1');
INSERT INTO node_names (rowid, name) SELECT id, name FROM nodes WHERE name <> '';
CREATE TRIGGER node_names_insert AFTER INSERT ON nodes WHEN new.name <> '' BEGIN
    INSERT INTO node_names (rowid, name) VALUES (new.id, new.name);
END;
CREATE TRIGGER node_names_rename AFTER UPDATE OF name ON nodes WHEN new.name <> old.name BEGIN
    DELETE FROM node_names WHERE rowid = old.id;
    INSERT INTO node_names (rowid, name) SELECT new.id, new.name WHERE new.name <> '';
END;
CREATE TRIGGER node_names_delete AFTER DELETE ON nodes BEGIN
    DELETE FROM node_names WHERE rowid = old.id;
END;
