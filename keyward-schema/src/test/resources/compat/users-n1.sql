-- The contract of release N+1, which reads the new column.
SELECT id, display_name FROM users WHERE id = $1;
