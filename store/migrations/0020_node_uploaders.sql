-- Who uploaded each file, for the publisher of scheduled Phraseanet commits
-- (issue 18): the user whose upload installed the file's current bytes,
-- whatever way they came in (WebDAV PUT, a chunked upload's MOVE, tus, the
-- web UI; for a drop link, the link's creator). The row is written in the
-- transaction that installs the file (postproc), so no scheduler sees the
-- file without it. A new upload over the file replaces it; a move keeps it
-- (the node keeps its id); a copy carries it to the copy. It goes with its
-- file, and with its user: a removed account leaves its files without a
-- known uploader.
CREATE TABLE node_uploaders (
    node_id INTEGER PRIMARY KEY REFERENCES nodes (id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE
) STRICT;
CREATE INDEX node_uploaders_user ON node_uploaders (user_id);

-- What was known before: the latest finished tus upload of each file still
-- in the index.
INSERT INTO node_uploaders (node_id, user_id)
SELECT u.node_id, u.user_id FROM uploads u JOIN nodes n ON n.id = u.node_id
WHERE u.state = 'done' AND NOT EXISTS (
    SELECT 1 FROM uploads v WHERE v.node_id = u.node_id AND v.state = 'done'
    AND (v.updated_at > u.updated_at OR v.updated_at = u.updated_at AND v.id > u.id));
