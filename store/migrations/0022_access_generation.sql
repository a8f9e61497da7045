-- The users generation (0021) moves with every change of what decides who
-- may do what, not only of the accounts: app passwords, tokens (sessions
-- and upload tokens too) and space memberships. The principal a credential
-- names and a member's role are kept in memory against it (DB.AccessEpoch,
-- auth/fresh.go): a revoked credential, a removed member or a lowered role
-- is seen by the next request, and the uploads, which move the Epoch at
-- every write, no longer drop them. The rows a foreign key's ON DELETE
-- CASCADE removes fire these triggers too.
CREATE TRIGGER app_passwords_generation_insert AFTER INSERT ON app_passwords BEGIN
    UPDATE generations SET n = n + 1 WHERE kind = 'users';
END;

CREATE TRIGGER app_passwords_generation_update AFTER UPDATE ON app_passwords BEGIN
    UPDATE generations SET n = n + 1 WHERE kind = 'users';
END;

CREATE TRIGGER app_passwords_generation_delete AFTER DELETE ON app_passwords BEGIN
    UPDATE generations SET n = n + 1 WHERE kind = 'users';
END;

CREATE TRIGGER tokens_generation_insert AFTER INSERT ON tokens BEGIN
    UPDATE generations SET n = n + 1 WHERE kind = 'users';
END;

CREATE TRIGGER tokens_generation_update AFTER UPDATE ON tokens BEGIN
    UPDATE generations SET n = n + 1 WHERE kind = 'users';
END;

CREATE TRIGGER tokens_generation_delete AFTER DELETE ON tokens BEGIN
    UPDATE generations SET n = n + 1 WHERE kind = 'users';
END;

CREATE TRIGGER space_members_generation_insert AFTER INSERT ON space_members BEGIN
    UPDATE generations SET n = n + 1 WHERE kind = 'users';
END;

CREATE TRIGGER space_members_generation_update AFTER UPDATE ON space_members BEGIN
    UPDATE generations SET n = n + 1 WHERE kind = 'users';
END;

CREATE TRIGGER space_members_generation_delete AFTER DELETE ON space_members BEGIN
    UPDATE generations SET n = n + 1 WHERE kind = 'users';
END;
