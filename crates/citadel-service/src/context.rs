//! The authenticated caller of an operation: principal, groups, credential (and so its scope) and
//! request id.

use citadel_audit::{Actor, EventDraft};
use citadel_core::{Principal, PrincipalId, RequestId, Subject, TokenScope};

use crate::{JwtInfo, TokenInfo};

/// Who is calling, established by [`crate::Citadel::authenticate`].
#[derive(Debug, Clone)]
pub struct Context {
    pub principal: Principal,
    /// Every group the principal belongs to, directly or through nested groups.
    pub group_ids: Vec<PrincipalId>,
    /// The same groups' names, for display.
    pub group_names: Vec<String>,
    /// The personal access token used (`None` for a JWT, and in `init`); its scope bounds what
    /// the principal's grants allow.
    pub token: Option<TokenInfo>,
    /// The OAuth access token (JWT) used (`None` for a personal access token, and in `init`);
    /// its scope bounds what the principal's grants allow. At most one of the two is set.
    pub jwt: Option<JwtInfo>,
    pub request_id: RequestId,
}

impl Context {
    /// The scope of the credential (control when there is none, as in `init`).
    pub fn scope(&self) -> TokenScope {
        match (&self.token, &self.jwt) {
            (Some(token), _) => token.scope,
            (None, Some(jwt)) => jwt.scope,
            (None, None) => TokenScope::Control,
        }
    }

    /// The principal and its groups, as the decision function sees them.
    pub fn subject(&self) -> Subject {
        Subject {
            principal: self.principal.id,
            groups: self.group_ids.clone(),
            scope: self.scope(),
        }
    }

    /// The principal and its groups' ids, for loading grants.
    pub fn principal_ids(&self) -> Vec<PrincipalId> {
        let mut ids = Vec::with_capacity(self.group_ids.len() + 1);
        ids.push(self.principal.id);
        ids.extend(&self.group_ids);
        ids
    }

    /// The audit actor.
    pub fn actor(&self) -> Actor {
        Actor::principal(self.principal.id, self.principal.name.clone())
    }

    /// A successful audit event of `action` by this caller in this request.
    pub fn event(&self, action: &str) -> EventDraft {
        EventDraft::new(&self.actor(), self.request_id, action)
    }
}
