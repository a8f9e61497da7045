-- PostgreSQL twin of ../0019_upload_blob_size.sql.
ALTER TABLE uploads ADD COLUMN blob_size BIGINT NOT NULL DEFAULT -1;
