-- Model versions acquired from a hub or a folder, and their files.
-- Keep in lockstep with ../sqlite/0004_models.sql.

-- One row per immutable version. The envelope is the signed manifest (a DSSE envelope around an
-- in-toto statement in the OpenSSF model-signing layout): every file's SHA-256 and size, the
-- source, the time and the scanners' verdicts. Nothing loads a version without checking it.
CREATE TABLE model_versions (
    model_id     TEXT NOT NULL REFERENCES securables (id) ON DELETE CASCADE,
    version      BIGINT NOT NULL CHECK (version > 0),
    source       TEXT NOT NULL,
    envelope     TEXT NOT NULL,
    root_digest  TEXT NOT NULL,
    size         BIGINT NOT NULL CHECK (size >= 0),
    file_count   BIGINT NOT NULL CHECK (file_count > 0),
    scan_verdict TEXT NOT NULL CHECK (scan_verdict IN ('clean', 'suspicious')),
    created_at   TEXT NOT NULL,
    created_by   TEXT,
    PRIMARY KEY (model_id, version)
);

-- The files of a version; the bytes are the encrypted artifact `sha256:<hex>` of the content.
CREATE TABLE model_files (
    model_id TEXT NOT NULL,
    version  BIGINT NOT NULL,
    path     TEXT NOT NULL,
    digest   TEXT NOT NULL REFERENCES artifacts (digest),
    size     BIGINT NOT NULL CHECK (size >= 0),
    PRIMARY KEY (model_id, version, path),
    FOREIGN KEY (model_id, version) REFERENCES model_versions (model_id, version) ON DELETE CASCADE
);
CREATE INDEX model_files_by_artifact ON model_files (digest);
