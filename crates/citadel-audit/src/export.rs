//! The verifiable JSONL export (header with the public key, events, checkpoints), and reading it
//! back.
//!
//! Lines, in order: one `{"type":"header",…}` with the public key, then every event as
//! `{"type":"event",…fields…}`, each signed checkpoint as `{"type":"checkpoint",…}` right after the
//! event it covers. (The OCSF form of events for SIEMs is `citadel_monitor::ocsf`.)

use std::collections::VecDeque;
use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};

use crate::checkpoint::{Checkpoint, PublicKey};
use crate::error::AuditError;
use crate::event::AuditEvent;

/// The `format` of the JSONL header.
pub const JSONL_FORMAT: &str = "citadel-audit-export-v1";

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
    pending_checkpoints: VecDeque<Checkpoint>,
}

impl<W: Write> ExportWriter<W> {
    /// Starts an export (writing the header) with the checkpoints to interleave.
    pub fn new(
        mut out: W,
        public_key: &PublicKey,
        mut checkpoints: Vec<Checkpoint>,
    ) -> Result<Self, AuditError> {
        let header = JsonlLine::Header {
            format: JSONL_FORMAT.to_owned(),
            algorithm: "ed25519".to_owned(),
            public_key: public_key.to_hex(),
            key_id: public_key.key_id(),
        };
        write_line(&mut out, &header)?;
        checkpoints.sort_by_key(|c| c.seq);
        Ok(ExportWriter {
            out,
            pending_checkpoints: checkpoints.into(),
        })
    }

    /// Writes one event (events must come in seq order).
    pub fn write_event(&mut self, event: &AuditEvent) -> Result<(), AuditError> {
        write_line(&mut self.out, &JsonlLine::Event(event.clone()))?;
        self.write_checkpoints_through(event.seq)
    }

    /// Writes the remaining checkpoints, flushes, and returns the writer.
    pub fn finish(mut self) -> Result<W, AuditError> {
        self.write_checkpoints_through(u64::MAX)?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn write_checkpoints_through(&mut self, seq: u64) -> Result<(), AuditError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::tests::signer;
    use crate::event::tests::{chain, fixed_time};
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
        let mut w = ExportWriter::new(Vec::new(), &s.public_key(), cps.clone()).unwrap();
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
}
