//! Audit events: the draft a caller fills in, and the sealed, hash-chained event the store keeps.

use std::fmt;

use ring::digest;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use time::format_description::well_known::iso8601::{
    Config, EncodedConfig, Iso8601, TimePrecision,
};
use time::OffsetDateTime;

use crate::canonical::{normalize_numbers, write_string, write_value};
use crate::error::AuditError;
use crate::redact::redact_params;

/// `prev_hash` of the first event of a chain: 64 hex zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const TIME_CONFIG: EncodedConfig = Config::DEFAULT
    .set_time_precision(TimePrecision::Second {
        decimal_digits: std::num::NonZeroU8::new(6),
    })
    .encode();

/// Formats `t` as RFC 3339 UTC with exactly six fractional digits, e.g. `2025-01-02T03:04:05.000006Z`.
/// The fixed width makes times sort correctly as text.
pub fn format_time(t: OffsetDateTime) -> Result<String, AuditError> {
    Ok(t.to_offset(time::UtcOffset::UTC)
        .format(&Iso8601::<TIME_CONFIG>)?)
}

/// How the audited attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The operation was allowed and done.
    Success,
    /// Authentication or authorization refused it.
    Denied,
    /// It was allowed but failed (bad input, conflict, IO).
    Failed,
}

impl Outcome {
    /// The lowercase name stored in the database and hashed.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Denied => "denied",
            Outcome::Failed => "failed",
        }
    }

    /// Parses [`Outcome::as_str`] output.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "success" => Some(Outcome::Success),
            "denied" => Some(Outcome::Denied),
            "failed" => Some(Outcome::Failed),
            _ => None,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who did it: an authenticated principal, or `anonymous` when authentication failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The principal id, `None` for anonymous.
    pub id: Option<String>,
    /// The principal name (`anonymous` when unauthenticated).
    pub name: String,
}

impl Actor {
    /// An authenticated principal.
    pub fn principal(id: impl fmt::Display, name: impl Into<String>) -> Self {
        Actor {
            id: Some(id.to_string()),
            name: name.into(),
        }
    }

    /// Citadel itself, for housekeeping no principal asked for (recording a home's first key).
    pub fn system() -> Self {
        Actor {
            id: None,
            name: "system".to_owned(),
        }
    }

    /// The unauthenticated caller of a refused request.
    pub fn anonymous() -> Self {
        Actor {
            id: None,
            name: "anonymous".to_owned(),
        }
    }
}

/// An event before it is sealed into the chain (no seq, time or hashes yet).
#[derive(Debug, Clone, PartialEq)]
pub struct EventDraft {
    /// Who.
    pub actor: Actor,
    /// What, as `noun.verb`, e.g. `principal.create`, `auth.authenticate`.
    pub action: String,
    /// On what, as `kind:full.name`, if anything.
    pub securable: Option<String>,
    /// Parameters, already redacted (see [`EventDraft::with_params`]).
    pub params: Value,
    /// How it ended.
    pub outcome: Outcome,
    /// Why it was denied or failed.
    pub reason: Option<String>,
    /// The request this happened in.
    pub request_id: String,
}

impl EventDraft {
    /// A successful `action` by `actor` in request `request_id`, with empty params.
    pub fn new(actor: &Actor, request_id: impl fmt::Display, action: impl Into<String>) -> Self {
        EventDraft {
            actor: actor.clone(),
            action: action.into(),
            securable: None,
            params: json!({}),
            outcome: Outcome::Success,
            reason: None,
            request_id: request_id.to_string(),
        }
    }

    /// Sets the securable (`kind:full.name`).
    #[must_use]
    pub fn on(mut self, securable: impl Into<String>) -> Self {
        self.securable = Some(securable.into());
        self
    }

    /// Sets the parameters, passing them through [`redact_params`] first.
    #[must_use]
    pub fn with_params(mut self, params: Value) -> Self {
        self.params = redact_params(params);
        self
    }

    /// Marks the attempt as denied, with the reason.
    #[must_use]
    pub fn denied(mut self, reason: impl Into<String>) -> Self {
        self.outcome = Outcome::Denied;
        self.reason = Some(reason.into());
        self
    }

    /// Marks the attempt as failed, with the reason.
    #[must_use]
    pub fn failed(mut self, reason: impl Into<String>) -> Self {
        self.outcome = Outcome::Failed;
        self.reason = Some(reason.into());
        self
    }

    /// Seals the draft as event `seq` following `prev_hash`, at `time`.
    pub fn seal(
        self,
        seq: u64,
        prev_hash: &str,
        time: OffsetDateTime,
    ) -> Result<AuditEvent, AuditError> {
        let mut event = AuditEvent {
            seq,
            time: format_time(time)?,
            actor_id: self.actor.id,
            actor_name: self.actor.name,
            action: self.action,
            securable: self.securable,
            params: normalize_numbers(self.params),
            outcome: self.outcome,
            reason: self.reason,
            request_id: self.request_id,
            prev_hash: prev_hash.to_owned(),
            hash: String::new(),
        };
        event.hash = event.compute_hash();
        Ok(event)
    }
}

/// A sealed event, as stored and exported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AuditEvent {
    /// Position in the chain, from 1 with no gaps.
    pub seq: u64,
    /// RFC 3339 UTC with microseconds.
    pub time: String,
    /// Principal id of the actor (`None` when anonymous).
    pub actor_id: Option<String>,
    /// Principal name of the actor, `anonymous` for failed authentication.
    pub actor_name: String,
    /// What was done, e.g. `grant.create`.
    pub action: String,
    /// `kind:full.name` of the object, if any.
    pub securable: Option<String>,
    /// Redacted parameters; non-integer numbers are strings.
    pub params: Value,
    /// How it ended.
    pub outcome: Outcome,
    /// Why it was denied or failed.
    pub reason: Option<String>,
    /// Request id.
    pub request_id: String,
    /// Hash of the previous event (hex), [`GENESIS_HASH`] for seq 1.
    pub prev_hash: String,
    /// SHA-256 (hex) of [`AuditEvent::canonical_bytes`].
    pub hash: String,
}

impl AuditEvent {
    /// The canonical JSON of every field except `hash` (see `docs/AUDIT-VERIFY.md`).
    pub fn canonical_bytes(&self) -> Vec<u8> {
        self.canonical_bytes_with_seq(self.seq)
    }

    /// The canonical bytes as if the event had sequence number `seq` (used to diagnose renumbering).
    ///
    /// Written field by field, keys in their sorted order, which is exactly
    /// `to_canonical_bytes` of the eleven-field object (a unit test holds the two together).
    pub(crate) fn canonical_bytes_with_seq(&self, seq: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(384);
        let field = |out: &mut Vec<u8>, key: &str| {
            out.push(if out.is_empty() { b'{' } else { b',' });
            write_string(key, out);
            out.push(b':');
        };
        let opt = |out: &mut Vec<u8>, value: &Option<String>| match value {
            Some(s) => write_string(s, out),
            None => out.extend_from_slice(b"null"),
        };
        field(&mut out, "action");
        write_string(&self.action, &mut out);
        field(&mut out, "actor_id");
        opt(&mut out, &self.actor_id);
        field(&mut out, "actor_name");
        write_string(&self.actor_name, &mut out);
        field(&mut out, "outcome");
        write_string(self.outcome.as_str(), &mut out);
        field(&mut out, "params");
        write_value(&self.params, &mut out);
        field(&mut out, "prev_hash");
        write_string(&self.prev_hash, &mut out);
        field(&mut out, "reason");
        opt(&mut out, &self.reason);
        field(&mut out, "request_id");
        write_string(&self.request_id, &mut out);
        field(&mut out, "securable");
        opt(&mut out, &self.securable);
        field(&mut out, "seq");
        out.extend_from_slice(seq.to_string().as_bytes());
        field(&mut out, "time");
        write_string(&self.time, &mut out);
        out.push(b'}');
        out
    }

    /// SHA-256 (lowercase hex) of the canonical bytes.
    pub fn compute_hash(&self) -> String {
        sha256_hex(&self.canonical_bytes())
    }

    /// The hash this event would have with sequence number `seq`.
    pub(crate) fn compute_hash_with_seq(&self, seq: u64) -> String {
        sha256_hex(&self.canonical_bytes_with_seq(seq))
    }
}

/// Lowercase hex SHA-256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, bytes))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn fixed_time(i: u64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(
            1_750_000_000_000_000_000 + i128::from(i) * 1_000_123_000,
        )
        .unwrap()
    }

    /// A chain of `n` events built the way the store builds it.
    pub(crate) fn chain(n: u64) -> Vec<AuditEvent> {
        let actor = Actor::principal("0190b6e2-0000-7000-8000-000000000001", "admin");
        let mut prev = GENESIS_HASH.to_owned();
        (1..=n)
            .map(|seq| {
                let e = EventDraft::new(&actor, format!("req-{seq}"), "principal.create")
                    .on(format!("catalog:dev{seq}"))
                    .with_params(json!({"name": format!("user{seq}"), "ratio": 0.5}))
                    .seal(seq, &prev, fixed_time(seq))
                    .unwrap();
                prev = e.hash.clone();
                e
            })
            .collect()
    }

    #[test]
    fn time_is_rfc3339_utc_with_microseconds() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_789).unwrap();
        assert_eq!(format_time(t).unwrap(), "2023-11-14T22:13:20.123456Z");
    }

    #[test]
    fn canonical_bytes_cover_every_field_but_hash() {
        let e = chain(1).remove(0);
        let text = String::from_utf8(e.canonical_bytes()).unwrap();
        assert!(text.starts_with(r#"{"action":"principal.create","actor_id":"0190b6e2"#));
        assert!(text.contains(r#""params":{"name":"user1","ratio":"0.5"}"#));
        assert!(text.contains(&format!(r#""prev_hash":"{GENESIS_HASH}""#)));
        assert!(!text.contains("\"hash\""));
        assert_eq!(e.hash, sha256_hex(text.as_bytes()));
    }

    #[test]
    fn fast_canonical_bytes_equal_the_generic_canonical_form() {
        let mut events = chain(2);
        events[1].actor_id = None;
        events[1].reason = Some("q\"\n\u{1}é".into());
        events[1].params = json!({"z": [1, {"b": null, "a": true}], "A": "x"});
        for e in events {
            let generic = crate::canonical::to_canonical_bytes(&json!({
                "seq": e.seq, "time": e.time, "actor_id": e.actor_id, "actor_name": e.actor_name,
                "action": e.action, "securable": e.securable, "params": e.params,
                "outcome": e.outcome.as_str(), "reason": e.reason, "request_id": e.request_id,
                "prev_hash": e.prev_hash,
            }));
            assert_eq!(e.canonical_bytes(), generic);
        }
    }

    #[test]
    fn every_field_changes_the_hash() {
        let base = chain(1).remove(0);
        let edits: [fn(&mut AuditEvent); 11] = [
            |e| e.seq = 2,
            |e| e.time.push('x'),
            |e| e.actor_id = None,
            |e| e.actor_name.push('x'),
            |e| e.action.push('x'),
            |e| e.securable = None,
            |e| e.params = json!({}),
            |e| e.outcome = Outcome::Denied,
            |e| e.reason = Some(String::new()),
            |e| e.request_id.push('x'),
            |e| e.prev_hash = "1".repeat(64),
        ];
        for edit in edits {
            let mut e = base.clone();
            edit(&mut e);
            assert_ne!(e.compute_hash(), base.hash);
        }
    }

    #[test]
    fn draft_redacts_params_and_records_outcomes() {
        let d = EventDraft::new(&Actor::anonymous(), "r", "auth.authenticate")
            .with_params(json!({"token": "cit_pat_abc"}))
            .denied("unknown token");
        assert_eq!(d.actor.name, "anonymous");
        assert_eq!(d.params, json!({"token": "[REDACTED]"}));
        assert_eq!(d.outcome, Outcome::Denied);
        assert_eq!(Outcome::parse(d.outcome.as_str()), Some(Outcome::Denied));
    }
}
