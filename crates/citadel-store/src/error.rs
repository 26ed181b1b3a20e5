//! The one error type of `citadel-store`. Messages name tables and public names, never secrets
//! (token hashes and wrapped keys are not shown).

use std::sync::Arc;

/// What can go wrong in the metadata store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL is neither `sqlite:` nor `postgres://`.
    #[error("unsupported database URL scheme {scheme:?}: use sqlite://PATH or postgres://…")]
    UnsupportedUrl {
        /// The scheme part only (credentials are never echoed).
        scheme: String,
    },
    /// A database error.
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// Applying migrations failed.
    #[error("cannot migrate the database")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A unique name is already taken.
    #[error("{what} {name:?} already exists")]
    Conflict {
        /// Kind of thing, e.g. `principal`.
        what: &'static str,
        /// Its name.
        name: String,
    },
    /// A referenced row does not exist.
    #[error("{what} {name:?} not found")]
    NotFound {
        /// Kind of thing.
        what: &'static str,
        /// Its name or id.
        name: String,
    },
    /// Members can only be added to groups.
    #[error("{name:?} is not a group")]
    NotAGroup {
        /// The principal that is not a group.
        name: String,
    },
    /// Adding the member would make a group contain itself.
    #[error("adding {member:?} to {group:?} would create a membership cycle")]
    MembershipCycle {
        /// The group.
        group: String,
        /// The would-be member.
        member: String,
    },
    /// A securable placed under a parent of the wrong kind (e.g. a model under a catalog).
    #[error("a {kind} cannot be created under a {parent}")]
    InvalidHierarchy {
        /// Kind being created.
        kind: &'static str,
        /// Kind of the parent given (`nothing` for none).
        parent: &'static str,
    },
    /// A stored value could not be read back (the database was edited by hand or is corrupt).
    #[error("corrupt {what} in the database: {value:?}")]
    Corrupt {
        /// Which column.
        what: &'static str,
        /// The offending value (never a secret column).
        value: String,
    },
    /// Sealing, signing or exporting audit data failed.
    #[error("audit log error")]
    Audit(#[from] citadel_audit::AuditError),
    /// The group-commit writer has stopped.
    #[error("the audit writer has stopped")]
    WriterClosed,
    /// The group-commit transaction that carried this event failed.
    #[error("the audit group commit failed")]
    GroupCommit(#[source] Arc<StoreError>),
}

impl StoreError {
    /// Maps a unique-constraint violation to [`StoreError::Conflict`], leaving other errors as they are.
    pub(crate) fn conflict_on_unique(error: sqlx::Error, what: &'static str, name: &str) -> Self {
        match &error {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict {
                what,
                name: name.to_owned(),
            },
            _ => StoreError::Database(error),
        }
    }
}
