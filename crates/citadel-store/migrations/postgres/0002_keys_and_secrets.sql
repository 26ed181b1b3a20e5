-- Key-encryption keys and sealed secret versions. Keep in lockstep with ../sqlite/0002_keys_and_secrets.sql.

-- Every key-encryption key the home has used (ids only: the keys live with the key provider).
CREATE TABLE key_encryption_keys (
    kek_id       TEXT PRIMARY KEY,
    provider     TEXT NOT NULL,
    activated_at TEXT NOT NULL,
    activated_by TEXT,
    retired_at   TEXT
);

-- One row per secret version: the value sealed under its own data key, wrapped by a KEK.
CREATE TABLE secret_versions (
    scope_id    TEXT NOT NULL REFERENCES securables (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    version     BIGINT NOT NULL CHECK (version > 0),
    ciphertext  BYTEA NOT NULL,
    wrapped_key BYTEA NOT NULL,
    kek_id      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    created_by  TEXT,
    PRIMARY KEY (scope_id, name, version)
);
