-- Serving endpoints. The endpoint itself is a securable (kind 'endpoint', under a schema) that
-- carries its name, owner and grants; these tables hold its configuration. Every change appends
-- a revision (create, update, rollback) and nothing rewrites one, so the history is complete and
-- a rollback restores exactly the versions that served before.
-- Keep in lockstep with ../sqlite/0006_endpoints.sql.

-- One row per endpoint: which revision serves now.
CREATE TABLE endpoints (
    id         TEXT PRIMARY KEY REFERENCES securables (id) ON DELETE CASCADE,
    revision   BIGINT NOT NULL CHECK (revision > 0),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- Every configuration an endpoint has had, as JSON: the model, its pinned versions and their
-- traffic weights, guardrails, rate limits, concurrency, scale to zero and the log policy.
-- `restored` names the revision a rollback copied.
CREATE TABLE endpoint_revisions (
    endpoint_id TEXT NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    revision    BIGINT NOT NULL CHECK (revision > 0),
    change      TEXT NOT NULL CHECK (change IN ('create', 'update', 'rollback')),
    restored    BIGINT CHECK (restored > 0),
    config      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    created_by  TEXT,
    PRIMARY KEY (endpoint_id, revision),
    CHECK ((change = 'rollback') = (restored IS NOT NULL))
);

-- A counter every endpoint change (deletions included) increments: the gateway polls this one
-- row to notice that it must reload its endpoints.
CREATE TABLE endpoint_generation (
    id         BIGINT PRIMARY KEY CHECK (id = 1),
    generation BIGINT NOT NULL CHECK (generation >= 0)
);
INSERT INTO endpoint_generation (id, generation) VALUES (1, 0);
