-- Citadel metadata schema, PostgreSQL flavour. Keep in lockstep with ../sqlite/0001_initial.sql.
-- Ids are UUID text, times are RFC 3339 UTC text with microseconds (fixed width, so they sort;
-- compared columns use the "C" collation so ordering is bytewise).

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE principals (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('user', 'group', 'service_principal')),
    name       TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    created_by TEXT,
    disabled   BIGINT NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1))
);

CREATE TABLE group_members (
    group_id  TEXT NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    member_id TEXT NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    added_at  TEXT NOT NULL,
    added_by  TEXT,
    PRIMARY KEY (group_id, member_id),
    CHECK (group_id <> member_id)
);
CREATE INDEX group_members_by_member ON group_members (member_id);

CREATE TABLE tokens (
    id           TEXT PRIMARY KEY,
    principal_id TEXT NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    scope        TEXT NOT NULL CHECK (scope IN ('control', 'invoke')),
    created_at   TEXT NOT NULL,
    expires_at   TEXT COLLATE "C" NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);
CREATE INDEX tokens_by_principal ON tokens (principal_id);

CREATE TABLE securables (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('metastore', 'catalog', 'schema', 'dataset', 'model', 'endpoint', 'secret_scope')),
    parent_id  TEXT REFERENCES securables (id),
    name       TEXT NOT NULL,
    full_name  TEXT NOT NULL UNIQUE,
    owner_id   TEXT REFERENCES principals (id),
    created_at TEXT NOT NULL,
    created_by TEXT,
    comment    TEXT
);
CREATE INDEX securables_by_parent ON securables (parent_id);

CREATE TABLE grants (
    securable_id TEXT NOT NULL REFERENCES securables (id) ON DELETE CASCADE,
    principal_id TEXT NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    privilege    TEXT NOT NULL,
    effect       TEXT NOT NULL CHECK (effect IN ('ALLOW', 'DENY')),
    granted_by   TEXT,
    granted_at   TEXT NOT NULL,
    UNIQUE (securable_id, principal_id, privilege, effect)
);
CREATE INDEX grants_by_principal ON grants (principal_id);

CREATE TABLE artifacts (
    digest         TEXT PRIMARY KEY,
    size           BIGINT NOT NULL CHECK (size >= 0),
    artifact_id    TEXT NOT NULL,
    wrapped_key    BYTEA NOT NULL,
    kek_id         TEXT NOT NULL,
    location       TEXT NOT NULL,
    chunk_size     BIGINT NOT NULL CHECK (chunk_size > 0),
    format_version BIGINT NOT NULL,
    created_at     TEXT NOT NULL,
    created_by     TEXT
);

CREATE TABLE audit_events (
    seq        BIGINT PRIMARY KEY,
    time       TEXT COLLATE "C" NOT NULL,
    actor_id   TEXT,
    actor_name TEXT NOT NULL,
    action     TEXT NOT NULL,
    securable  TEXT,
    params     TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    reason     TEXT,
    request_id TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);
CREATE INDEX audit_events_by_time ON audit_events (time);
CREATE INDEX audit_events_by_actor ON audit_events (actor_name);
CREATE INDEX audit_events_by_action ON audit_events (action);
CREATE INDEX audit_events_by_securable ON audit_events (securable);
CREATE INDEX audit_events_by_outcome ON audit_events (outcome);

CREATE TABLE audit_checkpoints (
    seq       BIGINT PRIMARY KEY,
    head_hash TEXT NOT NULL,
    time      TEXT NOT NULL,
    key_id    TEXT NOT NULL,
    signature TEXT NOT NULL
);

-- The single row every write transaction locks first: it serializes audit appends across processes.
CREATE TABLE audit_head (
    id             BIGINT PRIMARY KEY CHECK (id = 1),
    seq            BIGINT NOT NULL,
    hash           TEXT NOT NULL,
    checkpoint_seq BIGINT NOT NULL
);
INSERT INTO audit_head (id, seq, hash, checkpoint_seq)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000', 0);
