ALTER TABLE api_keys RENAME COLUMN name TO display_name;
