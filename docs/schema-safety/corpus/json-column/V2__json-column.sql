ALTER TABLE accounts ADD COLUMN prefs json;
