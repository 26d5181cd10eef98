ALTER TABLE accounts ADD CONSTRAINT accounts_plan_known CHECK (plan IN ('free', 'pro')) NOT VALID;
