//! Exports: verifiable JSONL (header with the public key, events, checkpoints) and OCSF for SIEMs.
//!
//! JSONL lines, in order: one `{"type":"header",…}` with the public key, then every event as
//! `{"type":"event",…fields…}`, each signed checkpoint as `{"type":"checkpoint",…}` right after the
//! event it covers. OCSF lines are API Activity (6003) events, or Authentication (3002) for `auth.*`
//! actions, with seq and hashes kept in `metadata` and `unmapped`; only JSONL carries checkpoints.

use std::collections::VecDeque;
use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::checkpoint::{Checkpoint, PublicKey};
use crate::error::AuditError;
use crate::event::{AuditEvent, Outcome};

/// The `format` of the JSONL header.
pub const JSONL_FORMAT: &str = "citadel-audit-export-v1";

/// Which export to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// Verifiable JSONL with checkpoints.
    Jsonl,
    /// OCSF 1.3 events, one per line.
    Ocsf,
}

/// One line of a JSONL export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum JsonlLine {
    /// First line: how to verify the rest.
    Header {
        /// [`JSONL_FORMAT`].
        format: String,
        /// Always `ed25519`.
        algorithm: String,
        /// Hex of the 32-byte Ed25519 public key.
        public_key: String,
        /// Key id of that key.
        key_id: String,
    },
    /// An audit event.
    Event(AuditEvent),
    /// A signed checkpoint.
    Checkpoint(Checkpoint),
}

/// Writes an export line by line, placing each checkpoint right after the event it covers.
#[derive(Debug)]
pub struct ExportWriter<W: Write> {
    out: W,
    format: ExportFormat,
    pending_checkpoints: VecDeque<Checkpoint>,
}

impl<W: Write> ExportWriter<W> {
    /// Starts an export (writing the JSONL header) with the checkpoints to interleave.
    pub fn new(
        mut out: W,
        format: ExportFormat,
        public_key: &PublicKey,
        mut checkpoints: Vec<Checkpoint>,
    ) -> Result<Self, AuditError> {
        if format == ExportFormat::Jsonl {
            let header = JsonlLine::Header {
                format: JSONL_FORMAT.to_owned(),
                algorithm: "ed25519".to_owned(),
                public_key: public_key.to_hex(),
                key_id: public_key.key_id(),
            };
            write_line(&mut out, &header)?;
        }
        checkpoints.sort_by_key(|c| c.seq);
        Ok(ExportWriter {
            out,
            format,
            pending_checkpoints: checkpoints.into(),
        })
    }

    /// Writes one event (events must come in seq order).
    pub fn write_event(&mut self, event: &AuditEvent) -> Result<(), AuditError> {
        match self.format {
            ExportFormat::Jsonl => {
                write_line(&mut self.out, &JsonlLine::Event(event.clone()))?;
                self.write_checkpoints_through(event.seq)
            }
            ExportFormat::Ocsf => write_line(&mut self.out, &to_ocsf(event)),
        }
    }

    /// Writes the remaining checkpoints, flushes, and returns the writer.
    pub fn finish(mut self) -> Result<W, AuditError> {
        self.write_checkpoints_through(u64::MAX)?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn write_checkpoints_through(&mut self, seq: u64) -> Result<(), AuditError> {
        if self.format != ExportFormat::Jsonl {
            return Ok(());
        }
        while self
            .pending_checkpoints
            .front()
            .is_some_and(|c| c.seq <= seq)
        {
            if let Some(cp) = self.pending_checkpoints.pop_front() {
                write_line(&mut self.out, &JsonlLine::Checkpoint(cp))?;
            }
        }
        Ok(())
    }
}

fn write_line<T: Serialize>(out: &mut impl Write, line: &T) -> Result<(), AuditError> {
    serde_json::to_writer(&mut *out, line).map_err(std::io::Error::from)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// A JSONL export read back.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedExport {
    /// The key from the header.
    pub public_key: PublicKey,
    /// Events in file order.
    pub events: Vec<AuditEvent>,
    /// Checkpoints in file order.
    pub checkpoints: Vec<Checkpoint>,
}

/// Reads a JSONL export (blank lines are ignored).
pub fn read_jsonl(input: impl BufRead) -> Result<ParsedExport, AuditError> {
    let mut public_key = None;
    let mut events = Vec::new();
    let mut checkpoints = Vec::new();
    for (index, line) in input.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed: JsonlLine =
            serde_json::from_str(&line).map_err(|source| AuditError::Parse {
                line: index + 1,
                source,
            })?;
        match parsed {
            JsonlLine::Header { public_key: k, .. } => public_key = Some(PublicKey::from_hex(&k)?),
            JsonlLine::Event(e) => events.push(e),
            JsonlLine::Checkpoint(c) => checkpoints.push(c),
        }
    }
    Ok(ParsedExport {
        public_key: public_key.ok_or(AuditError::MissingHeader)?,
        events,
        checkpoints,
    })
}

/// The OCSF 1.3 form of an event: Authentication (3002) for `auth.*`, else API Activity (6003).
pub fn to_ocsf(event: &AuditEvent) -> Value {
    let (status_id, status, severity_id) = match event.outcome {
        Outcome::Success => (1, "Success", 1),
        Outcome::Failed => (2, "Failure", 2),
        Outcome::Denied => (2, "Failure", 3),
    };
    let time_ms = OffsetDateTime::parse(&event.time, &Rfc3339)
        .ok()
        .and_then(|t| i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok());
    let user = json!({ "uid": event.actor_id, "name": event.actor_name });
    let mut ocsf = json!({
        "time": time_ms,
        "severity_id": severity_id,
        "status_id": status_id,
        "status": status,
        "status_detail": event.reason,
        "message": event.action,
        "metadata": {
            "version": "1.3.0",
            "product": { "name": "Citadel", "vendor_name": "Citadel", "feature": { "name": "audit" } },
            "uid": event.seq.to_string(),
            "sequence": event.seq,
            "correlation_uid": event.request_id,
            "log_name": "citadel-audit",
        },
        "unmapped": {
            "seq": event.seq,
            "time": event.time,
            "hash": event.hash,
            "prev_hash": event.prev_hash,
            "outcome": event.outcome.as_str(),
            "params": event.params,
            "securable": event.securable,
        },
    });
    let class_fields = if event.action.starts_with("auth.") {
        json!({
            "class_uid": 3002, "class_name": "Authentication", "category_uid": 3,
            "category_name": "Identity & Access Management",
            "activity_id": 1, "activity_name": "Logon", "type_uid": 300201,
            "user": user,
            "auth_protocol_id": 99, "auth_protocol": "Personal access token",
        })
    } else {
        let activity_id = api_activity_id(&event.action);
        let (resource_type, resource_name) = event
            .securable
            .as_deref()
            .and_then(|s| s.split_once(':'))
            .map_or((None, None), |(k, n)| (Some(k), Some(n)));
        json!({
            "class_uid": 6003, "class_name": "API Activity", "category_uid": 6,
            "category_name": "Application Activity",
            "activity_id": activity_id, "type_uid": 600300 + activity_id,
            "actor": { "user": user },
            "api": { "operation": event.action, "request": { "uid": event.request_id },
                     "service": { "name": "citadel" } },
            "resources": resource_name.map(|n| vec![json!({ "type": resource_type, "name": n })]),
        })
    };
    if let (Some(target), Value::Object(extra)) = (ocsf.as_object_mut(), class_fields) {
        target.extend(extra);
    }
    ocsf
}

/// OCSF API Activity id from the verb of `noun.verb`: 1 Create, 2 Read, 3 Update, 4 Delete, 99 Other.
fn api_activity_id(action: &str) -> i64 {
    let verb = action.rsplit('.').next().unwrap_or(action);
    match verb {
        "create" | "add" | "add_member" | "grant" | "init" | "register" | "write" | "mint" => 1,
        "read" | "get" | "list" | "show" | "query" | "export" | "verify" | "download"
        | "whoami" => 2,
        "update" | "set" | "rotate" | "approve" | "enable" | "disable" => 3,
        "delete" | "remove" | "remove_member" | "revoke" | "drop" => 4,
        _ => 99,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::tests::signer;
    use crate::event::tests::{chain, fixed_time};
    use crate::event::{Actor, EventDraft};
    use crate::verify::{verify, ChainStart};

    #[test]
    fn jsonl_round_trips_and_verifies() {
        let s = signer();
        let events = chain(12);
        let cps: Vec<_> = [5u64, 10]
            .iter()
            .map(|&q| {
                s.sign(
                    q,
                    &events[usize::try_from(q).unwrap() - 1].hash,
                    fixed_time(q),
                )
                .unwrap()
            })
            .collect();
        let mut w = ExportWriter::new(
            Vec::new(),
            ExportFormat::Jsonl,
            &s.public_key(),
            cps.clone(),
        )
        .unwrap();
        for e in &events {
            w.write_event(e).unwrap();
        }
        let bytes = w.finish().unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1 + 12 + 2);
        assert!(lines[0].contains(r#""type":"header""#));
        assert!(lines[6].contains(r#""type":"checkpoint""#) && lines[6].contains(r#""seq":5"#));
        let parsed = read_jsonl(bytes.as_slice()).unwrap();
        assert_eq!(parsed.events, events);
        assert_eq!(parsed.checkpoints, cps);
        let r = verify(
            parsed.events,
            parsed.checkpoints,
            &parsed.public_key,
            ChainStart::Genesis,
        );
        assert!(r.is_intact(), "{r:?}");
    }

    #[test]
    fn reading_without_header_or_with_junk_fails() {
        assert!(matches!(
            read_jsonl(&b"\n"[..]),
            Err(AuditError::MissingHeader)
        ));
        assert!(matches!(
            read_jsonl(&b"{\"type\":1}\n"[..]),
            Err(AuditError::Parse { line: 1, .. })
        ));
    }

    #[test]
    fn ocsf_maps_api_activity_and_keeps_the_chain() {
        let e = chain(1).remove(0);
        let o = to_ocsf(&e);
        assert_eq!(o["class_uid"], 6003);
        assert_eq!(o["activity_id"], 1);
        assert_eq!(o["type_uid"], 600301);
        assert_eq!(o["actor"]["user"]["name"], "admin");
        assert_eq!(o["resources"][0]["type"], "catalog");
        assert_eq!(o["resources"][0]["name"], "dev1");
        assert_eq!(o["metadata"]["sequence"], 1);
        assert_eq!(o["unmapped"]["hash"], e.hash.as_str());
        assert_eq!(o["unmapped"]["prev_hash"], e.prev_hash.as_str());
        assert_eq!(o["status_id"], 1);
        assert!(o["time"].as_i64().unwrap() > 1_700_000_000_000);
    }

    #[test]
    fn ocsf_maps_failed_authentication() {
        let e = EventDraft::new(&Actor::anonymous(), "r1", "auth.authenticate")
            .denied("unknown token")
            .seal(1, crate::GENESIS_HASH, fixed_time(1))
            .unwrap();
        let o = to_ocsf(&e);
        assert_eq!(o["class_uid"], 3002);
        assert_eq!(o["type_uid"], 300201);
        assert_eq!(o["user"]["name"], "anonymous");
        assert_eq!(o["status_id"], 2);
        assert_eq!(o["status_detail"], "unknown token");
        assert_eq!(o["severity_id"], 3);
    }

    #[test]
    fn ocsf_export_has_one_line_per_event_and_no_checkpoints() {
        let s = signer();
        let events = chain(3);
        let cp = s.sign(3, &events[2].hash, fixed_time(3)).unwrap();
        let mut w =
            ExportWriter::new(Vec::new(), ExportFormat::Ocsf, &s.public_key(), vec![cp]).unwrap();
        for e in &events {
            w.write_event(e).unwrap();
        }
        let text = String::from_utf8(w.finish().unwrap()).unwrap();
        assert_eq!(text.lines().count(), 3);
        assert_eq!(api_activity_id("grant.revoke"), 4);
        assert_eq!(api_activity_id("audit.query"), 2);
        assert_eq!(api_activity_id("model.frobnicate"), 99);
    }
}
