-- What a space accepts from uploads, as the JSON of postproc.Policy
-- (maximum size, allowed and denied types, forbidden names, how much
-- processing a WebDAV PUT gets). '' accepts everything.
ALTER TABLE spaces ADD COLUMN policy TEXT NOT NULL DEFAULT '';
