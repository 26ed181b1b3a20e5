//! The registry crate's error type.

/// What can go wrong in registry logic: always a problem with the input, said plainly.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A pipeline file, policy or value that cannot be used, with what to fix.
    #[error("{0}")]
    Invalid(String),
    /// A status change the workflow does not allow.
    #[error("a version that is {from} cannot become {to}")]
    Transition { from: String, to: String },
    /// A chart could not be drawn.
    #[error("cannot draw the chart: {0}")]
    Chart(String),
}

/// The registry crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
