-- Rotation refuses a key that already has a successor (one rotation wins, and no successor is
-- made from a predecessor whose expiry a first rotation shortened). Finding the successor needs
-- this index. Built CONCURRENTLY, so reads and writes of api_keys go on meanwhile; Flyway runs
-- this file outside a transaction. A concurrent build waits for every older transaction to end;
-- that wait blocks nobody, so the migration connections' lock_timeout (which keeps DDL from
-- queueing lookups) is lifted for it: a long backup or report must not fail the deploy. A build
-- that fails part-way leaves an INVALID index behind, so it is dropped first and a retry builds
-- it again.
-- lint: allow mixed-transaction only SET and RESET of lock_timeout run beside the concurrent builds
SET lock_timeout = 0;
DROP INDEX CONCURRENTLY IF EXISTS api_keys_rotated_from_idx;
CREATE INDEX CONCURRENTLY api_keys_rotated_from_idx ON api_keys (rotated_from)
  WHERE rotated_from IS NOT NULL;
RESET lock_timeout;
