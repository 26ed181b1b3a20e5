//! Supply-chain scanning: secrets in files and git history (gitleaks-compatible rules), software
//! bills of materials (CycloneDX 1.6, SPDX 2.3), and matching components against an offline OSV
//! database. It reads what it scans and writes nothing.

mod error;
pub mod osv;
pub mod sbom;
pub mod secrets;

pub use error::{Result, ScanError};
