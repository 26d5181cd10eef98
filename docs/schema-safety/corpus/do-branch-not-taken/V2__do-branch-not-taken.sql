ALTER TABLE accounts ADD COLUMN tier text;
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM accounts WHERE plan = 'legacy') THEN
    UPDATE accounts SET tier = 'gold' WHERE plan = 'legacy';
  END IF;
END
$$;
