ALTER TABLE accounts ADD COLUMN last_login timestamp;
