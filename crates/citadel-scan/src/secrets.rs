//! Secret scanning (being written).
