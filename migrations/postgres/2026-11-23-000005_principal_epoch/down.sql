DROP TRIGGER epoch_users ON users;
DROP TRIGGER epoch_memberships ON memberships;
DROP TRIGGER epoch_workspaces_names ON workspaces;
