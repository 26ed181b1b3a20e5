//! The on-storage artifact format: a small authenticated header, then AES-256-GCM chunks whose nonce and
//! associated data bind the artifact id, the chunk index and the final-chunk flag. See `FORMAT.md`.

use bytes::{Bytes, BytesMut};
use ring::aead::{Aad, LessSafeKey, Nonce, Tag, NONCE_LEN};

use crate::error::{Error, IntegrityFailure, Result};

/// Version of the artifact format written by this crate.
pub const FORMAT_VERSION: u16 = 1;
/// Plaintext bytes per chunk written by this crate.
pub const DEFAULT_CHUNK_SIZE: u32 = 64 * 1024;
/// Largest chunk size accepted when reading (bounds memory per chunk).
const MAX_CHUNK_SIZE: u32 = 16 * 1024 * 1024;
/// Plaintext bytes handed to a pipeline stage at once (a whole number of chunks).
const BATCH_BYTES: u64 = 4 * 1024 * 1024;

const MAGIC: [u8; 8] = *b"CTDLBLOB";
const SUITE_AES_256_GCM: u8 = 1;
/// Length of the random per-artifact id.
pub(crate) const ARTIFACT_ID_LEN: usize = 16;
/// Length of a GCM authentication tag.
pub(crate) const TAG_LEN: usize = 16;
/// Header fields covered by every tag: magic, version, suite, reserved, chunk size, artifact id.
const HEADER_BODY_LEN: usize = 32;
/// Header on storage: the body followed by its own tag.
pub(crate) const HEADER_LEN: usize = HEADER_BODY_LEN + TAG_LEN;

/// The random id that ties every chunk to one artifact.
pub(crate) type ArtifactId = [u8; ARTIFACT_ID_LEN];

/// What a nonce seals: its last byte keeps the three uses apart.
#[derive(Clone, Copy)]
enum Sealed {
    Chunk = 0,
    FinalChunk = 1,
    Header = 2,
}

impl Sealed {
    fn chunk(is_final: bool) -> Self {
        if is_final {
            Sealed::FinalChunk
        } else {
            Sealed::Chunk
        }
    }
}

/// Seals and opens the header and chunks of one artifact with its data key.
pub(crate) struct ChunkCipher {
    key: LessSafeKey,
    header: [u8; HEADER_BODY_LEN],
    chunk_size: u32,
}

impl ChunkCipher {
    /// A cipher for an artifact with this id and chunk size.
    pub(crate) fn new(key: LessSafeKey, artifact_id: ArtifactId, chunk_size: u32) -> Result<Self> {
        if chunk_size == 0 || chunk_size > MAX_CHUNK_SIZE {
            return Err(Error::InvalidRef(format!(
                "chunk size {chunk_size} is outside 1..={MAX_CHUNK_SIZE}"
            )));
        }
        let mut header = [0u8; HEADER_BODY_LEN];
        header[..8].copy_from_slice(&MAGIC);
        header[8..10].copy_from_slice(&FORMAT_VERSION.to_be_bytes());
        header[10] = SUITE_AES_256_GCM;
        header[12..16].copy_from_slice(&chunk_size.to_be_bytes());
        header[16..].copy_from_slice(&artifact_id);
        Ok(Self {
            key,
            header,
            chunk_size,
        })
    }

    pub(crate) fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    fn nonce(&self, index: u64, sealed: Sealed) -> Nonce {
        let mut nonce = [0u8; NONCE_LEN];
        nonce[..3].copy_from_slice(&self.header[16..19]);
        nonce[3..11].copy_from_slice(&index.to_be_bytes());
        nonce[11] = sealed as u8;
        Nonce::assume_unique_for_key(nonce)
    }

    fn aad(&self, index: u64, sealed: Sealed) -> [u8; HEADER_BODY_LEN + 9] {
        let mut aad = [0u8; HEADER_BODY_LEN + 9];
        aad[..HEADER_BODY_LEN].copy_from_slice(&self.header);
        aad[HEADER_BODY_LEN..HEADER_BODY_LEN + 8].copy_from_slice(&index.to_be_bytes());
        aad[HEADER_BODY_LEN + 8] = sealed as u8;
        aad
    }

    fn seal(&self, index: u64, sealed: Sealed, in_out: &mut [u8]) -> Result<Tag> {
        self.key
            .seal_in_place_separate_tag(
                self.nonce(index, sealed),
                Aad::from(self.aad(index, sealed)),
                in_out,
            )
            .map_err(|_| Error::Key("AES-GCM sealing failed"))
    }

    /// The header bytes to store first: the body and a tag over it.
    pub(crate) fn sealed_header(&self) -> Result<Bytes> {
        let tag = self.seal(0, Sealed::Header, &mut [])?;
        let mut out = BytesMut::with_capacity(HEADER_LEN);
        out.extend_from_slice(&self.header);
        out.extend_from_slice(tag.as_ref());
        Ok(out.freeze())
    }

    /// Checks a stored header against the artifact this cipher was built for.
    pub(crate) fn check_header(&self, stored: &[u8]) -> Result<(), IntegrityFailure> {
        let invalid = IntegrityFailure::HeaderInvalid;
        if stored.len() != HEADER_LEN {
            return Err(invalid("wrong length"));
        }
        let (body, tag) = stored.split_at(HEADER_BODY_LEN);
        if body[..8] != MAGIC {
            return Err(invalid("not a Citadel artifact (bad magic)"));
        }
        if body[8..10] != self.header[8..10] {
            return Err(invalid("unsupported format version"));
        }
        if body[10..12] != self.header[10..12] {
            return Err(invalid("unsupported cipher suite"));
        }
        if body[12..16] != self.header[12..16] {
            return Err(invalid("chunk size differs from the reference"));
        }
        if body[16..] != self.header[16..] {
            return Err(invalid("artifact id differs from the reference"));
        }
        let mut tag_only = tag.to_vec();
        self.key
            .open_in_place(
                self.nonce(0, Sealed::Header),
                Aad::from(self.aad(0, Sealed::Header)),
                &mut tag_only,
            )
            .map_err(|_| invalid("authentication failed"))?;
        Ok(())
    }

    /// Seals a batch in place: each chunk's plaintext at the start of its slot is encrypted and its
    /// tag written right after it, so the buffer becomes the stored frames (and is cut to their length).
    pub(crate) fn seal_batch(&self, batch: &mut FramedBatch) -> Result<()> {
        let slot = self.chunk_size as usize + TAG_LEN;
        for j in 0..batch.chunks {
            let len = batch.chunk_len(j, self.chunk_size as usize);
            let is_final = batch.last && j + 1 == batch.chunks;
            let start = j * slot;
            let index = batch.first_index + j as u64;
            let tag = self.seal(
                index,
                Sealed::chunk(is_final),
                &mut batch.buffer[start..start + len],
            )?;
            batch.buffer[start + len..start + len + TAG_LEN].copy_from_slice(tag.as_ref());
        }
        let stored = batch.chunks.saturating_sub(1) * slot
            + batch.chunk_len(batch.chunks.saturating_sub(1), self.chunk_size as usize)
            + TAG_LEN;
        batch.buffer.truncate(stored);
        Ok(())
    }

    /// Decrypts whole frames starting at chunk `first_index`, returning one plaintext buffer per chunk.
    pub(crate) fn open_batch(
        &self,
        layout: &Layout,
        first_index: u64,
        mut frames: BytesMut,
    ) -> Result<Vec<Bytes>, IntegrityFailure> {
        let mut plain = Vec::new();
        let mut index = first_index;
        while !frames.is_empty() {
            let frame_len = layout.frame_len(index).min(frames.len() as u64) as usize;
            let mut frame = frames.split_to(frame_len);
            let sealed = Sealed::chunk(index + 1 == layout.chunk_count());
            let plain_len = self
                .key
                .open_in_place(
                    self.nonce(index, sealed),
                    Aad::from(self.aad(index, sealed)),
                    &mut frame,
                )
                .map_err(|_| IntegrityFailure::ChunkAuthentication { index })?
                .len();
            frame.truncate(plain_len);
            plain.push(frame.freeze());
            index += 1;
        }
        Ok(plain)
    }
}

/// Where the chunks of an artifact of known size and chunk size lie in its stored object.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layout {
    size: u64,
    chunk_size: u64,
    chunk_count: u64,
    stored_len: u64,
}

impl Layout {
    /// The layout of an artifact of `size` plaintext bytes; rejects sizes whose layout overflows.
    pub(crate) fn new(size: u64, chunk_size: u32) -> Result<Self> {
        let chunk_size = u64::from(chunk_size.max(1));
        let chunk_count = size.div_ceil(chunk_size).max(1);
        let stored_len = chunk_count
            .checked_mul(TAG_LEN as u64)
            .and_then(|tags| tags.checked_add(size))
            .and_then(|len| len.checked_add(HEADER_LEN as u64))
            .ok_or_else(|| Error::InvalidRef(format!("size {size} is too large")))?;
        Ok(Self {
            size,
            chunk_size,
            chunk_count,
            stored_len,
        })
    }

    pub(crate) fn chunk_count(&self) -> u64 {
        self.chunk_count
    }

    /// Total bytes of the stored object: header and every frame.
    pub(crate) fn stored_len(&self) -> u64 {
        self.stored_len
    }

    /// Stored bytes of chunk `index`: its plaintext length plus the tag.
    fn frame_len(&self, index: u64) -> u64 {
        let start = index.saturating_mul(self.chunk_size);
        self.chunk_size.min(self.size.saturating_sub(start)) + TAG_LEN as u64
    }

    /// The next read batch starting at chunk `first_index`: (chunk count, stored bytes).
    pub(crate) fn batch(&self, first_index: u64) -> (u64, u64) {
        let per_batch = (BATCH_BYTES / self.chunk_size).max(1);
        let count = per_batch.min(self.chunk_count - first_index);
        let len = (first_index..first_index + count)
            .map(|index| self.frame_len(index))
            .sum();
        (count, len)
    }

    /// Stored bytes of the whole frames, starting at chunk `first_index`, within `available` bytes.
    pub(crate) fn whole_frames_len(&self, first_index: u64, available: u64) -> u64 {
        let mut len = 0;
        for index in first_index..self.chunk_count {
            let next = len + self.frame_len(index);
            if next > available {
                break;
            }
            len = next;
        }
        len
    }
}

/// A batch of chunks laid out as they will be stored: slots of `chunk_size + TAG_LEN` bytes, each
/// holding its chunk's plaintext at the start and, once sealed, the tag right after it.
#[derive(Debug)]
pub(crate) struct FramedBatch {
    /// Index of the first chunk.
    pub(crate) first_index: u64,
    /// `chunks` slots (plaintext, then sealed frames).
    pub(crate) buffer: BytesMut,
    /// Chunks in the batch (at least 1).
    pub(crate) chunks: usize,
    /// Plaintext bytes of the last chunk; every other chunk is full.
    pub(crate) last_len: usize,
    /// Whether the batch ends the artifact (its last chunk is then sealed as final).
    pub(crate) last: bool,
}

impl FramedBatch {
    /// Plaintext bytes of chunk `j` of the batch.
    pub(crate) fn chunk_len(&self, j: usize, chunk_size: usize) -> usize {
        if j + 1 == self.chunks {
            self.last_len
        } else {
            chunk_size
        }
    }

    /// The plaintext of each chunk, in order (before sealing).
    pub(crate) fn plaintext(&self, chunk_size: usize) -> impl Iterator<Item = &[u8]> {
        let slot = chunk_size + TAG_LEN;
        (0..self.chunks)
            .map(move |j| &self.buffer[j * slot..j * slot + self.chunk_len(j, chunk_size)])
    }
}

/// Chunk slots per write batch for a chunk size: about [`BATCH_BYTES`] of plaintext.
pub(crate) fn write_batch_slots(chunk_size: u32) -> usize {
    (BATCH_BYTES / u64::from(chunk_size.max(1))).max(1) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kek::DataKey;

    fn cipher(chunk_size: u32) -> ChunkCipher {
        let key = DataKey::generate().unwrap().aead().unwrap();
        ChunkCipher::new(key, [7u8; ARTIFACT_ID_LEN], chunk_size).unwrap()
    }

    #[test]
    fn layout_counts_frames_and_stored_bytes() {
        let empty = Layout::new(0, 4).unwrap();
        assert_eq!((empty.chunk_count(), empty.stored_len()), (1, 48 + 16));
        let exact = Layout::new(8, 4).unwrap();
        assert_eq!((exact.chunk_count(), exact.stored_len()), (2, 48 + 8 + 32));
        let partial = Layout::new(9, 4).unwrap();
        assert_eq!(partial.chunk_count(), 3);
        assert_eq!(partial.frame_len(2), 1 + 16);
        assert!(Layout::new(u64::MAX, 1).is_err());
    }

    #[test]
    fn header_seals_and_rejects_every_flipped_byte() {
        let cipher = cipher(1024);
        let header = cipher.sealed_header().unwrap();
        cipher.check_header(&header).unwrap();
        for position in 0..HEADER_LEN {
            let mut bad = header.to_vec();
            bad[position] ^= 0x01;
            assert!(
                cipher.check_header(&bad).is_err(),
                "flip at {position} undetected"
            );
        }
    }

    /// Lays `plain` out in slots as the write pipeline does.
    fn framed(plain: &[u8], chunk_size: usize, last: bool) -> FramedBatch {
        let pieces: Vec<&[u8]> = if plain.is_empty() {
            vec![&[]]
        } else {
            plain.chunks(chunk_size).collect()
        };
        let mut buffer = BytesMut::zeroed(pieces.len() * (chunk_size + TAG_LEN));
        for (j, piece) in pieces.iter().enumerate() {
            let start = j * (chunk_size + TAG_LEN);
            buffer[start..start + piece.len()].copy_from_slice(piece);
        }
        FramedBatch {
            first_index: 0,
            buffer,
            chunks: pieces.len(),
            last_len: pieces.last().map_or(0, |p| p.len()),
            last,
        }
    }

    #[test]
    fn batch_round_trip_and_final_flag_binding() {
        let cipher = cipher(4);
        let plain = b"0123456789";
        let mut batch = framed(plain, 4, true);
        assert_eq!(batch.plaintext(4).collect::<Vec<_>>().concat(), plain);
        cipher.seal_batch(&mut batch).unwrap();
        let layout = Layout::new(10, 4).unwrap();
        assert_eq!(
            batch.buffer.len() as u64,
            layout.stored_len() - HEADER_LEN as u64
        );
        let opened = cipher.open_batch(&layout, 0, batch.buffer).unwrap();
        assert_eq!(opened.concat(), plain);
        // Sealed as not-last: the last chunk does not open as final.
        let mut not_final = framed(plain, 4, false);
        cipher.seal_batch(&mut not_final).unwrap();
        let failure = cipher.open_batch(&layout, 0, not_final.buffer).unwrap_err();
        assert_eq!(failure, IntegrityFailure::ChunkAuthentication { index: 2 });
    }

    #[test]
    fn empty_last_batch_is_one_empty_final_chunk() {
        let cipher = cipher(4);
        let mut batch = framed(b"", 4, true);
        cipher.seal_batch(&mut batch).unwrap();
        assert_eq!(batch.buffer.len(), TAG_LEN);
        let layout = Layout::new(0, 4).unwrap();
        let opened = cipher.open_batch(&layout, 0, batch.buffer).unwrap();
        assert_eq!(opened.concat(), b"");
    }
}
