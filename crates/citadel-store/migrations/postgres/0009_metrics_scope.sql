-- Personal access tokens may have the `metrics` scope (scrape the gateway's /metrics, nothing
-- else).
ALTER TABLE tokens DROP CONSTRAINT tokens_scope_check;
ALTER TABLE tokens ADD CONSTRAINT tokens_scope_check
    CHECK (scope IN ('control', 'invoke', 'metrics'));
