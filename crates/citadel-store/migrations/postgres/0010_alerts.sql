-- Alerts raised by the alert rules, and silences. Every change to either is a state change with
-- its audit event in the same transaction (alert.pending, alert.fire, alert.resolve,
-- alert.clear, alert.notify, alert.acknowledge, alert.silence).
-- Keep in lockstep with ../sqlite/0010_alerts.sql.

-- One row per occurrence of a rule's condition for one group (`group_key`: the address,
-- principal, endpoint… the rule groups by, or `all`). `pending` rows wait for the rule's `for`
-- duration; an acknowledged alert is still open until its condition clears. At most one open
-- (not resolved) row per rule and group: one ongoing condition is one alert. `silenced_until`
-- is set when a silence matched as it fired (recorded, not notified). `notification` is the
-- last delivery's result as text. Times are RFC 3339 UTC text with six fractional digits.
CREATE TABLE alerts (
    id             TEXT PRIMARY KEY,
    rule           TEXT NOT NULL,
    severity       TEXT NOT NULL,
    group_label    TEXT,
    group_key      TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('pending', 'firing', 'acknowledged', 'resolved')),
    value          DOUBLE PRECISION,
    summary        TEXT NOT NULL,
    started_at     TEXT NOT NULL,
    fired_at       TEXT,
    resolved_at    TEXT,
    acked_at       TEXT,
    acked_by       TEXT,
    silenced_until TEXT,
    notification   TEXT
);
CREATE UNIQUE INDEX alerts_open_per_group ON alerts (rule, group_key) WHERE status <> 'resolved';
CREATE INDEX alerts_by_start ON alerts (started_at, id);

-- A silence: alerts of `rule` (and of `group_key` when set) that fire before `ends_at` are
-- recorded but not notified.
CREATE TABLE alert_silences (
    id         TEXT PRIMARY KEY,
    rule       TEXT NOT NULL,
    group_key  TEXT,
    ends_at    TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    reason     TEXT NOT NULL
);
CREATE INDEX alert_silences_by_end ON alert_silences (ends_at);
