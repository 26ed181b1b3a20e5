//! Software bills of materials (being written).
