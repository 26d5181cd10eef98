SET lock_timeout = '2s';
ALTER TABLE accounts ADD COLUMN a text;
