//! Content addresses: `sha256:<hex>` digests and the object keys derived from them.

use crate::error::{Error, Result};

const DIGEST_PREFIX: &str = "sha256:";
/// Prefix under which unpublished (in-progress or abandoned) objects live.
pub(crate) const STAGING_PREFIX: &str = "staging";
/// Suffix of the small record kept beside a published object (its reference, for deduplication).
const RECORD_SUFFIX: &str = ".ref";

/// A SHA-256 digest of an artifact's plaintext.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Digest([u8; 32]);

impl Digest {
    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self> {
        bytes
            .try_into()
            .map(Digest)
            .map_err(|_| Error::InvalidRef("a SHA-256 digest is 32 bytes".into()))
    }

    /// Parses `sha256:<64 lowercase hex>`.
    pub(crate) fn parse(text: &str) -> Result<Self> {
        let hex_part = text
            .strip_prefix(DIGEST_PREFIX)
            .filter(|hex_part| {
                hex_part
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            })
            .ok_or_else(|| Error::InvalidRef(format!("digest {text:?} is not sha256:<hex>")))?;
        let bytes = hex::decode(hex_part)
            .map_err(|_| Error::InvalidRef(format!("digest {text:?} is not sha256:<hex>")))?;
        Self::from_bytes(&bytes)
    }

    /// The object key an artifact with this digest is published under: `blobs/sha256/ab/abcdef…`.
    pub(crate) fn location(&self) -> String {
        let hex = hex::encode(self.0);
        format!("blobs/sha256/{}/{hex}", &hex[..2])
    }
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{DIGEST_PREFIX}{}", hex::encode(self.0))
    }
}

/// Where a put whose content address is taken by an object it cannot adopt publishes instead.
pub(crate) fn unique_location(primary: &str, artifact_id_hex: &str) -> String {
    format!("{primary}-{artifact_id_hex}")
}

/// Checks that a reference's location is one this crate could have published for its digest.
pub(crate) fn check_location(digest: &Digest, location: &str) -> Result<()> {
    let primary = digest.location();
    let valid = match location.strip_prefix(primary.as_str()) {
        Some("") => true,
        Some(rest) => rest
            .strip_prefix('-')
            .is_some_and(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())),
        None => false,
    };
    if valid {
        Ok(())
    } else {
        Err(Error::InvalidRef(format!(
            "location {location:?} is not an address of {digest}"
        )))
    }
}

/// The record object kept beside a published object.
pub(crate) fn record_location(location: &str) -> String {
    format!("{location}{RECORD_SUFFIX}")
}

/// The staging object key for an artifact id.
pub(crate) fn staging_location(artifact_id_hex: &str) -> String {
    format!("{STAGING_PREFIX}/{artifact_id_hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_round_trips_and_rejects_bad_text() {
        let digest = Digest::from_bytes(&[0xab; 32]).unwrap();
        let text = digest.to_string();
        assert_eq!(Digest::parse(&text).unwrap(), digest);
        assert_eq!(
            digest.location(),
            format!("blobs/sha256/ab/{}", "ab".repeat(32))
        );
        for bad in [
            "",
            "sha256:",
            "md5:ab",
            &text.to_uppercase(),
            &text[..70],
            "sha256:../../etc",
        ] {
            assert!(Digest::parse(bad).is_err(), "{bad} accepted");
        }
        let primary = digest.location();
        check_location(&digest, &primary).unwrap();
        check_location(&digest, &unique_location(&primary, &"0f".repeat(16))).unwrap();
        for bad in [
            "blobs/sha256/ab/x",
            "staging/x",
            &format!("{primary}-../x"),
            &format!("{primary}/x"),
        ] {
            assert!(check_location(&digest, bad).is_err(), "{bad} accepted");
        }
    }
}
