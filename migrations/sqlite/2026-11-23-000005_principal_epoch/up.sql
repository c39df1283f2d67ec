-- Signed-in pages keep the signed-in user (account, admin flag, workspaces and roles) in
-- memory between requests; these changes move the cache epoch so that the very next
-- request reloads it. They are rare (an admin's or owner's action), so the gateway's
-- reload they also cause costs nothing noticeable.
CREATE TRIGGER epoch_users_upd AFTER UPDATE OF email, name, is_admin, disabled, session_epoch ON users BEGIN UPDATE cache_epoch SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER epoch_users_del AFTER DELETE ON users BEGIN UPDATE cache_epoch SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER epoch_memberships_ins AFTER INSERT ON memberships BEGIN UPDATE cache_epoch SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER epoch_memberships_upd AFTER UPDATE OF role, user_id, workspace_id ON memberships BEGIN UPDATE cache_epoch SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER epoch_memberships_del AFTER DELETE ON memberships BEGIN UPDATE cache_epoch SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER epoch_workspaces_names AFTER UPDATE OF name, slug ON workspaces BEGIN UPDATE cache_epoch SET version = version + 1 WHERE id = 1; END;
