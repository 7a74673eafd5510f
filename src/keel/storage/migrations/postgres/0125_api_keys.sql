-- API keys of `keel keys create --app` for a PostgreSQL app: the same columns as the
-- SQLite `api_keys` table (keel.security.keys). Only the secret's SHA-256 is stored.
CREATE TABLE api_keys (
    id             TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL,
    user_id        TEXT,
    name           TEXT NOT NULL,
    secret_sha256  TEXT NOT NULL,
    roles          TEXT NOT NULL,
    agents         TEXT,
    tools          TEXT,
    created_at     DOUBLE PRECISION NOT NULL,
    expires_at     DOUBLE PRECISION,
    revoked_at     DOUBLE PRECISION
);

CREATE INDEX api_keys_by_tenant ON api_keys (tenant_id, created_at);
