-- Secrets every node of a deployment shares, created on first use (expand only: the previous
-- release neither reads nor minds this table). Today: the key that signs Redis cache entries.
CREATE TABLE keyward_secrets (
    name       text        PRIMARY KEY,
    secret     bytea       NOT NULL CHECK (octet_length(secret) >= 32),
    created_at timestamptz NOT NULL DEFAULT now()
);
