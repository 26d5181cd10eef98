ALTER TABLE api_keys ADD COLUMN display_name text;
