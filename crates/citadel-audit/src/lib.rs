//! Citadel's tamper-evident audit log, as pure data and functions.
//!
//! Every event is sealed into a hash chain: `hash = SHA-256(canonical JSON of every field but hash)`,
//! where the canonical bytes include the previous event's hash (64 zeros for the first event).
//! Checkpoints sign `(seq, head hash, time)` with Ed25519. [`verify`] walks a chain with its checkpoints
//! and names the first bad event; [`export`] writes the verifiable JSONL. This crate does no IO of its own:
//! the store persists events, and callers hand writers and readers in.
//!
//! The exact byte-level rules are in `docs/AUDIT-VERIFY.md`, so third parties can verify exports.

pub mod canonical;
pub mod checkpoint;
pub mod error;
pub mod event;
pub mod export;
pub mod redact;
pub mod verify;

pub use checkpoint::{Checkpoint, PublicKey, Signer};
pub use error::AuditError;
pub use event::{Actor, AuditEvent, EventDraft, Outcome, GENESIS_HASH};
pub use redact::redact_params;
pub use verify::{verify, ChainStart, Failure, FailureKind, Verifier, VerifyReport};
