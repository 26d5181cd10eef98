-- The contract of release N of a small app.
-- schema: 1
SELECT id, name FROM users WHERE id = $1;
-- args: 900000001, 'new user'
INSERT INTO users (id, name) VALUES ($1, $2);
