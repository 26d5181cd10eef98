-- The node registry: every running Keyward node records which release it runs, its query
-- contract (every statement it issues, in the contract file format) and a heartbeat, so that a
-- migration can check it keeps the contracts of the releases still running (and refuse while it
-- does not), and a change can say which nodes have applied it. Expand only: new tables that no
-- earlier release reads; the code that reads them goes through a schema gate.
CREATE TABLE IF NOT EXISTS keyward_nodes (
  node_id         text        PRIMARY KEY,
  release         text        NOT NULL,
  contract_sha256 text        NOT NULL,
  contract        text        NOT NULL,
  host            text        NOT NULL,
  started_at      timestamptz NOT NULL,
  heartbeat_at    timestamptz NOT NULL,
  stopped_at      timestamptz
);

-- Migrations applied although they break a live release's contract, by explicit override.
CREATE TABLE IF NOT EXISTS keyward_migration_overrides (
  version     text        NOT NULL,
  script      text        NOT NULL,
  reason      text        NOT NULL,
  broken      text        NOT NULL,
  applied_at  timestamptz NOT NULL DEFAULT now()
);
