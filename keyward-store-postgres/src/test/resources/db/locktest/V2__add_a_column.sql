ALTER TABLE held ADD COLUMN added text;
