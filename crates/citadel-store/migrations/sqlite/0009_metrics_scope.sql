-- Personal access tokens may have the `metrics` scope (scrape the gateway's /metrics, nothing
-- else). SQLite cannot alter a CHECK constraint: the table is rebuilt with the same rows.
CREATE TABLE tokens_rebuilt (
    id           TEXT PRIMARY KEY,
    principal_id TEXT NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    scope        TEXT NOT NULL CHECK (scope IN ('control', 'invoke', 'metrics')),
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);
INSERT INTO tokens_rebuilt (id, principal_id, name, token_hash, scope, created_at, expires_at,
                            last_used_at, revoked_at)
    SELECT id, principal_id, name, token_hash, scope, created_at, expires_at, last_used_at,
           revoked_at
    FROM tokens;
DROP TABLE tokens;
ALTER TABLE tokens_rebuilt RENAME TO tokens;
CREATE INDEX tokens_by_principal ON tokens (principal_id);
