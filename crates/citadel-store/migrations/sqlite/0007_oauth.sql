-- OAuth 2.0 client credentials for service principals, and the Ed25519 keys that sign the JWTs
-- they are exchanged for. Keep in lockstep with ../postgres/0007_oauth.sql.

-- One row per client: only the SHA-256 of its secret is stored (the secret is shown once).
CREATE TABLE oauth_clients (
    id           TEXT PRIMARY KEY,
    principal_id TEXT NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    secret_hash  TEXT NOT NULL UNIQUE,
    scope        TEXT NOT NULL CHECK (scope IN ('control', 'invoke', 'metrics')),
    created_at   TEXT NOT NULL,
    created_by   TEXT,
    expires_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);
CREATE INDEX oauth_clients_by_principal ON oauth_clients (principal_id);

-- JWT signing keys. The public key (raw 32 bytes) stays for verification and the JWKS; the
-- private key (PKCS#8) is sealed under its own data key, wrapped by the key-encryption key
-- kek_id. A rotation retires the active key and erases its private half: a retired key only
-- verifies the tokens it signed until they expire.
CREATE TABLE jwt_signing_keys (
    kid         TEXT PRIMARY KEY,
    public_key  BLOB NOT NULL,
    private_key BLOB,
    wrapped_key BLOB,
    kek_id      TEXT,
    created_at  TEXT NOT NULL,
    retired_at  TEXT,
    CHECK ((retired_at IS NULL) = (private_key IS NOT NULL)),
    CHECK ((private_key IS NULL) = (wrapped_key IS NULL)),
    CHECK ((private_key IS NULL) = (kek_id IS NULL))
);
-- At most one active key.
CREATE UNIQUE INDEX jwt_signing_keys_one_active ON jwt_signing_keys ((retired_at IS NULL)) WHERE retired_at IS NULL;
