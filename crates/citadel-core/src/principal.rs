//! Principals: the users, groups and service principals that hold grants and act.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{Error, PrincipalId};

/// What kind of identity a principal is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalKind {
    /// A person, who authenticates with personal access tokens.
    User,
    /// A set of principals; grants to a group apply to its members, transitively.
    Group,
    /// A workload identity (pipelines, gateways), never a person.
    ServicePrincipal,
}

impl PrincipalKind {
    /// Every kind, in a stable order.
    pub const ALL: [Self; 3] = [Self::User, Self::Group, Self::ServicePrincipal];

    /// The kind as stored and printed.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Group => "group",
            Self::ServicePrincipal => "service_principal",
        }
    }

    /// Whether a principal of this kind can authenticate (groups cannot).
    pub const fn can_authenticate(self) -> bool {
        !matches!(self, Self::Group)
    }
}

impl fmt::Display for PrincipalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PrincipalKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "user" => Ok(Self::User),
            "group" => Ok(Self::Group),
            "service_principal" | "service-principal" => Ok(Self::ServicePrincipal),
            _ => Err(Error::UnknownKeyword {
                what: "principal kind",
                value: s.chars().take(40).collect(),
                expected: "user, group, service-principal",
            }),
        }
    }
}

/// A principal as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Principal {
    pub id: PrincipalId,
    pub kind: PrincipalKind,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String")]
    pub created_at: OffsetDateTime,
    pub disabled: bool,
}

/// Longest principal name accepted, in bytes.
pub const MAX_PRINCIPAL_NAME_LEN: usize = 128;

/// Checks a principal name: 1–128 characters of `A-Z a-z 0-9 . _ @ -`, starting with a letter or
/// digit (so e-mail addresses work and nothing can be mistaken for a flag or a path).
pub fn validate_principal_name(name: &str) -> Result<(), Error> {
    let invalid = |why| Error::InvalidName {
        name: name.chars().take(80).collect(),
        why,
    };
    if name.is_empty() || name.len() > MAX_PRINCIPAL_NAME_LEN {
        return Err(invalid("a principal name has 1 to 128 characters"));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(invalid("a principal name starts with a letter or a digit"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-'))
    {
        return Err(invalid(
            "use only letters, digits, '.', '_', '@' and '-' in a principal name",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principal_names() {
        for ok in ["admin", "alice@example.com", "ci-bot_2", "svc.pipeline"] {
            assert!(validate_principal_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-rf",
            ".hidden",
            "a b",
            "a/b",
            "émile",
            &"x".repeat(129),
        ] {
            assert!(validate_principal_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn kinds_parse_both_spellings() {
        assert_eq!(
            "service-principal".parse::<PrincipalKind>(),
            Ok(PrincipalKind::ServicePrincipal)
        );
        for kind in PrincipalKind::ALL {
            assert_eq!(kind.as_str().parse::<PrincipalKind>(), Ok(kind));
        }
        assert!("robot".parse::<PrincipalKind>().is_err());
    }
}
