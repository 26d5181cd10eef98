-- Rows for Keyward's own tables on a scratch database (keyward db compat / lint), shaped as
-- production holds them; ${rows} is --rows. Tables not filled here get generated rows.
INSERT INTO api_keys (key_id, key_hash, key_hint, name, owner_id, scopes, meta, environment,
    origin, created_at, updated_at, expires_at, revoked_at, enabled, rotated_from, version)
SELECT 'key_' || lpad(g::text, 22, '0'), sha256(g::text::bytea),
    CASE WHEN g % 10 = 0 THEN NULL ELSE 'kw_live_1' || left(md5(g::text), 3) END,
    'key ' || g, 'owner_' || (g % 100), ARRAY['read'], '{}',
    CASE WHEN g % 2 = 0 THEN 'live' ELSE 'test' END,
    CASE WHEN g % 10 = 0 THEN 'imported' ELSE 'issued' END,
    now() - g * interval '1 minute', now(),
    CASE WHEN g % 3 = 0 THEN now() + interval '30 days' END,
    CASE WHEN g % 7 = 0 THEN now() END,
    g % 11 <> 0, NULL, 1
FROM generate_series(1, ${rows}) g;
