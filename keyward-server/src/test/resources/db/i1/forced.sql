-- Release N+1's migration in incident I-1's shape: it creates the tables its new path reads (the
-- node registry) and backfills one in the same long transaction. db lint rejects it.
CREATE TABLE keyward_nodes (
  node_id         text        PRIMARY KEY,
  release         text        NOT NULL,
  contract_sha256 text        NOT NULL,
  contract        text        NOT NULL,
  host            text        NOT NULL,
  started_at      timestamptz NOT NULL,
  heartbeat_at    timestamptz NOT NULL,
  stopped_at      timestamptz
);
CREATE TABLE keyward_migration_overrides (version text NOT NULL, script text NOT NULL,
  reason text NOT NULL, broken text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());
INSERT INTO keyward_nodes
SELECT 'node_old_' || g, '0.0.' || g, md5(g::text), '', 'old-host', now() - interval '30 days',
    now() - interval '29 days', now() - interval '29 days'
FROM generate_series(1, 200000) g;
SELECT pg_sleep(2);
