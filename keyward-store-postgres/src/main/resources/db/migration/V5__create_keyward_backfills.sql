-- Progress of data migrations (backfills), which run in batches outside any DDL transaction:
-- each batch commits its rows and its cursor together, so a backfill resumes where it stopped.
-- Expand only: a new table no earlier release reads.
CREATE TABLE IF NOT EXISTS keyward_backfills (
  name        text        PRIMARY KEY,
  cursor_key  text,
  rows_done   bigint      NOT NULL DEFAULT 0,
  batches     bigint      NOT NULL DEFAULT 0,
  started_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  done_at     timestamptz
);
