CREATE TABLE plans (name text PRIMARY KEY);
INSERT INTO plans VALUES ('free'), ('pro');
ALTER TABLE accounts ADD CONSTRAINT accounts_plan_fk FOREIGN KEY (plan) REFERENCES plans (name);
