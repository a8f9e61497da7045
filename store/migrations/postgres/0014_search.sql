-- PostgreSQL twin of ../0014_search.sql: the same schema, in PostgreSQL's types
-- (BIGINT for INTEGER, BYTEA for BLOB, text compared bytewise as SQLite
-- does: COLLATE "C").

-- Search by name (issue 20). SQLite answers it with an FTS5 trigram index;
-- PostgreSQL with a trigram index (the pg_trgm extension, shipped with
-- PostgreSQL) on the folded name: wharf_fold does what the store's Fold
-- does (lower case, Latin letters without diacritics, combining marks
-- dropped), kept in the generated column name_fold, and a search for
-- three characters or more is a LIKE on it ('%text%'), which the index
-- answers (and which stays cheap when the planner prefers a scan: the
-- folding is done once per write, not per row read). Space roots (name '')
-- are not indexed. No triggers keep it in step: PostgreSQL computes the
-- column.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE FUNCTION wharf_fold(s text) RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN replace(replace(replace(replace(replace(
    translate(regexp_replace(lower(s COLLATE "und-x-icu"), '[\u0300-\u036f]', '', 'g'),
        'àáâãäåāăąçćĉċčďđèéêëēĕėęěĝğġģĥħìíîïĩīĭįıĵķĺļľŀłñńņňŉòóôõöøōŏőŕŗřśŝşšţťŧùúûüũūŭůűųŵýÿŷźżž',
        'aaaaaaaaacccccddeeeeeeeeegggghhiiiiiiiiijklllllnnnnnooooooooorrrsssstttuuuuuuuuuuwyyyzzz'),
    'ß', 'ss'), 'æ', 'ae'), 'œ', 'oe'), 'þ', 'th'), 'ð', 'dh');

ALTER TABLE nodes ADD COLUMN name_fold text COLLATE "C" GENERATED ALWAYS AS (wharf_fold(name)) STORED;
-- fastupdate off: names go into the index as they are written, not into
-- a pending list that every search reads through until a vacuum merges it.
CREATE INDEX nodes_name_fold ON nodes USING gin (name_fold gin_trgm_ops) WITH (fastupdate = off) WHERE name <> '';
