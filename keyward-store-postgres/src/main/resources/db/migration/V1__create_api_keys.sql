-- Keyward schema, version 1. Schema changes and data migrations are kept in separate files
-- (product.md, "Release safety"); this file only creates objects.
CREATE TABLE api_keys (
    key_id       text        PRIMARY KEY CHECK (key_id ~ '^key_[0-9A-Za-z]{22}$'),
    -- SHA-256 of the key text; the key itself is never stored.
    key_hash     bytea       NOT NULL CHECK (octet_length(key_hash) = 32),
    -- The key's first characters (prefix_env_ and 4 body digits), for people; null if imported.
    key_hint     text        CHECK (key_hint IS NULL OR length(key_hint) <= 40),
    name         text        NOT NULL,
    owner_id     text        NOT NULL,
    scopes       text[]      NOT NULL DEFAULT '{}',
    meta         jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(meta) = 'object'),
    environment  text        NOT NULL CHECK (environment IN ('live', 'test')),
    origin       text        NOT NULL CHECK (origin IN ('issued', 'imported')),
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    expires_at   timestamptz,
    revoked_at   timestamptz,
    enabled      boolean     NOT NULL DEFAULT true,
    rotated_from text        REFERENCES api_keys (key_id),
    version      bigint      NOT NULL DEFAULT 1
);

CREATE UNIQUE INDEX api_keys_key_hash_key ON api_keys (key_hash);
CREATE INDEX api_keys_owner_id_key_id_idx ON api_keys (owner_id, key_id);
