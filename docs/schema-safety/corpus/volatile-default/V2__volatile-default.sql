ALTER TABLE accounts ADD COLUMN seen_at timestamptz DEFAULT clock_timestamp();
