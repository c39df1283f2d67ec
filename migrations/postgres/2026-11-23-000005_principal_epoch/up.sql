-- Signed-in pages may keep the signed-in user (account, admin flag, workspaces and roles)
-- in memory between requests; these changes move the cache epoch so that the very next
-- request reloads it. They are rare (an admin's or owner's action).
CREATE TRIGGER epoch_users AFTER DELETE OR UPDATE OF email, name, is_admin, disabled, session_epoch ON users FOR EACH STATEMENT EXECUTE FUNCTION keyhold_bump_epoch();
CREATE TRIGGER epoch_memberships AFTER INSERT OR DELETE OR UPDATE OF role, user_id, workspace_id ON memberships FOR EACH STATEMENT EXECUTE FUNCTION keyhold_bump_epoch();
CREATE TRIGGER epoch_workspaces_names AFTER UPDATE OF name, slug ON workspaces FOR EACH STATEMENT EXECUTE FUNCTION keyhold_bump_epoch();
