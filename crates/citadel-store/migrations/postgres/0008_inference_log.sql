-- The inference table: one row per request the gateway answered or refused, written in batches by
-- the gateway's inference log writer. These rows are data-plane records, not state changes, so
-- they carry no audit event each (reading or exporting them is authorized and audited).
-- Keep in lockstep with ../sqlite/0008_inference_log.sql.

-- `seq` orders rows written in the same microsecond. `endpoint_id` is the endpoint's securable id
-- without a foreign key: the log of a deleted endpoint is kept, and a new endpoint of the same
-- name never sees it. `model`/`model_version` are NULL when the request was refused before a
-- version was chosen (rate limited, blocked on input). `prompt` and `completion` are stored as the
-- endpoint's policy redacted them (in full, PII-masked, or NULL when omitted). `guardrails` is a
-- JSON array of decisions. Times are RFC 3339 UTC text with six fractional digits.
CREATE TABLE inference_log (
    seq            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    time           TEXT NOT NULL,
    endpoint       TEXT NOT NULL,
    endpoint_id    TEXT NOT NULL,
    model          TEXT,
    model_version  BIGINT CHECK (model_version > 0),
    principal_id   TEXT,
    principal_name TEXT,
    request_id     TEXT NOT NULL,
    route          TEXT NOT NULL CHECK (route IN ('completions', 'chat', 'invocations')),
    prompt         TEXT,
    completion     TEXT,
    tokens_in      BIGINT NOT NULL CHECK (tokens_in >= 0),
    tokens_out     BIGINT NOT NULL CHECK (tokens_out >= 0),
    latency_ms     BIGINT NOT NULL CHECK (latency_ms >= 0),
    ttft_ms        BIGINT CHECK (ttft_ms >= 0),
    guardrails     TEXT NOT NULL,
    status         TEXT NOT NULL,
    http_status    BIGINT NOT NULL CHECK (http_status BETWEEN 100 AND 599),
    client_addr    TEXT
);
CREATE INDEX inference_log_by_endpoint_time ON inference_log (endpoint_id, time, seq);
