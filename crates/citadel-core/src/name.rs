//! Securable names: `catalog`, `catalog.schema` and `catalog.schema.object`, each part a lowercase
//! identifier. Parsing is strict so names are safe in paths, SQL parameters and log lines.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;

/// Longest identifier accepted, in bytes.
pub const MAX_IDENTIFIER_LEN: usize = 64;

/// One part of a name: `[a-z][a-z0-9_-]*`, at most 64 bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Identifier(String);

impl Identifier {
    /// The identifier as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Identifier {
    type Error = Error;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        let invalid = |why| Error::InvalidName {
            name: value.chars().take(80).collect(),
            why,
        };
        let mut chars = value.chars();
        match chars.next() {
            None => return Err(invalid("a name part is empty")),
            Some(c) if !c.is_ascii_lowercase() => {
                return Err(invalid("each part must start with a lowercase letter a-z"))
            }
            Some(_) => {}
        }
        if value.len() > MAX_IDENTIFIER_LEN {
            return Err(invalid("each part is at most 64 characters"));
        }
        if !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-') {
            return Err(invalid(
                "use only lowercase letters, digits, '_' and '-' in each part",
            ));
        }
        Ok(Self(value))
    }
}

impl From<Identifier> for String {
    fn from(value: Identifier) -> Self {
        value.0
    }
}

impl FromStr for Identifier {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::try_from(s.to_owned())
    }
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A dotted name of one to three identifiers: `catalog[.schema[.object]]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FullName {
    parts: Vec<Identifier>,
}

impl FullName {
    /// A catalog's name.
    pub fn catalog(catalog: Identifier) -> Self {
        Self {
            parts: vec![catalog],
        }
    }

    /// The name of `child` inside this one; `None` if this already names an object (3 parts).
    pub fn child(&self, child: Identifier) -> Option<Self> {
        (self.parts.len() < 3).then(|| {
            let mut parts = self.parts.clone();
            parts.push(child);
            Self { parts }
        })
    }

    /// The enclosing name (`a.b.c` → `a.b`), `None` for a catalog.
    pub fn parent(&self) -> Option<Self> {
        (self.parts.len() > 1).then(|| Self {
            parts: self.parts[..self.parts.len() - 1].to_vec(),
        })
    }

    /// The identifiers from the catalog down.
    pub fn parts(&self) -> &[Identifier] {
        &self.parts
    }

    /// The last identifier.
    pub fn leaf(&self) -> &Identifier {
        // A FullName always has at least one part: every constructor guarantees it.
        &self.parts[self.parts.len() - 1]
    }

    /// 1 for a catalog, 2 for a schema, 3 for an object.
    pub fn depth(&self) -> usize {
        self.parts.len()
    }
}

impl TryFrom<String> for FullName {
    type Error = Error;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        let parts = value
            .split('.')
            .map(|part| Identifier::try_from(part.to_owned()))
            .collect::<Result<Vec<_>, _>>()?;
        if parts.len() > 3 {
            return Err(Error::InvalidName {
                name: value.chars().take(80).collect(),
                why: "a name has at most three parts: catalog.schema.object",
            });
        }
        Ok(Self { parts })
    }
}

impl From<FullName> for String {
    fn from(value: FullName) -> Self {
        value.to_string()
    }
}

impl FromStr for FullName {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::try_from(s.to_owned())
    }
}

impl fmt::Display for FullName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, part) in self.parts.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            f.write_str(part.as_str())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_one_to_three_parts() {
        for ok in ["dev", "dev.models", "prod.models.support-bot_v2"] {
            let name: FullName = ok.parse().unwrap();
            assert_eq!(name.to_string(), ok);
        }
        let name: FullName = "dev.models.x".parse().unwrap();
        assert_eq!(name.depth(), 3);
        assert_eq!(name.parent().unwrap().to_string(), "dev.models");
        assert_eq!(name.leaf().as_str(), "x");
        assert!(name.child("y".parse().unwrap()).is_none());
    }

    #[test]
    fn refuses_unsafe_names() {
        for bad in [
            "",
            ".",
            "dev.",
            ".dev",
            "Dev",
            "dev..x",
            "a.b.c.d",
            "../etc",
            "dev/x",
            "1dev",
            "dev.mod els",
            "dev;drop",
            "dév",
            "dev.models.x\n",
        ] {
            assert!(bad.parse::<FullName>().is_err(), "{bad:?} was accepted");
        }
        assert!("a".repeat(65).parse::<Identifier>().is_err());
        assert!("a".repeat(64).parse::<Identifier>().is_ok());
    }
}
