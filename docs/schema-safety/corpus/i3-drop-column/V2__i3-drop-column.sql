ALTER TABLE accounts DROP COLUMN email;
