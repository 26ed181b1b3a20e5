//! The recognizers. Each one is fed by a cheap trigger (a keyword hit, an `@`, a numeric run,
//! a capitalized word) and validates what it finds before proposing a [`Candidate`] in byte
//! offsets; the analyzer then resolves overlaps and converts to char offsets.

pub(crate) mod credential;
pub(crate) mod dob;
pub(crate) mod email;
pub(crate) mod iban;
pub(crate) mod ids;
pub(crate) mod network;
pub(crate) mod numeric;
pub(crate) mod person;

use crate::{CredentialKind, EntityType};

/// A proposed finding in byte offsets of the analyzed text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Candidate {
    pub entity_type: EntityType,
    pub start: usize,
    pub end: usize,
    pub score: f64,
    pub kind: Option<CredentialKind>,
}

impl Candidate {
    pub(crate) fn new(entity_type: EntityType, start: usize, end: usize, score: f64) -> Self {
        Candidate {
            entity_type,
            start,
            end,
            score,
            kind: None,
        }
    }
}

/// Raises a score for supporting context, capped below certainty.
pub(crate) fn boosted(score: f64, context: bool, boost: f64) -> f64 {
    if context {
        (score + boost).min(0.99)
    } else {
        score
    }
}
