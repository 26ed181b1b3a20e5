//! The digests hubs publish: SHA-256 for LFS files and the git blob id (SHA-1 over
//! `blob {len}\0` + content) for the rest. SHA-1 is used only to compare against git's own ids.

use ring::digest::{Context, SHA1_FOR_LEGACY_USE_ONLY, SHA256};

/// Incremental SHA-256, hex output.
#[derive(Clone)]
pub struct Sha256Hasher(Context);

impl std::fmt::Debug for Sha256Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sha256Hasher")
    }
}

impl Default for Sha256Hasher {
    fn default() -> Self {
        Self(Context::new(&SHA256))
    }
}

impl Sha256Hasher {
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// Lower-case hex digest.
    pub fn finish_hex(self) -> String {
        hex::encode(self.0.finish())
    }

    /// SHA-256 of `bytes`, lower-case hex.
    pub fn digest_hex(bytes: &[u8]) -> String {
        let mut hasher = Self::default();
        hasher.update(bytes);
        hasher.finish_hex()
    }
}

/// Incremental git blob id of a file whose length is known up front.
#[derive(Clone)]
pub struct GitBlobHasher(Context);

impl std::fmt::Debug for GitBlobHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GitBlobHasher")
    }
}

impl GitBlobHasher {
    /// Starts the hash of a blob of `len` bytes.
    pub fn new(len: u64) -> Self {
        let mut context = Context::new(&SHA1_FOR_LEGACY_USE_ONLY);
        context.update(format!("blob {len}\0").as_bytes());
        Self(context)
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// Lower-case hex id, as git and the hub print it.
    pub fn finish_hex(self) -> String {
        hex::encode(self.0.finish())
    }
}

/// The git blob id of `content`.
pub fn git_blob_id(content: &[u8]) -> String {
    let mut hasher = GitBlobHasher::new(content.len() as u64);
    hasher.update(content);
    hasher.finish_hex()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_blob_ids_match_git() {
        // `printf 'hello\n' | git hash-object --stdin` and `git hash-object /dev/null`.
        assert_eq!(
            git_blob_id(b"hello\n"),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
        assert_eq!(git_blob_id(b""), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
    }

    #[test]
    fn sha256_matches_the_standard_vector() {
        assert_eq!(
            Sha256Hasher::digest_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
