-- The query contract of Keyward 0.1.0: every statement that release issues. Migrations after its
-- schema must keep each one working while 0.1.0 nodes may still run (keyward db compat).
-- schema: 2

SELECT key_id, key_hash, key_hint, name, owner_id, scopes, meta::text, environment, origin, created_at, updated_at, expires_at, revoked_at, enabled, rotated_from, version FROM api_keys WHERE key_hash = $1;

SELECT key_id, key_hash, key_hint, name, owner_id, scopes, meta::text, environment, origin, created_at, updated_at, expires_at, revoked_at, enabled, rotated_from, version FROM api_keys WHERE key_id = $1;

-- args: 'key_zzzzzzzzzzzzzzzzzzzzzz', sha256('a contract key'), 'kw_live_1Abc', 'n', 'o', '{read}'::text[], '{}', 'live', 'issued', now(), now(), NULL::timestamptz, NULL::timestamptz, true, NULL::text, 1
INSERT INTO api_keys (key_id, key_hash, key_hint, name, owner_id, scopes, meta, environment, origin, created_at, updated_at, expires_at, revoked_at, enabled, rotated_from, version) VALUES ($1, $2, $3, $4, $5, $6, CAST($7 AS jsonb), $8, $9, $10, $11, $12, $13, $14, $15, $16);

-- args: 'n2', '{read}'::text[], '{}', now(), NULL::timestamptz, NULL::timestamptz, true, 2, 'key_zzzzzzzzzzzzzzzzzzzzzz', 1
UPDATE api_keys SET name = $1, scopes = $2, meta = CAST($3 AS jsonb), updated_at = $4, expires_at = $5, revoked_at = $6, enabled = $7, version = $8 WHERE key_id = $9 AND version = $10;

SELECT key_id, key_hash, key_hint, name, owner_id, scopes, meta::text, environment, origin, created_at, updated_at, expires_at, revoked_at, enabled, rotated_from, version FROM api_keys ORDER BY key_id LIMIT $1;

SELECT key_id, key_hash, key_hint, name, owner_id, scopes, meta::text, environment, origin, created_at, updated_at, expires_at, revoked_at, enabled, rotated_from, version FROM api_keys WHERE key_id > $1 ORDER BY key_id LIMIT $2;

SELECT key_id, key_hash, key_hint, name, owner_id, scopes, meta::text, environment, origin, created_at, updated_at, expires_at, revoked_at, enabled, rotated_from, version FROM api_keys WHERE owner_id = $1 ORDER BY key_id LIMIT $2;

SELECT key_id, key_hash, key_hint, name, owner_id, scopes, meta::text, environment, origin, created_at, updated_at, expires_at, revoked_at, enabled, rotated_from, version FROM api_keys WHERE owner_id = $1 AND key_id > $2 ORDER BY key_id LIMIT $3;

SELECT pg_advisory_xact_lock(7271727);

SELECT EXISTS (SELECT 1 FROM api_keys);

SELECT key_id, key_hash, key_hint, name, owner_id, scopes, meta::text, environment, origin, created_at, updated_at, expires_at, revoked_at, enabled, rotated_from, version FROM api_keys WHERE false;

-- args: 'a-contract-secret', sha256('a contract secret')
INSERT INTO keyward_secrets (name, secret) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING;

SELECT secret FROM keyward_secrets WHERE name = $1;
