//! citadel-iam
