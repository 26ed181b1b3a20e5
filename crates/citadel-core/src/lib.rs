//! citadel-core
