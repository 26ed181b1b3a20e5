//! Citadel's guardrails: every prompt and completion of the gateway passes through a `Guard`
//! built from an endpoint's [`GuardrailPolicy`]. It masks or blocks PII (the `citadel-pii`
//! engine), flags or blocks prompt-injection attempts, refuses forbidden keywords and oversized
//! inputs, and reports each decision without ever repeating the text that triggered it.
//!
//! Pure: no IO, no async. Build a `Guard` once per policy and share it (`Send + Sync`).

pub mod error;
pub mod policy;

pub use error::GuardError;
pub use policy::{GuardrailPolicy, InjectionAction, PiiAction};
