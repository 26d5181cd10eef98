-- The query contract of the application the corpus's migrations belong to (the "previous
-- release"): what `db compat` checks each case against.
-- schema: 1

SELECT id, email, plan, created_at FROM accounts WHERE id = $1;

-- args: 424242, 'new@example.com'
INSERT INTO accounts (id, email) VALUES ($1, $2);

UPDATE accounts SET plan = $2 WHERE id = $1;

SELECT count(*) FROM accounts WHERE plan = $1;
