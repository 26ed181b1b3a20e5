//! Offline OSV matching (being written).
