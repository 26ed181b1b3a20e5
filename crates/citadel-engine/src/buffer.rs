//! New f32 buffers filled in parallel, chunk by chunk, with no serial zero-fill first.
//!
//! `vec![0.0; n]` followed by a parallel fill zeroes the whole buffer on the calling thread
//! while the pool waits: for a training step's activations and gradients that serial pass was a
//! measurable share of the step. Here each chunk is zeroed by the thread that then fills it,
//! while the chunk is in its cache.
#![allow(unsafe_code)]

use std::convert::Infallible;
use std::mem::MaybeUninit;

use rayon::prelude::*;

/// A vector of `len` elements whose consecutive chunks of `chunk` elements (the last may be
/// shorter) are written by `fill(chunk_index, chunk)` across rayon's pool. `fill` sees zeros.
pub(crate) fn filled(
    len: usize,
    chunk: usize,
    fill: impl Fn(usize, &mut [f32]) + Sync + Send,
) -> Vec<f32> {
    let filled = try_filled(len, chunk, |i, out| {
        fill(i, out);
        Ok::<(), Infallible>(())
    });
    match filled {
        Ok(out) => out,
        Err(never) => match never {},
    }
}

/// [`filled`] with a fallible `fill`: the first error is returned and the buffer dropped.
pub(crate) fn try_filled<E: Send>(
    len: usize,
    chunk: usize,
    fill: impl Fn(usize, &mut [f32]) -> Result<(), E> + Sync + Send,
) -> Result<Vec<f32>, E> {
    let mut out = Vec::<f32>::with_capacity(len);
    out.spare_capacity_mut()[..len]
        .par_chunks_mut(chunk.max(1))
        .enumerate()
        .try_for_each(|(i, part)| fill(i, zeroed(part)))?;
    // SAFETY: the chunks cover `..len`, and `zeroed` initialized each of them. Had a fill
    // failed or panicked, this line would not run and the vector would drop empty.
    unsafe { out.set_len(len) };
    Ok(out)
}

/// Writes zeros over `part` and returns it as initialized.
fn zeroed(part: &mut [MaybeUninit<f32>]) -> &mut [f32] {
    for slot in part.iter_mut() {
        slot.write(0.0);
    }
    // SAFETY: every element was initialized just above, and `MaybeUninit<f32>` has the layout
    // of `f32`.
    unsafe { &mut *(std::ptr::from_mut(part) as *mut [f32]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_chunk_is_filled_in_place_and_starts_at_zero() {
        for (len, chunk) in [(0, 4), (1, 4), (10, 3), (100_000, 1 << 12), (7, 0)] {
            let out = filled(len, chunk, |i, part| {
                assert!(part.iter().all(|&v| v == 0.0));
                for (j, v) in part.iter_mut().enumerate() {
                    *v = (i * chunk.max(1) + j) as f32;
                }
            });
            assert_eq!(out.len(), len);
            assert!(out.iter().enumerate().all(|(k, &v)| v == k as f32));
        }
    }

    #[test]
    fn a_failing_chunk_fails_the_whole_buffer() {
        let out = try_filled(1000, 10, |i, _| if i == 57 { Err(i) } else { Ok(()) });
        assert_eq!(out, Err(57));
    }
}
