//! Citadel's vocabulary: identifiers, names, principals, securables, privileges, token scopes, the
//! authorization decision function and the shared error type. This crate does no IO.

pub mod error;
pub mod ids;
pub mod name;
pub mod policy;
pub mod principal;
pub mod privilege;
pub mod securable;
pub mod token;

pub use error::{Error, Result};
pub use ids::{PrincipalId, RequestId, SecurableId, TokenId};
pub use name::{FullName, Identifier};
pub use policy::{decide, Decision, DenyReason, GrantEntry, Node, Subject};
pub use principal::{Principal, PrincipalKind};
pub use privilege::{Effect, Privilege};
pub use securable::SecurableKind;
pub use token::TokenScope;
