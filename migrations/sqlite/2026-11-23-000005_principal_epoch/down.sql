DROP TRIGGER epoch_users_upd;
DROP TRIGGER epoch_users_del;
DROP TRIGGER epoch_memberships_ins;
DROP TRIGGER epoch_memberships_upd;
DROP TRIGGER epoch_memberships_del;
DROP TRIGGER epoch_workspaces_names;
