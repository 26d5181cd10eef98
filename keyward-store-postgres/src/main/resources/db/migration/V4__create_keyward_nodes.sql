-- The node registry: every running Keyward node records which release it runs (and the hash of
-- its query contract) and beats a heartbeat, so that a migration can tell which releases are
-- live, and a change can say which nodes have applied it. Expand only: a new table that no
-- earlier release reads; the code that reads it goes through a schema gate.
CREATE TABLE IF NOT EXISTS keyward_nodes (
  node_id         text        PRIMARY KEY,
  release         text        NOT NULL,
  contract_sha256 text        NOT NULL,
  host            text        NOT NULL,
  started_at      timestamptz NOT NULL,
  heartbeat_at    timestamptz NOT NULL,
  stopped_at      timestamptz
);
