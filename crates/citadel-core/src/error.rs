//! Errors raised when parsing or validating Citadel's vocabulary.

/// A value that does not fit Citadel's vocabulary, with a message that says how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A name (catalog, schema, object or principal) that breaks the naming rules.
    #[error("invalid name {name:?}: {why}")]
    InvalidName { name: String, why: &'static str },
    /// A keyword (privilege, kind, scope) that is not one of the accepted values.
    #[error("unknown {what} {value:?}; expected one of: {expected}")]
    UnknownKeyword {
        what: &'static str,
        value: String,
        expected: &'static str,
    },
    /// A malformed identifier.
    #[error("invalid {what} id {value:?}")]
    InvalidId { what: &'static str, value: String },
    /// A privilege granted on a kind of securable it has no meaning for.
    #[error("privilege {privilege} cannot be granted on a {kind}; it applies to: {applies_to}")]
    PrivilegeNotApplicable {
        privilege: &'static str,
        kind: &'static str,
        applies_to: String,
    },
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
