-- Mail a stranger can trigger (password reset, invitation) is counted per recipient, in the
-- database so that every instance counts the same mails. The key is a hash of the mail's
-- kind and the normalized address: the table holds no address.
CREATE TABLE mail_limits (
    key TEXT PRIMARY KEY NOT NULL,
    sent INTEGER NOT NULL,
    window_start BIGINT NOT NULL
);
CREATE INDEX mail_limits_window_start ON mail_limits (window_start);
