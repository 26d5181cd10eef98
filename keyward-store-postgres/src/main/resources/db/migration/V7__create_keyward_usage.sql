-- Usage: exact counts of verifications per key and outcome, per minute, hour and day, merged
-- across nodes. Each node's flush is a numbered batch recorded in the same transaction as its
-- counts, so a retried batch never counts twice. The outbox holds each batch for the exporters;
-- its rows carry the id of the transaction that wrote them, so that an exporter can read them in
-- commit order and never skip one (a bigserial is handed out before commit, and commits finish
-- out of order). The count tables are updated in place many times a minute: room is left in
-- each page (fillfactor 70) so that an update can stay on its page (HOT) without touching the
-- indexes. A batch is cut into parts of at most 100 counts, one row each, so that every
-- message stays small (NATS refuses payloads over 1 MiB; Standard Webhooks asks for under 20 KB).
-- Expand only: new tables that no earlier release reads; the code that reads them
-- goes through a schema gate.
CREATE TABLE IF NOT EXISTS keyward_usage_minute (
  key_id    text        NOT NULL,
  bucket    timestamptz NOT NULL,
  outcome   text        NOT NULL,
  owner_id  text        NOT NULL,
  count     bigint      NOT NULL,
  PRIMARY KEY (key_id, bucket, outcome)
) WITH (fillfactor = 70);
CREATE INDEX IF NOT EXISTS keyward_usage_minute_by_owner ON keyward_usage_minute (owner_id, bucket);
CREATE INDEX IF NOT EXISTS keyward_usage_minute_by_bucket ON keyward_usage_minute (bucket);

CREATE TABLE IF NOT EXISTS keyward_usage_hour (
  key_id    text        NOT NULL,
  bucket    timestamptz NOT NULL,
  outcome   text        NOT NULL,
  owner_id  text        NOT NULL,
  count     bigint      NOT NULL,
  PRIMARY KEY (key_id, bucket, outcome)
) WITH (fillfactor = 70);
CREATE INDEX IF NOT EXISTS keyward_usage_hour_by_owner ON keyward_usage_hour (owner_id, bucket);

CREATE TABLE IF NOT EXISTS keyward_usage_day (
  key_id    text        NOT NULL,
  bucket    timestamptz NOT NULL,
  outcome   text        NOT NULL,
  owner_id  text        NOT NULL,
  count     bigint      NOT NULL,
  PRIMARY KEY (key_id, bucket, outcome)
) WITH (fillfactor = 70);
CREATE INDEX IF NOT EXISTS keyward_usage_day_by_owner ON keyward_usage_day (owner_id, bucket);

-- Hours and days are rolled up from minutes once a minute, by one node at a time, up to a
-- watermark: minutes before it are in the hour and day tables, minutes from it on only in the
-- minute table (a query adds those). A batch that arrives late, for minutes before the
-- watermark, adds to the hour and day tables itself, in its own transaction.
-- Its one row is written by the code (INSERT ... ON CONFLICT DO NOTHING before any use), not here:
-- a table written in the migration that creates it stays invisible until the commit (I-1).
CREATE TABLE IF NOT EXISTS keyward_usage_rollup (
  id         integer     PRIMARY KEY CHECK (id = 1),
  rolled_to  timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS keyward_key_last_used (
  key_id        text        PRIMARY KEY,
  last_used_at  timestamptz NOT NULL
) WITH (fillfactor = 70);

CREATE TABLE IF NOT EXISTS keyward_usage_batches (
  node_id     text        NOT NULL,
  seq         bigint      NOT NULL,
  flushed_at  timestamptz NOT NULL,
  PRIMARY KEY (node_id, seq)
);

-- Verifications a node could not count (its buffer was full), per minute: what a report does
-- not cover.
CREATE TABLE IF NOT EXISTS keyward_usage_drops (
  node_id  text        NOT NULL,
  bucket   timestamptz NOT NULL,
  dropped  bigint      NOT NULL,
  PRIMARY KEY (node_id, bucket)
);

CREATE TABLE IF NOT EXISTS keyward_usage_outbox (
  id          bigserial   PRIMARY KEY,
  txid        xid8        NOT NULL DEFAULT pg_current_xact_id(),
  node_id     text        NOT NULL,
  seq         bigint      NOT NULL,
  part        integer     NOT NULL,
  created_at  timestamptz NOT NULL,
  payload     jsonb       NOT NULL
);
CREATE INDEX IF NOT EXISTS keyward_usage_outbox_commit_order ON keyward_usage_outbox (txid, id);

CREATE TABLE IF NOT EXISTS keyward_usage_cursors (
  exporter    text        PRIMARY KEY,
  txid        xid8        NOT NULL,
  id          bigint      NOT NULL,
  paused      boolean     NOT NULL,
  updated_at  timestamptz NOT NULL,
  last_error  text
);
