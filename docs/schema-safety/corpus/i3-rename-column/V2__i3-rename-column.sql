ALTER TABLE accounts RENAME COLUMN email TO email_address;
