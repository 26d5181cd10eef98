CREATE TABLE tokens (id bigint PRIMARY KEY, account_id bigint NOT NULL, secret text);
INSERT INTO tokens (id, account_id, secret) SELECT id, id, md5(id::text) FROM accounts;
