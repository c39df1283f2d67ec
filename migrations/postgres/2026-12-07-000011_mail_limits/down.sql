DROP TABLE mail_limits;
