-- Rollout switches: each risky path's stage, with a version from one sequence (so "version 42"
-- orders every change of the deployment) and an audit trail of every change, automatic reverts
-- with their evidence. Each node records the highest version it has applied. Expand only: new
-- tables no earlier release reads; the code that reads them goes through a schema gate.
CREATE SEQUENCE IF NOT EXISTS keyward_switch_versions;

CREATE TABLE IF NOT EXISTS keyward_switches (
  name                text        PRIMARY KEY,
  stage               text        NOT NULL CHECK (stage IN ('off', 'shadow', 'canary', 'on')),
  canary_basis_points integer     NOT NULL CHECK (canary_basis_points BETWEEN 0 AND 10000),
  sample_basis_points integer     NOT NULL CHECK (sample_basis_points BETWEEN 0 AND 10000),
  version             bigint      NOT NULL,
  salt                bigint      NOT NULL,
  guard               jsonb       NOT NULL,
  updated_at          timestamptz NOT NULL,
  updated_by          text        NOT NULL
);

CREATE TABLE IF NOT EXISTS keyward_switch_history (
  id                  bigserial   PRIMARY KEY,
  name                text        NOT NULL,
  version             bigint      NOT NULL,
  stage               text        NOT NULL,
  previous_stage      text,
  canary_basis_points integer     NOT NULL,
  actor               text        NOT NULL,
  reason              text        NOT NULL,
  evidence            text,
  changed_at          timestamptz NOT NULL
);

CREATE INDEX IF NOT EXISTS keyward_switch_history_by_name
  ON keyward_switch_history (name, id DESC);

CREATE TABLE IF NOT EXISTS keyward_node_switches (
  node_id          text        PRIMARY KEY,
  applied_version  bigint      NOT NULL,
  applied_at       timestamptz NOT NULL
);
