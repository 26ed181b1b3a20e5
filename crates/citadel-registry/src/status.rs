//! The review workflow of a model version: its statuses and the moves allowed between them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Where a model version stands in review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionStatus {
    /// Registered and waiting for a reviewer.
    PendingReview,
    /// Approved by a reviewer: may be deployed and promoted.
    Approved,
    /// Refused by a reviewer: kept for the record, never deployed.
    Rejected,
    /// Retired: kept for the record, no longer in use.
    Archived,
}

impl VersionStatus {
    /// Every status, in workflow order.
    pub const ALL: [VersionStatus; 4] = [
        VersionStatus::PendingReview,
        VersionStatus::Approved,
        VersionStatus::Rejected,
        VersionStatus::Archived,
    ];

    /// The status as stored and printed: `pending_review`, `approved`, `rejected`, `archived`.
    pub fn as_str(self) -> &'static str {
        match self {
            VersionStatus::PendingReview => "pending_review",
            VersionStatus::Approved => "approved",
            VersionStatus::Rejected => "rejected",
            VersionStatus::Archived => "archived",
        }
    }

    /// Whether the workflow allows moving from this status to `to`.
    pub fn can_become(self, to: VersionStatus) -> bool {
        use VersionStatus::*;
        matches!(
            (self, to),
            (PendingReview, Approved | Rejected | Archived) | (Approved | Rejected, Archived)
        )
    }

    /// `Ok` when the workflow allows moving from this status to `to`, else [`Error::Transition`].
    pub fn check_transition(self, to: VersionStatus) -> Result<()> {
        if self.can_become(to) {
            Ok(())
        } else {
            Err(Error::Transition {
                from: self.as_str().to_owned(),
                to: to.as_str().to_owned(),
            })
        }
    }

    /// Whether a version with this status may be served: only an approved one.
    pub fn deployable(self) -> bool {
        self == VersionStatus::Approved
    }
}

impl fmt::Display for VersionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for VersionStatus {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| {
                let accepted: Vec<&str> = Self::ALL.iter().map(|status| status.as_str()).collect();
                Error::Invalid(format!(
                    "unknown version status {s:?}: use one of {}",
                    accepted.join(", ")
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::VersionStatus::*;
    use super::*;

    #[test]
    fn allows_exactly_the_workflow_moves() {
        let allowed = [
            (PendingReview, Approved),
            (PendingReview, Rejected),
            (PendingReview, Archived),
            (Approved, Archived),
            (Rejected, Archived),
        ];
        for from in VersionStatus::ALL {
            for to in VersionStatus::ALL {
                let expected = allowed.contains(&(from, to));
                assert_eq!(
                    from.check_transition(to).is_ok(),
                    expected,
                    "{from} -> {to}"
                );
            }
        }
    }

    #[test]
    fn refusal_names_both_statuses() {
        let err = Rejected.check_transition(Approved).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a version that is rejected cannot become approved"
        );
    }

    #[test]
    fn only_approved_is_deployable() {
        let deployable: Vec<_> = VersionStatus::ALL
            .into_iter()
            .filter(|s| s.deployable())
            .collect();
        assert_eq!(deployable, vec![Approved]);
    }

    #[test]
    fn text_round_trips() {
        for status in VersionStatus::ALL {
            assert_eq!(status.to_string().parse::<VersionStatus>().unwrap(), status);
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{}\"", status.as_str()));
            assert_eq!(
                serde_json::from_str::<VersionStatus>(&json).unwrap(),
                status
            );
        }
        let err = "Approved".parse::<VersionStatus>().unwrap_err().to_string();
        assert!(
            err.contains("pending_review, approved, rejected, archived"),
            "{err}"
        );
    }
}
