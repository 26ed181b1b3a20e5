-- The registry: tracked training runs, what became of each model version after acquisition or
-- training (status, gates, card, BOM, promotion), and the names people use for versions.
-- Keep in lockstep with ../sqlite/0005_registry.sql.

-- One row per tracked training run. `fingerprint` is the SHA-256 of everything that shapes the
-- training (base version, datasets, parameters, limits): a pipeline re-run with the same
-- fingerprint reuses a finished run or resumes an interrupted one from its last checkpoint.
-- `owner_pid`/`owner_host` name the process running it, so a run whose process died (SIGKILL,
-- power loss) is recognised as interrupted rather than still running.
CREATE TABLE runs (
    id           TEXT PRIMARY KEY,
    schema_id    TEXT NOT NULL REFERENCES securables (id) ON DELETE CASCADE,
    model_name   TEXT NOT NULL,
    pipeline     TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    status       TEXT NOT NULL
                 CHECK (status IN ('running', 'succeeded', 'failed', 'interrupted')),
    params       TEXT NOT NULL,
    lineage      TEXT NOT NULL,
    code_version TEXT NOT NULL,
    seed         TEXT NOT NULL,
    total_steps  BIGINT NOT NULL CHECK (total_steps > 0),
    steps_done   BIGINT NOT NULL DEFAULT 0 CHECK (steps_done >= 0),
    attempts     BIGINT NOT NULL DEFAULT 1 CHECK (attempts > 0),
    owner_pid    BIGINT,
    owner_host   TEXT,
    summary      TEXT,
    error        TEXT,
    cpu_seconds  DOUBLE PRECISION NOT NULL DEFAULT 0,
    started_at   TEXT NOT NULL,
    finished_at  TEXT,
    created_by   TEXT
);
CREATE INDEX runs_by_fingerprint ON runs (fingerprint);
CREATE INDEX runs_by_schema ON runs (schema_id);

-- Metrics of a run: one value per key and step (loss, lr, grad_norm, tokens_per_s, eval_loss…).
CREATE TABLE run_metrics (
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    key    TEXT NOT NULL,
    step   BIGINT NOT NULL CHECK (step >= 0),
    value  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (run_id, key, step)
);

-- Files a run wrote, each an encrypted artifact: checkpoints (the last K are kept) and outputs
-- (the trained adapter).
CREATE TABLE run_artifacts (
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    kind   TEXT NOT NULL CHECK (kind IN ('checkpoint', 'output')),
    step   BIGINT NOT NULL CHECK (step >= 0),
    path   TEXT NOT NULL,
    digest TEXT NOT NULL REFERENCES artifacts (digest),
    size   BIGINT NOT NULL CHECK (size >= 0),
    PRIMARY KEY (run_id, kind, step, path)
);
CREATE INDEX run_artifacts_by_artifact ON run_artifacts (digest);

-- Registry state of a version. Acquired versions start pending review with no gates; a trained
-- version names its run and carries its gate report; a promoted copy names its origin.
ALTER TABLE model_versions ADD COLUMN status TEXT NOT NULL DEFAULT 'pending_review'
    CHECK (status IN ('pending_review', 'approved', 'rejected', 'archived'));
ALTER TABLE model_versions ADD COLUMN status_reason TEXT;
ALTER TABLE model_versions ADD COLUMN run_id TEXT REFERENCES runs (id);
ALTER TABLE model_versions ADD COLUMN gates TEXT;
ALTER TABLE model_versions ADD COLUMN gates_passed BIGINT CHECK (gates_passed IN (0, 1));
ALTER TABLE model_versions ADD COLUMN promoted_from TEXT;
ALTER TABLE model_versions ADD COLUMN lineage TEXT;
ALTER TABLE model_versions ADD COLUMN card TEXT;
ALTER TABLE model_versions ADD COLUMN bom TEXT;

-- Approval decisions, kept forever (the version's status is the latest decision).
CREATE TABLE model_approvals (
    model_id    TEXT NOT NULL,
    version     BIGINT NOT NULL,
    decision    TEXT NOT NULL CHECK (decision IN ('approved', 'rejected')),
    decided_by  TEXT NOT NULL,
    comment     TEXT NOT NULL,
    decided_at  TEXT NOT NULL,
    FOREIGN KEY (model_id, version) REFERENCES model_versions (model_id, version) ON DELETE CASCADE
);
CREATE INDEX model_approvals_by_version ON model_approvals (model_id, version);

-- Named pointers to versions (champion, challenger, custom): one version per alias per model.
CREATE TABLE model_aliases (
    model_id TEXT NOT NULL,
    alias    TEXT NOT NULL,
    version  BIGINT NOT NULL,
    set_by   TEXT,
    set_at   TEXT NOT NULL,
    PRIMARY KEY (model_id, alias),
    FOREIGN KEY (model_id, version) REFERENCES model_versions (model_id, version) ON DELETE CASCADE
);

-- Free-form key/value tags on versions.
CREATE TABLE model_tags (
    model_id TEXT NOT NULL,
    version  BIGINT NOT NULL,
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (model_id, version, key),
    FOREIGN KEY (model_id, version) REFERENCES model_versions (model_id, version) ON DELETE CASCADE
);
