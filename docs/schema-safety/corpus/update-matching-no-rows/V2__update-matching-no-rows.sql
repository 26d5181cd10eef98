ALTER TABLE accounts ADD COLUMN tier text;
UPDATE accounts SET tier = 'gold' WHERE plan = 'enterprise';
