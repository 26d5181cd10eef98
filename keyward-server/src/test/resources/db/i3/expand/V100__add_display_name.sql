-- The expand half of the same change: the new column beside the old one.
ALTER TABLE api_keys ADD COLUMN display_name text;
