//! Signed model manifests in the OpenSSF model-signing layout: an in-toto Statement v1 with the
//! predicate type `https://model_signing/signature/v1.0` listing every file's SHA-256, wrapped in
//! a DSSE envelope signed with the instance's Ed25519 key. Citadel's own facts (sizes, source,
//! time, scanner verdicts) ride in the predicate's `citadel` field, which v1.0 verifiers ignore
//! and which the signature covers all the same.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ring::signature::{self, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::scan::FileScan;
use crate::{HubError, Result, Sha256Hasher};

/// DSSE payload type of an in-toto statement.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// in-toto statement type.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The model-signing predicate.
pub const PREDICATE_TYPE: &str = "https://model_signing/signature/v1.0";
/// Where an exported folder keeps its signature (the model-signing default).
pub const SIGNATURE_FILE: &str = "model.sig";
/// Where an exported folder keeps the public key that verifies it.
pub const PUBLIC_KEY_FILE: &str = "model.pub.pem";
/// Media type of the Sigstore bundle written to [`SIGNATURE_FILE`].
const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// Ed25519 SubjectPublicKeyInfo DER prefix (RFC 8410), followed by the 32 key bytes.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// One file of a model version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// Relative path with '/'.
    pub path: String,
    /// Lower-case hex SHA-256 of the content.
    pub sha256: String,
    pub size: u64,
}

/// Where a model version's files came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// Pulled from a hub, pinned to a commit.
    Hub {
        endpoint: String,
        repo: String,
        revision: String,
        commit: String,
    },
    /// Imported from a local folder.
    Local { path: String },
    /// Fine-tuned by a tracked run from a base version (merged weights and the adapter).
    Training {
        run: String,
        base: String,
        base_root_digest: String,
    },
    /// Copied by promotion from a version in another catalog, after re-verification.
    Promotion { from: String, root_digest: String },
}

/// Everything the signature covers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The subject's name: the model version, e.g. `dev.models.smollm2@1`.
    pub model: String,
    /// Sorted by path (the model-signing canonical order).
    pub files: Vec<ManifestFile>,
    pub source: Source,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// The scanners' verdicts, one per file.
    pub scans: Vec<FileScan>,
}

/// Citadel's extension of the predicate.
#[derive(Serialize, Deserialize)]
struct Extension {
    source: Source,
    created_at: String,
    sizes: Vec<(String, u64)>,
    scans: Vec<FileScan>,
}

impl Manifest {
    /// Builds a manifest, sorting the files.
    pub fn new(
        model: String,
        mut files: Vec<ManifestFile>,
        source: Source,
        created_at: String,
        mut scans: Vec<FileScan>,
    ) -> Self {
        files.sort_by(|a, b| a.path.cmp(&b.path));
        scans.sort_by(|a, b| a.path.cmp(&b.path));
        Self {
            model,
            files,
            source,
            created_at,
            scans,
        }
    }

    /// SHA-256 over the files' raw digests in path order: the statement's subject digest.
    pub fn root_digest(&self) -> Result<String> {
        let mut hasher = Sha256Hasher::default();
        for file in &self.files {
            let raw = hex::decode(&file.sha256).map_err(|_| {
                HubError::Signature(format!("{}: the digest is not hex", file.path))
            })?;
            hasher.update(&raw);
        }
        Ok(hasher.finish_hex())
    }

    /// The in-toto statement.
    pub fn statement(&self) -> Result<Value> {
        let extension = Extension {
            source: self.source.clone(),
            created_at: self.created_at.clone(),
            sizes: self
                .files
                .iter()
                .map(|f| (f.path.clone(), f.size))
                .collect(),
            scans: self.scans.clone(),
        };
        Ok(json!({
            "_type": STATEMENT_TYPE,
            "subject": [{ "name": self.model, "digest": { "sha256": self.root_digest()? } }],
            "predicateType": PREDICATE_TYPE,
            "predicate": {
                "serialization": {
                    "method": "files",
                    "hash_type": "sha256",
                    "allow_symlinks": false,
                    "ignore_paths": [SIGNATURE_FILE, PUBLIC_KEY_FILE],
                },
                "resources": self.files.iter().map(|f| json!({
                    "name": f.path, "algorithm": "sha256", "digest": f.sha256,
                })).collect::<Vec<_>>(),
                "citadel": serde_json::to_value(extension).map_err(json_error)?,
            },
        }))
    }

    /// Reads a manifest back from a statement, checking its types and its subject digest.
    pub fn from_statement(statement: &Value) -> Result<Self> {
        let field = |value: &Value, key: &str| -> Result<Value> {
            value
                .get(key)
                .cloned()
                .ok_or_else(|| HubError::Signature(format!("the statement has no {key}")))
        };
        if statement.get("_type").and_then(Value::as_str) != Some(STATEMENT_TYPE) {
            return Err(HubError::Signature("not an in-toto v1 statement".into()));
        }
        if statement.get("predicateType").and_then(Value::as_str) != Some(PREDICATE_TYPE) {
            return Err(HubError::Signature(format!(
                "the predicate type is not {PREDICATE_TYPE}"
            )));
        }
        let subjects = field(statement, "subject")?;
        let [subject] = subjects.as_array().map(Vec::as_slice).unwrap_or_default() else {
            return Err(HubError::Signature("expected exactly one subject".into()));
        };
        let model = subject
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| HubError::Signature("the subject has no name".into()))?;
        let root = subject
            .pointer("/digest/sha256")
            .and_then(Value::as_str)
            .ok_or_else(|| HubError::Signature("the subject has no sha256 digest".into()))?;
        let predicate = field(statement, "predicate")?;
        let extension: Extension = serde_json::from_value(field(&predicate, "citadel")?)
            .map_err(|e| HubError::Signature(format!("the citadel predicate: {e}")))?;
        let resources = field(&predicate, "resources")?;
        let resources = resources
            .as_array()
            .ok_or_else(|| HubError::Signature("resources is not a list".into()))?;
        if resources.len() != extension.sizes.len() {
            return Err(HubError::Signature(
                "resources and sizes disagree on the number of files".into(),
            ));
        }
        let mut files = Vec::with_capacity(resources.len());
        for (resource, (sized_path, size)) in resources.iter().zip(extension.sizes) {
            let text = |key: &str| resource.get(key).and_then(Value::as_str);
            let (Some(path), Some("sha256"), Some(sha256)) =
                (text("name"), text("algorithm"), text("digest"))
            else {
                return Err(HubError::Signature(format!(
                    "a resource is not a sha256 descriptor: {resource}"
                )));
            };
            if path != sized_path {
                return Err(HubError::Signature(format!(
                    "{path}: resources and sizes are in a different order"
                )));
            }
            files.push(ManifestFile {
                path: path.to_owned(),
                sha256: sha256.to_owned(),
                size,
            });
        }
        let manifest = Manifest {
            model: model.to_owned(),
            files,
            source: extension.source,
            created_at: extension.created_at,
            scans: extension.scans,
        };
        let sorted = manifest.files.windows(2).all(|w| w[0].path < w[1].path);
        if !sorted {
            return Err(HubError::Signature(
                "resources are not sorted by name, or a name repeats".into(),
            ));
        }
        if manifest.root_digest()? != root {
            return Err(HubError::Signature(
                "the subject digest does not match the listed files".into(),
            ));
        }
        Ok(manifest)
    }
}

/// A DSSE envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Base64 of the statement's JSON.
    pub payload: String,
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    pub signatures: Vec<EnvelopeSignature>,
}

/// One signature of an envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeSignature {
    pub keyid: String,
    /// Base64 of the Ed25519 signature over the DSSE pre-authentication encoding.
    pub sig: String,
}

/// The DSSE v1 pre-authentication encoding: what is actually signed.
fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// The instance's Ed25519 signing key. `Debug` shows the key id only.
pub struct SigningKey {
    pair: Ed25519KeyPair,
    public: VerifyingKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.public.key_id())
    }
}

impl SigningKey {
    /// Loads a key from its PKCS#8 document.
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self> {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
            .map_err(|_| HubError::Signature("the signing key is not Ed25519 PKCS#8".into()))?;
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(pair.public_key().as_ref());
        Ok(Self {
            pair,
            public: VerifyingKey(bytes),
        })
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        self.public
    }

    /// Signs `manifest` into a DSSE envelope.
    pub fn sign(&self, manifest: &Manifest) -> Result<Envelope> {
        let payload = serde_json::to_vec(&manifest.statement()?).map_err(json_error)?;
        let signature = self.pair.sign(&pae(PAYLOAD_TYPE, &payload));
        Ok(Envelope {
            payload: BASE64.encode(&payload),
            payload_type: PAYLOAD_TYPE.to_owned(),
            signatures: vec![EnvelopeSignature {
                keyid: self.public.key_id(),
                sig: BASE64.encode(signature.as_ref()),
            }],
        })
    }
}

/// An Ed25519 public key that verifies envelopes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct VerifyingKey([u8; 32]);

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VerifyingKey({})", self.key_id())
    }
}

impl VerifyingKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// First 16 hex characters of SHA-256 of the key bytes (as the audit log names keys).
    pub fn key_id(&self) -> String {
        let mut id = Sha256Hasher::digest_hex(&self.0);
        id.truncate(16);
        id
    }

    /// The key as a PEM SubjectPublicKeyInfo, which OpenSSL and Python's `cryptography` read.
    pub fn to_pem(&self) -> String {
        let mut der = ED25519_SPKI_PREFIX.to_vec();
        der.extend_from_slice(&self.0);
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            BASE64.encode(der)
        )
    }

    /// Parses a PEM SubjectPublicKeyInfo holding an Ed25519 key.
    pub fn from_pem(pem: &str) -> Result<Self> {
        let body: String = pem
            .lines()
            .filter(|line| !line.starts_with("-----"))
            .collect();
        let der = BASE64
            .decode(body.trim())
            .map_err(|_| HubError::Signature("the public key is not PEM".into()))?;
        match der.strip_prefix(ED25519_SPKI_PREFIX.as_slice()) {
            Some(key) => {
                let bytes: [u8; 32] = key.try_into().map_err(|_| {
                    HubError::Signature("the public key is not a 32-byte Ed25519 key".into())
                })?;
                Ok(Self(bytes))
            }
            None => Err(HubError::Signature(
                "the public key is not an Ed25519 key".into(),
            )),
        }
    }

    /// Checks the envelope's signature and returns the manifest it carries.
    pub fn verify(&self, envelope: &Envelope) -> Result<Manifest> {
        if envelope.payload_type != PAYLOAD_TYPE {
            return Err(HubError::Signature(format!(
                "the payload type is {}, not {PAYLOAD_TYPE}",
                envelope.payload_type
            )));
        }
        let payload = BASE64
            .decode(&envelope.payload)
            .map_err(|_| HubError::Signature("the payload is not base64".into()))?;
        let key_id = self.key_id();
        let signed = envelope.signatures.iter().any(|s| {
            s.keyid == key_id
                && BASE64.decode(&s.sig).is_ok_and(|sig| {
                    UnparsedPublicKey::new(&signature::ED25519, &self.0)
                        .verify(&pae(&envelope.payload_type, &payload), &sig)
                        .is_ok()
                })
        });
        if !signed {
            return Err(HubError::Signature(format!(
                "no valid signature by key {key_id}: the manifest was altered or signed by \
                 another key"
            )));
        }
        let statement: Value = serde_json::from_slice(&payload)
            .map_err(|e| HubError::Signature(format!("the payload is not JSON: {e}")))?;
        Manifest::from_statement(&statement)
    }
}

/// The Sigstore bundle (`model.sig`) an exported folder carries: the envelope and a hint naming
/// the key (key-based signing has no certificate and no transparency-log entry).
pub fn bundle(envelope: &Envelope) -> Result<Value> {
    let hint = envelope
        .signatures
        .first()
        .map(|s| s.keyid.clone())
        .unwrap_or_default();
    Ok(json!({
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": { "publicKey": { "hint": hint }, "tlogEntries": [] },
        "dsseEnvelope": serde_json::to_value(envelope).map_err(json_error)?,
    }))
}

/// The envelope inside a bundle.
pub fn envelope_from_bundle(bundle: &Value) -> Result<Envelope> {
    let envelope = bundle
        .get("dsseEnvelope")
        .cloned()
        .ok_or_else(|| HubError::Signature("the bundle has no dsseEnvelope".into()))?;
    serde_json::from_value(envelope)
        .map_err(|e| HubError::Signature(format!("the bundle's envelope: {e}")))
}

/// Verifies an exported folder: the signature in `model.sig` against `key`, then every file's
/// size and SHA-256 against the manifest, and that the folder holds no other file.
pub fn verify_folder(dir: &Path, key: &VerifyingKey) -> Result<Manifest> {
    let sig_path = dir.join(SIGNATURE_FILE);
    let text = std::fs::read_to_string(&sig_path).map_err(|e| HubError::io(&sig_path, e))?;
    let bundle: Value = serde_json::from_str(&text)
        .map_err(|e| HubError::Signature(format!("{SIGNATURE_FILE} is not JSON: {e}")))?;
    let manifest = key.verify(&envelope_from_bundle(&bundle)?)?;
    let mut present = BTreeSet::new();
    crate::local::walk(dir, &mut |relative, _| {
        if relative != SIGNATURE_FILE && relative != PUBLIC_KEY_FILE {
            present.insert(relative.to_owned());
        }
        Ok(())
    })?;
    for file in &manifest.files {
        if !present.remove(&file.path) {
            return Err(HubError::Integrity {
                path: file.path.clone(),
                detail: "listed in the manifest but missing".into(),
            });
        }
        let (sha256, size) = hash_file(&dir.join(&file.path))?;
        if size != file.size || sha256 != file.sha256 {
            return Err(HubError::Integrity {
                path: file.path.clone(),
                detail: format!(
                    "sha256 {sha256} ({size} bytes) differs from the signed {} ({} bytes)",
                    file.sha256, file.size
                ),
            });
        }
    }
    if let Some(extra) = present.into_iter().next() {
        return Err(HubError::Integrity {
            path: extra,
            detail: "not listed in the signed manifest".into(),
        });
    }
    Ok(manifest)
}

/// SHA-256 (hex) and size of a local file, streamed.
pub fn hash_file(path: &Path) -> Result<(String, u64)> {
    let mut file = std::fs::File::open(path).map_err(|e| HubError::io(path, e))?;
    let mut hasher = Sha256Hasher::default();
    let mut buffer = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buffer).map_err(|e| HubError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        size += n as u64;
    }
    Ok((hasher.finish_hex(), size))
}

fn json_error(err: serde_json::Error) -> HubError {
    HubError::Signature(format!("cannot encode the manifest: {err}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn new_key() -> SigningKey {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
        SigningKey::from_pkcs8(pkcs8.as_ref()).unwrap()
    }

    fn manifest() -> Manifest {
        Manifest::new(
            "dev.models.tiny@1".into(),
            vec![
                ManifestFile {
                    path: "model.safetensors".into(),
                    sha256: Sha256Hasher::digest_hex(b"weights"),
                    size: 7,
                },
                ManifestFile {
                    path: "config.json".into(),
                    sha256: Sha256Hasher::digest_hex(b"{}"),
                    size: 2,
                },
            ],
            Source::Local {
                path: "/models/tiny".into(),
            },
            "2026-12-02T00:00:00Z".into(),
            Vec::new(),
        )
    }

    #[test]
    fn signed_manifests_round_trip_in_the_model_signing_layout() {
        let key = new_key();
        let manifest = manifest();
        let envelope = key.sign(&manifest).unwrap();
        let payload: Value =
            serde_json::from_slice(&BASE64.decode(&envelope.payload).unwrap()).unwrap();
        assert_eq!(payload["predicateType"], PREDICATE_TYPE);
        assert_eq!(payload["predicate"]["resources"][0]["name"], "config.json");
        assert_eq!(
            payload["subject"][0]["digest"]["sha256"],
            manifest.root_digest().unwrap()
        );
        assert_eq!(key.verifying_key().verify(&envelope).unwrap(), manifest);
        let pem = key.verifying_key().to_pem();
        assert_eq!(VerifyingKey::from_pem(&pem).unwrap(), key.verifying_key());
    }

    #[test]
    fn altered_payloads_and_other_keys_fail() {
        let key = new_key();
        let mut envelope = key.sign(&manifest()).unwrap();
        assert!(new_key().verifying_key().verify(&envelope).is_err());
        let mut statement: Value =
            serde_json::from_slice(&BASE64.decode(&envelope.payload).unwrap()).unwrap();
        statement["predicate"]["resources"][0]["digest"] =
            Value::String(Sha256Hasher::digest_hex(b"other"));
        envelope.payload = BASE64.encode(serde_json::to_vec(&statement).unwrap());
        let err = key.verifying_key().verify(&envelope).unwrap_err();
        assert!(err.to_string().contains("altered"), "{err}");
    }

    #[test]
    fn the_pae_matches_the_dsse_specification() {
        assert_eq!(pae("t", b"ab"), b"DSSEv1 1 t 2 ab".to_vec());
    }
}
