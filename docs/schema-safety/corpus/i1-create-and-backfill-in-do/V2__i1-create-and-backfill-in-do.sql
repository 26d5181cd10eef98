CREATE TABLE tokens (id bigint PRIMARY KEY, account_id bigint NOT NULL);
DO $$
BEGIN
  INSERT INTO tokens SELECT id, id FROM accounts;
END
$$;
