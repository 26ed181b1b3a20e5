//! The model registry's rules, with no IO: what statuses a version may move between, which
//! evaluation gates it must pass, whether a run fits its budget, what a pipeline file may say,
//! and how model cards, lineage graphs and loss curves are drawn. The service layer stores the
//! facts and enforces these rules under authorization and audit.

pub mod budget;
pub mod card;
pub mod chart;
mod error;
pub mod gates;
pub mod lineage;
pub mod spec;
pub mod status;

pub use error::{Error, Result};
