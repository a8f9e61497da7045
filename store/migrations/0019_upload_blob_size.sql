-- The size a tus upload's staged upload in the object store was created
-- with (-1: its length was deferred then). The store chose its part size
-- from it, and every later call on the staged upload passes it back
-- unchanged, even once the client has declared the length.
ALTER TABLE uploads ADD COLUMN blob_size INTEGER NOT NULL DEFAULT -1;
