-- Rotation refuses a key that already has a successor (one rotation wins, and no successor is
-- made from a predecessor whose expiry a first rotation shortened). Finding the successor needs
-- this index. Built CONCURRENTLY, so writes to api_keys go on meanwhile; Flyway runs a file of
-- only such statements outside a transaction. A build that fails part-way (a lock timeout)
-- leaves an INVALID index behind, so it is dropped first and a retry builds it again.
DROP INDEX CONCURRENTLY IF EXISTS api_keys_rotated_from_idx;
CREATE INDEX CONCURRENTLY api_keys_rotated_from_idx ON api_keys (rotated_from)
  WHERE rotated_from IS NOT NULL;
