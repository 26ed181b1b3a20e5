//! A securable named by its kind and name, as users type it (`schema dev.models`,
//! `metastore metastore`), validated so the depth of the name matches the kind.

use std::fmt;

use citadel_core::{FullName, SecurableKind};
use serde::Serialize;

use crate::{Error, Result};

/// The name users give the single root securable.
pub const METASTORE_NAME: &str = "metastore";

/// A validated reference to a securable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecurableRef {
    pub kind: SecurableKind,
    /// `None` for the metastore.
    pub name: Option<FullName>,
}

impl SecurableRef {
    /// The metastore root.
    pub const fn metastore() -> Self {
        Self {
            kind: SecurableKind::Metastore,
            name: None,
        }
    }

    /// Parses `name` as a securable of `kind`; the number of name parts must fit the kind.
    pub fn parse(kind: SecurableKind, name: &str) -> Result<Self> {
        if kind == SecurableKind::Metastore {
            if name != METASTORE_NAME {
                return Err(Error::InvalidInput(format!(
                    "the metastore is named {METASTORE_NAME:?}, not {name:?}"
                )));
            }
            return Ok(Self::metastore());
        }
        let full_name: FullName = name.parse()?;
        if full_name.depth() != kind.depth() {
            let form = match kind.depth() {
                1 => "CATALOG",
                2 => "CATALOG.SCHEMA",
                _ => "CATALOG.SCHEMA.NAME",
            };
            return Err(Error::InvalidInput(format!(
                "a {kind} is named {form}, but {name:?} has {} part(s)",
                full_name.depth()
            )));
        }
        Ok(Self {
            kind,
            name: Some(full_name),
        })
    }

    /// A securable of `kind` at `name` (which must already have the right depth).
    pub fn new(kind: SecurableKind, name: FullName) -> Result<Self> {
        Self::parse(kind, &name.to_string())
    }

    /// The unique name the database knows it by.
    pub fn db_name(&self) -> String {
        match &self.name {
            Some(name) => name.to_string(),
            None => citadel_store::METASTORE_FULL_NAME.to_owned(),
        }
    }

    /// `kind name` for people (`schema dev.data`), or just `metastore`.
    pub fn label(&self) -> String {
        match &self.name {
            Some(name) => format!("{} {name}", self.kind),
            None => METASTORE_NAME.to_owned(),
        }
    }

    /// The `kind:name` form used in audit events.
    pub fn audit_label(&self) -> String {
        format!("{}:{}", self.kind, self)
    }
}

impl fmt::Display for SecurableRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => name.fmt(f),
            None => f.write_str(METASTORE_NAME),
        }
    }
}

impl crate::Citadel {
    /// Which privilege adding to `target` (a dataset or model) needs, and on what: `create` on
    /// the schema while `target` does not exist, `MODIFY` on `target` once it does.
    pub(crate) async fn create_or_modify_privilege(
        &self,
        target: &SecurableRef,
        create: citadel_core::Privilege,
    ) -> Result<(citadel_core::Privilege, SecurableRef)> {
        if self
            .store
            .securable_by_name(&target.db_name())
            .await?
            .is_some()
        {
            return Ok((citadel_core::Privilege::Modify, target.clone()));
        }
        let schema = schema_of(target)?;
        Ok((create, SecurableRef::new(SecurableKind::Schema, schema)?))
    }
}

/// The schema a dataset or model lives in.
fn schema_of(target: &SecurableRef) -> Result<FullName> {
    target
        .name
        .as_ref()
        .and_then(FullName::parent)
        .ok_or_else(|| {
            Error::InvalidInput(format!(
                "a {} is named CATALOG.SCHEMA.NAME",
                target.kind.as_str()
            ))
        })
}

/// Creates `target` (a dataset or model) in its schema within `tx`; the caller owns it.
pub(crate) async fn create_in_schema(
    tx: &mut citadel_store::WriteTx,
    ctx: &crate::Context,
    target: &SecurableRef,
) -> Result<citadel_store::Securable> {
    let schema_name = schema_of(target)?;
    let leaf = target
        .name
        .as_ref()
        .map(|name| name.leaf().to_string())
        .unwrap_or_default();
    let schema = tx
        .securable_by_name(&schema_name.to_string())
        .await?
        .filter(|s| s.kind == SecurableKind::Schema)
        .ok_or_else(|| Error::NotFound {
            what: "schema",
            name: schema_name.to_string(),
        })?;
    Ok(tx
        .create_securable(&citadel_store::NewSecurable {
            kind: target.kind,
            parent_id: Some(schema.id),
            name: leaf,
            owner_id: Some(ctx.principal.id),
            created_by: Some(ctx.principal.id),
            comment: None,
        })
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_must_match_kind() {
        assert!(SecurableRef::parse(SecurableKind::Schema, "dev.models").is_ok());
        assert!(SecurableRef::parse(SecurableKind::Schema, "dev").is_err());
        assert!(SecurableRef::parse(SecurableKind::Catalog, "dev.models").is_err());
        assert!(SecurableRef::parse(SecurableKind::Model, "dev.models.bot").is_ok());
        assert!(SecurableRef::parse(SecurableKind::Metastore, "metastore").is_ok());
        assert!(SecurableRef::parse(SecurableKind::Metastore, "dev").is_err());
        assert!(SecurableRef::parse(SecurableKind::Dataset, "../../etc/passwd").is_err());
    }

    #[test]
    fn audit_label() {
        let schema = SecurableRef::parse(SecurableKind::Schema, "dev.data").unwrap();
        assert_eq!(schema.audit_label(), "schema:dev.data");
        assert_eq!(
            SecurableRef::metastore().audit_label(),
            "metastore:metastore"
        );
    }
}
