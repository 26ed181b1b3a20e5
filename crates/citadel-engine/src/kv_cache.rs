//! Key/value cache for incremental decoding: per layer, preallocated `[batch, kv_heads, capacity,
//! head_dim]` buffers that new positions are written into, growing when full.

use candle_core::Tensor;

use crate::error::{Error, Result};

/// Cached keys and values of every layer for the positions processed so far.
#[derive(Debug, Default)]
pub struct KvCache {
    layers: Vec<(Tensor, Tensor)>,
    len: usize,
    capacity_hint: usize,
}

impl KvCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty cache that preallocates room for `tokens` positions on first use.
    pub fn with_capacity(tokens: usize) -> Self {
        Self {
            capacity_hint: tokens,
            ..Self::default()
        }
    }

    /// Number of positions cached.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is cached yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets every cached position, keeping the buffers.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Writes `k`, `v` (`[b, kv_heads, s, d]`) of `layer` after the cached positions and returns
    /// the keys and values of all positions so far. Call [`KvCache::advance`] after the last layer.
    pub(crate) fn append(
        &mut self,
        layer: usize,
        k: &Tensor,
        v: &Tensor,
    ) -> Result<(Tensor, Tensor)> {
        let (b, heads, s, d) = k.dims4()?;
        let needed = self.len + s;
        if layer > self.layers.len() {
            return Err(Error::InvalidArgument(
                "KV cache layers must be filled in order".into(),
            ));
        }
        if layer == self.layers.len() {
            let capacity = needed.max(self.capacity_hint);
            let zeros = Tensor::zeros((b, heads, capacity, d), k.dtype(), k.device())?;
            self.layers.push((zeros.clone(), zeros.copy()?));
        }
        let (ck, cv) = &mut self.layers[layer];
        if ck.dim(0)? != b {
            return Err(Error::InvalidArgument(format!(
                "KV cache holds batch {}, got batch {b}; clear it or use a new one",
                ck.dim(0)?
            )));
        }
        let capacity = ck.dim(2)?;
        if needed > capacity {
            let grown = needed.max(2 * capacity);
            *ck = grow(ck, self.len, grown)?;
            *cv = grow(cv, self.len, grown)?;
        }
        ck.slice_set(&k.contiguous()?, 2, self.len)?;
        cv.slice_set(&v.contiguous()?, 2, self.len)?;
        Ok((ck.narrow(2, 0, needed)?, cv.narrow(2, 0, needed)?))
    }

    /// Marks `s` more positions as cached (after every layer has appended them).
    pub(crate) fn advance(&mut self, s: usize) {
        self.len += s;
    }
}

/// A buffer of `capacity` positions holding the first `len` positions of `buffer`.
fn grow(buffer: &Tensor, len: usize, capacity: usize) -> Result<Tensor> {
    let (b, heads, _, d) = buffer.dims4()?;
    let bigger = Tensor::zeros((b, heads, capacity, d), buffer.dtype(), buffer.device())?;
    if len > 0 {
        bigger.slice_set(&buffer.narrow(2, 0, len)?.contiguous()?, 2, 0)?;
    }
    Ok(bigger)
}
