//! Kinds of securables: the things grants are attached to, arranged as
//! `metastore ▸ catalog ▸ schema ▸ {dataset, model, endpoint, secret_scope}`.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Error;

/// What a securable is; determines where it sits in the hierarchy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SecurableKind {
    /// The single root every catalog hangs under; grants here apply everywhere.
    Metastore,
    Catalog,
    Schema,
    Dataset,
    Model,
    Endpoint,
    SecretScope,
}

impl SecurableKind {
    /// Every kind, root first.
    pub const ALL: [Self; 7] = [
        Self::Metastore,
        Self::Catalog,
        Self::Schema,
        Self::Dataset,
        Self::Model,
        Self::Endpoint,
        Self::SecretScope,
    ];

    /// The kind as stored and printed.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Metastore => "metastore",
            Self::Catalog => "catalog",
            Self::Schema => "schema",
            Self::Dataset => "dataset",
            Self::Model => "model",
            Self::Endpoint => "endpoint",
            Self::SecretScope => "secret_scope",
        }
    }

    /// How many name parts a securable of this kind has (0 for the metastore).
    pub const fn depth(self) -> usize {
        match self {
            Self::Metastore => 0,
            Self::Catalog => 1,
            Self::Schema => 2,
            Self::Dataset | Self::Model | Self::Endpoint | Self::SecretScope => 3,
        }
    }

    /// Whether this kind lives inside a schema.
    pub const fn is_object(self) -> bool {
        self.depth() == 3
    }
}

impl fmt::Display for SecurableKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SecurableKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let normalized = s.to_ascii_lowercase().replace('-', "_");
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == normalized)
            .ok_or_else(|| Error::UnknownKeyword {
                what: "securable type",
                value: s.chars().take(40).collect(),
                expected: "metastore, catalog, schema, dataset, model, endpoint, secret_scope",
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_know_their_depth() {
        for kind in SecurableKind::ALL {
            assert_eq!(kind.as_str().parse::<SecurableKind>(), Ok(kind));
        }
        assert_eq!(
            "SECRET-SCOPE".parse::<SecurableKind>(),
            Ok(SecurableKind::SecretScope)
        );
        assert_eq!(SecurableKind::Schema.depth(), 2);
        assert!(SecurableKind::Endpoint.is_object());
        assert!("table".parse::<SecurableKind>().is_err());
    }
}
