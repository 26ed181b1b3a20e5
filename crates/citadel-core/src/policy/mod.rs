//! The authorization decision: given who is asking (principal, groups, token scope), which
//! privilege, and the securable's chain from the metastore down with its owners and grants, say
//! allow or deny and why. Pure: the service layer loads the facts, this decides.
//!
//! Rules, in order:
//! 1. An unknown securable is denied.
//! 2. A token of scope `invoke` passes only `EXECUTE` (and the `USE_*` gates on the way to it).
//! 3. The privilege must be held on the chain: an explicit DENY of it on any level, to the
//!    principal or any of its groups, beats everything; else an ALLOW of it on any level (grants
//!    inherit downwards); else `MANAGE` (granted, or held as the owner of any level) implies it,
//!    unless `MANAGE` itself is denied on the chain.
//! 4. Reaching anything inside a catalog needs `USE_CATALOG` on it, and inside a schema
//!    `USE_SCHEMA` on it, held by the same rule.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{Effect, PrincipalId, Privilege, SecurableId, SecurableKind, TokenScope};

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub principal: PrincipalId,
    /// Every group the principal belongs to, directly or through nested groups.
    pub groups: Vec<PrincipalId>,
    pub scope: TokenScope,
}

impl Subject {
    fn is(&self, id: PrincipalId) -> bool {
        self.principal == id || self.groups.contains(&id)
    }
}

/// One grant on a securable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantEntry {
    pub principal: PrincipalId,
    pub privilege: Privilege,
    pub effect: Effect,
}

/// One level of a securable's chain, with its owner and grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub id: SecurableId,
    pub kind: SecurableKind,
    /// Printable name (`metastore`, `dev`, `dev.models`, ...), used in reasons.
    pub name: String,
    pub owner: Option<PrincipalId>,
    pub grants: Vec<GrantEntry>,
}

/// The outcome of [`decide`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny(DenyReason),
}

impl Decision {
    /// Whether the action may proceed.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Self::Allow)
    }
}

/// Why an action was denied; printed to the caller and written to the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum DenyReason {
    /// The securable does not exist (or the caller may not learn that it does).
    UnknownSecurable,
    /// The token's scope never allows this privilege.
    ScopeForbids {
        privilege: Privilege,
        scope: TokenScope,
    },
    /// An explicit DENY on the chain.
    ExplicitDeny { privilege: Privilege, at: String },
    /// No grant, ownership or `MANAGE` gives the privilege.
    NoGrant { privilege: Privilege, at: String },
}

impl fmt::Display for DenyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownSecurable => f.write_str("the securable does not exist"),
            Self::ScopeForbids { privilege, scope } => write!(
                f,
                "a token of scope {scope} cannot use {privilege}; use a control token"
            ),
            Self::ExplicitDeny { privilege, at } => {
                write!(f, "{privilege} is explicitly denied on {at}")
            }
            Self::NoGrant { privilege, at } => write!(f, "{privilege} on {at} is not granted"),
        }
    }
}

/// Decides whether `subject` may exercise `privilege` on the last node of `chain` (ordered from
/// the metastore down; `None` or empty when the securable is unknown).
pub fn decide(subject: &Subject, privilege: Privilege, chain: Option<&[Node]>) -> Decision {
    let Some(target) = chain.and_then(|c| c.last()) else {
        return Decision::Deny(DenyReason::UnknownSecurable);
    };
    let chain = chain.unwrap_or_default();
    let scope_allows = match subject.scope {
        TokenScope::Control => true,
        TokenScope::Invoke => privilege.is_invoke(),
        TokenScope::Metrics => false,
    };
    if !scope_allows {
        return Decision::Deny(DenyReason::ScopeForbids {
            privilege,
            scope: subject.scope,
        });
    }
    if let Err(reason) = holds(subject, privilege, chain, &target.name) {
        return Decision::Deny(reason);
    }
    for (depth, node) in chain.iter().enumerate() {
        let gate = match node.kind {
            SecurableKind::Catalog => Privilege::UseCatalog,
            SecurableKind::Schema => Privilege::UseSchema,
            _ => continue,
        };
        if let Err(reason) = holds(subject, gate, &chain[..=depth], &node.name) {
            return Decision::Deny(reason);
        }
    }
    Decision::Allow
}

/// Whether `privilege` is held on the last node of `chain` (grants on any level count).
fn holds(
    subject: &Subject,
    privilege: Privilege,
    chain: &[Node],
    at: &str,
) -> Result<(), DenyReason> {
    let entries = || {
        chain
            .iter()
            .flat_map(|node| node.grants.iter().map(move |g| (node, g)))
            .filter(|(_, g)| subject.is(g.principal))
    };
    let denied_at = |p: Privilege| {
        entries()
            .find(|(_, g)| g.privilege == p && g.effect == Effect::Deny)
            .map(|(node, _)| node.name.clone())
    };
    let allowed =
        |p: Privilege| entries().any(|(_, g)| g.privilege == p && g.effect == Effect::Allow);

    if let Some(deny_at) = denied_at(privilege) {
        return Err(DenyReason::ExplicitDeny {
            privilege,
            at: deny_at,
        });
    }
    if allowed(privilege) {
        return Ok(());
    }
    let owns = chain
        .iter()
        .any(|node| node.owner.is_some_and(|owner| subject.is(owner)));
    if (owns || allowed(Privilege::Manage)) && denied_at(Privilege::Manage).is_none() {
        return Ok(());
    }
    Err(DenyReason::NoGrant {
        privilege,
        at: at.to_owned(),
    })
}

#[cfg(test)]
mod tests;
