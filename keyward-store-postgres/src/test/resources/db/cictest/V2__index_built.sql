SET lock_timeout = 0;
DROP INDEX CONCURRENTLY IF EXISTS built_id_idx;
CREATE INDEX CONCURRENTLY built_id_idx ON built (id);
RESET lock_timeout;
