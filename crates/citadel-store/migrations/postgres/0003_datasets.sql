-- Datasets, their immutable versions, training waivers, erasures and principal attributes.
-- Keep in lockstep with ../sqlite/0003_datasets.sql.

-- Per-dataset settings. The dataset key (wrapped by the KEK) derives the salt, pseudonym key and
-- encryption key anonymizers use, so values link within a dataset and never across.
CREATE TABLE datasets (
    securable_id TEXT PRIMARY KEY REFERENCES securables (id) ON DELETE CASCADE,
    wrapped_key  BYTEA NOT NULL,
    kek_id       TEXT NOT NULL,
    row_policy   TEXT NOT NULL,
    retention    TEXT
);

-- One row per version. A version's bytes are an encrypted artifact; garbage collection removes the
-- bytes and keeps the row as a tombstone (deleted_at) so lineage stays whole.
CREATE TABLE dataset_versions (
    dataset_id      TEXT NOT NULL REFERENCES securables (id) ON DELETE CASCADE,
    version         BIGINT NOT NULL CHECK (version > 0),
    artifact_digest TEXT,
    row_count       BIGINT NOT NULL CHECK (row_count >= 0),
    size            BIGINT NOT NULL CHECK (size >= 0),
    schema          TEXT NOT NULL,
    source          TEXT NOT NULL,
    pii_verdict     TEXT,
    created_at      TEXT NOT NULL,
    created_by      TEXT,
    rewritten_at    TEXT,
    deleted_at      TEXT,
    deleted_reason  TEXT,
    PRIMARY KEY (dataset_id, version)
);
CREATE INDEX dataset_versions_by_artifact ON dataset_versions (artifact_digest);

-- Waivers that let a version with unredacted PII be used for training: requested by one
-- principal, approved by another, until an expiry.
CREATE TABLE dataset_waivers (
    id            TEXT PRIMARY KEY,
    dataset_id    TEXT NOT NULL REFERENCES securables (id) ON DELETE CASCADE,
    version       BIGINT NOT NULL,
    justification TEXT NOT NULL,
    requested_by  TEXT NOT NULL,
    requested_at  TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    approved_by   TEXT,
    approved_at   TEXT,
    CHECK (approved_by IS NULL OR approved_by <> requested_by)
);

-- Erasures (GDPR article 17): what was erased (the value only as a salted hash), by whom, when.
CREATE TABLE dataset_erasures (
    id                 TEXT PRIMARY KEY,
    dataset_id         TEXT NOT NULL REFERENCES securables (id) ON DELETE CASCADE,
    column_name        TEXT NOT NULL,
    value_hash         TEXT NOT NULL,
    rows_erased        BIGINT NOT NULL,
    versions_rewritten BIGINT NOT NULL,
    new_version        BIGINT,
    erased_by          TEXT,
    erased_at          TEXT NOT NULL
);

-- Attributes row filters compare against (`region IN viewer.regions`).
CREATE TABLE principal_attributes (
    principal_id TEXT NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    value        TEXT NOT NULL,
    PRIMARY KEY (principal_id, name, value)
);
