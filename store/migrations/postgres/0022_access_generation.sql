-- PostgreSQL twin of ../0022_access_generation.sql.

-- The users generation (0021) moves with every change of what decides who
-- may do what, not only of the accounts: app passwords, tokens (sessions
-- and upload tokens too) and space memberships (DB.AccessEpoch). The rows
-- a foreign key's ON DELETE CASCADE removes fire these triggers too.
CREATE TRIGGER app_passwords_generation AFTER INSERT OR UPDATE OR DELETE ON app_passwords
    FOR EACH STATEMENT EXECUTE FUNCTION wharf_bump_kind('users');

CREATE TRIGGER tokens_generation AFTER INSERT OR UPDATE OR DELETE ON tokens
    FOR EACH STATEMENT EXECUTE FUNCTION wharf_bump_kind('users');

CREATE TRIGGER space_members_generation AFTER INSERT OR UPDATE OR DELETE ON space_members
    FOR EACH STATEMENT EXECUTE FUNCTION wharf_bump_kind('users');
