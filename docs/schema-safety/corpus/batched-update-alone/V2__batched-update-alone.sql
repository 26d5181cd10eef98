UPDATE accounts SET plan = 'free' WHERE id BETWEEN 1 AND 1000 AND plan IS NULL;
