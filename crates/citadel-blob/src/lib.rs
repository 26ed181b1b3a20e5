//! citadel-blob
