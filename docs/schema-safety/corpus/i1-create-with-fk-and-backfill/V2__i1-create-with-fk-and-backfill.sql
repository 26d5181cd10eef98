CREATE TABLE tokens (id bigint PRIMARY KEY, account_id bigint NOT NULL REFERENCES accounts (id));
INSERT INTO tokens SELECT id, id FROM accounts;
