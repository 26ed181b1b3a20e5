//! Privileges and grant effects, and which securable kinds each privilege can be granted on.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Error, SecurableKind};

/// A right on a securable. Granted on a container, it applies to everything inside it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Privilege {
    /// Needed on a catalog to reach anything inside it.
    UseCatalog,
    /// Needed on a schema to reach anything inside it.
    UseSchema,
    CreateCatalog,
    CreateSchema,
    CreateDataset,
    CreateModel,
    /// Read data, download a model.
    Select,
    /// Write data, add versions.
    Modify,
    /// Invoke a model or endpoint.
    Execute,
    /// Approve a model version.
    Approve,
    /// Grants, aliases, endpoints, deletion; implies every other privilege. Owners hold it.
    Manage,
    ReadSecret,
    WriteSecret,
}

use SecurableKind as K;

impl Privilege {
    /// Every privilege, in a stable order.
    pub const ALL: [Self; 13] = [
        Self::UseCatalog,
        Self::UseSchema,
        Self::CreateCatalog,
        Self::CreateSchema,
        Self::CreateDataset,
        Self::CreateModel,
        Self::Select,
        Self::Modify,
        Self::Execute,
        Self::Approve,
        Self::Manage,
        Self::ReadSecret,
        Self::WriteSecret,
    ];

    /// The privilege as stored and printed.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::UseCatalog => "USE_CATALOG",
            Self::UseSchema => "USE_SCHEMA",
            Self::CreateCatalog => "CREATE_CATALOG",
            Self::CreateSchema => "CREATE_SCHEMA",
            Self::CreateDataset => "CREATE_DATASET",
            Self::CreateModel => "CREATE_MODEL",
            Self::Select => "SELECT",
            Self::Modify => "MODIFY",
            Self::Execute => "EXECUTE",
            Self::Approve => "APPROVE",
            Self::Manage => "MANAGE",
            Self::ReadSecret => "READ_SECRET",
            Self::WriteSecret => "WRITE_SECRET",
        }
    }

    /// The securable kinds this privilege may be granted on (itself or a container of what it
    /// finally governs).
    pub const fn applies_to(self) -> &'static [SecurableKind] {
        match self {
            Self::UseCatalog => &[K::Metastore, K::Catalog],
            Self::UseSchema => &[K::Metastore, K::Catalog, K::Schema],
            Self::CreateCatalog => &[K::Metastore],
            Self::CreateSchema => &[K::Metastore, K::Catalog],
            Self::CreateDataset | Self::CreateModel => &[K::Metastore, K::Catalog, K::Schema],
            Self::Select | Self::Modify => {
                &[K::Metastore, K::Catalog, K::Schema, K::Dataset, K::Model]
            }
            Self::Execute => &[K::Metastore, K::Catalog, K::Schema, K::Model, K::Endpoint],
            Self::Approve => &[K::Metastore, K::Catalog, K::Schema, K::Model],
            Self::Manage => &SecurableKind::ALL,
            Self::ReadSecret | Self::WriteSecret => {
                &[K::Metastore, K::Catalog, K::Schema, K::SecretScope]
            }
        }
    }

    /// Refuses a grant of this privilege on a kind it has no meaning for.
    pub fn check_applies_to(self, kind: SecurableKind) -> Result<(), Error> {
        if self.applies_to().contains(&kind) {
            return Ok(());
        }
        Err(Error::PrivilegeNotApplicable {
            privilege: self.as_str(),
            kind: kind.as_str(),
            applies_to: self
                .applies_to()
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    /// Whether a token of scope `invoke` may exercise this privilege (the data plane only calls
    /// models and endpoints).
    pub const fn is_invoke(self) -> bool {
        matches!(self, Self::Execute | Self::UseCatalog | Self::UseSchema)
    }
}

impl fmt::Display for Privilege {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Privilege {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let normalized = s.to_ascii_uppercase().replace(['-', ' '], "_");
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == normalized)
            .ok_or_else(|| Error::UnknownKeyword {
                what: "privilege",
                value: s.chars().take(40).collect(),
                expected:
                    "USE_CATALOG, USE_SCHEMA, CREATE_CATALOG, CREATE_SCHEMA, CREATE_DATASET, \
                           CREATE_MODEL, SELECT, MODIFY, EXECUTE, APPROVE, MANAGE, READ_SECRET, \
                           WRITE_SECRET",
            })
    }
}

/// Whether a grant allows or explicitly denies its privilege. DENY beats any allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Effect {
    Allow,
    Deny,
}

impl Effect {
    /// The effect as stored and printed.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "ALLOW",
            Self::Deny => "DENY",
        }
    }
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Effect {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "ALLOW" => Ok(Self::Allow),
            "DENY" => Ok(Self::Deny),
            _ => Err(Error::UnknownKeyword {
                what: "grant effect",
                value: s.chars().take(40).collect(),
                expected: "ALLOW, DENY",
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn privileges_parse_leniently_and_print_canonically() {
        for p in Privilege::ALL {
            assert_eq!(p.as_str().parse::<Privilege>(), Ok(p));
        }
        assert_eq!(
            "use-catalog".parse::<Privilege>(),
            Ok(Privilege::UseCatalog)
        );
        assert!("ALL".parse::<Privilege>().is_err());
        assert_eq!("deny".parse::<Effect>(), Ok(Effect::Deny));
    }

    #[test]
    fn applicability() {
        assert!(Privilege::Select.check_applies_to(K::Dataset).is_ok());
        assert!(Privilege::Select.check_applies_to(K::Endpoint).is_err());
        assert!(Privilege::UseCatalog.check_applies_to(K::Schema).is_err());
        assert!(Privilege::CreateCatalog
            .check_applies_to(K::Catalog)
            .is_err());
        for kind in SecurableKind::ALL {
            assert!(Privilege::Manage.check_applies_to(kind).is_ok());
        }
    }
}
