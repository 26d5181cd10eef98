ALTER TABLE accounts ADD COLUMN a text;
ALTER TABLE accounts ADD COLUMN b text;
