//! citadel-store
