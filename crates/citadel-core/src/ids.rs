//! Typed identifiers: UUIDv7 newtypes so a principal id can never be passed where a securable id is
//! expected.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Error;

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new, time-ordered identifier.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// Wraps an existing UUID.
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The underlying UUID.
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self).map_err(|_| Error::InvalidId {
                    what: $what,
                    value: s.chars().take(64).collect(),
                })
            }
        }
    };
}

typed_id!(
    /// Identifies a user, group or service principal.
    PrincipalId,
    "principal"
);
typed_id!(
    /// Identifies a securable (metastore, catalog, schema, dataset, model, endpoint, secret scope).
    SecurableId,
    "securable"
);
typed_id!(
    /// Identifies a personal access token (never the token's secret).
    TokenId,
    "token"
);
typed_id!(
    /// Correlates every audit event written while serving one request or command.
    RequestId,
    "request"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_strings() {
        let id = PrincipalId::new();
        assert_eq!(id.to_string().parse::<PrincipalId>(), Ok(id));
        assert!("not-a-uuid".parse::<SecurableId>().is_err());
    }

    #[test]
    fn ids_are_time_ordered() {
        let first = RequestId::new();
        let second = RequestId::new();
        assert!(first < second);
    }
}
