//! Token scopes: the split between the control plane and the data plane.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Error;

/// What a credential may be used for, whatever its principal's grants say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenScope {
    /// Manage Citadel: everything the principal's grants allow.
    Control,
    /// Call endpoints and models only: never register, approve, grant or read data.
    Invoke,
    /// Scrape the gateway's `/metrics` and nothing else: a monitoring system's credential.
    Metrics,
}

impl TokenScope {
    /// The scope as stored and printed.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Control => "control",
            Self::Invoke => "invoke",
            Self::Metrics => "metrics",
        }
    }
}

impl fmt::Display for TokenScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TokenScope {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "control" => Ok(Self::Control),
            "invoke" => Ok(Self::Invoke),
            "metrics" => Ok(Self::Metrics),
            _ => Err(Error::UnknownKeyword {
                what: "token scope",
                value: s.chars().take(40).collect(),
                expected: "control, invoke, metrics",
            }),
        }
    }
}
