//! citadel-audit
