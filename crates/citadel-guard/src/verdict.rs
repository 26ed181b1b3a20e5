//! What a guard decides about one text: the text to forward (masked when PII was masked), the
//! decisions worth recording, and whether the text is refused. Nothing here ever holds the text
//! that triggered a rule: decisions name rules, entity types, signal kinds and keyword
//! positions, so they are safe to log and to store in the inference table.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Which guardrail made a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    Pii,
    Injection,
    ForbiddenKeyword,
    MaxInputTokens,
}

impl Rule {
    /// The snake_case name, as serialized.
    pub const fn as_str(self) -> &'static str {
        match self {
            Rule::Pii => "pii",
            Rule::Injection => "injection",
            Rule::ForbiddenKeyword => "forbidden_keyword",
            Rule::MaxInputTokens => "max_input_tokens",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a rule did. Texts a rule let through untouched get no decision at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Parts of the text were replaced (PII became `<ENTITY_TYPE>`).
    Masked,
    /// The text was refused.
    Blocked,
    /// The text went through, and the finding was recorded.
    Flagged,
}

/// Whether a decision concerns the prompt or the completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Input,
    Output,
}

/// One recorded decision, e.g. `{"stage":"input","rule":"pii","action":"masked",
/// "detail":"EMAIL_ADDRESS×2"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub stage: Stage,
    pub rule: Rule,
    pub action: Action,
    /// What was found, never the text itself: `EMAIL_ADDRESS×2, PERSON×1`, `instruction
    /// override, invisible unicode`, `keywords #2, #5`, `5000 tokens > 4096`.
    pub detail: String,
}

/// Why a text was refused, in words safe to return to the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blocked {
    pub rule: Rule,
    /// Says which rule refused the text and how to get through; never repeats what matched.
    pub message: String,
}

/// The outcome of [`crate::Guard::check_input`] or [`crate::Guard::check_output`].
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict<'a> {
    /// The text to forward, and the one to log: masked whenever PII was found and the policy
    /// does not turn PII off (even when the text is blocked, so a log never holds the PII);
    /// borrowed when nothing changed.
    pub text: Cow<'a, str>,
    /// The decisions to record, in the order the rules ran.
    pub decisions: Vec<Decision>,
    /// Set when the text is refused: the first rule that refused it.
    pub blocked: Option<Blocked>,
}

impl Verdict<'_> {
    /// Whether the text may go on (to the model, or back to the caller).
    pub fn allowed(&self) -> bool {
        self.blocked.is_none()
    }
}
