//! Alerting: rules (TOML, with built-in defaults) and their evaluation over observations the
//! service layer reads from the audit and inference logs.

pub mod engine;
pub mod rules;

pub use engine::{evaluate, Observation, OpenAlert, Phase, Transition, UNGROUPED};
pub use rules::{Comparison, Label, Metric, Rule, RuleError, RuleSet, Severity};
