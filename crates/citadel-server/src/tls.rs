//! TLS for the gateway: a rustls configuration from PEM files (TLS 1.2 and 1.3 only, the ring
//! provider's safe cipher suites), and a local CA with a `localhost` certificate for development.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use citadel_hub::loopback::LocalCertificates;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A TLS setup that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error(
        "no TLS certificate at {0}: run `citadel tls init` for a local development certificate, \
         or set tls_cert and tls_key in the server configuration"
    )]
    Missing(PathBuf),
    #[error("cannot read {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("{path} is readable by group or others; run `chmod 600 {path}`")]
    KeyPermissions { path: PathBuf },
    #[error("the certificate and key do not work together: {0}")]
    Config(String),
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
}

/// The server configuration for `cert` and `key` (PEM).
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    if !cert.exists() {
        return Err(TlsError::Missing(cert.to_owned()));
    }
    check_key_permissions(key)?;
    let read_error = |path: &Path| {
        let path = path.to_owned();
        move |e: rustls::pki_types::pem::Error| TlsError::Read {
            path,
            message: e.to_string(),
        }
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(read_error(cert))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(read_error(cert))?;
    if chain.is_empty() {
        return Err(TlsError::Read {
            path: cert.to_owned(),
            message: "no CERTIFICATE block".into(),
        });
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(read_error(key))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
    .map_err(|e| TlsError::Config(e.to_string()))?
    .with_no_client_auth()
    .with_single_cert(chain, key_der)
    .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(unix)]
fn check_key_permissions(key: &Path) -> Result<(), TlsError> {
    use std::os::unix::fs::PermissionsExt;
    let metadata = std::fs::metadata(key).map_err(|e| TlsError::Read {
        path: key.to_owned(),
        message: e.to_string(),
    })?;
    if metadata.permissions().mode() & 0o077 != 0 {
        return Err(TlsError::KeyPermissions {
            path: key.to_owned(),
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_key_permissions(_key: &Path) -> Result<(), TlsError> {
    Ok(())
}

/// Files written by [`write_local_certificates`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalTlsFiles {
    /// The CA to trust in clients (`SSL_CERT_FILE`, `--cacert`, `verify=`).
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Writes a new local CA (`ca.crt`) and a certificate for `names` signed by it (`server.crt`,
/// `server.key` with mode 0600) into `dir`.
pub fn write_local_certificates(dir: &Path, names: &[&str]) -> Result<LocalTlsFiles, TlsError> {
    let certs = LocalCertificates::issue("Citadel local development CA", names)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let files = LocalTlsFiles {
        ca: dir.join("ca.crt"),
        cert: dir.join("server.crt"),
        key: dir.join("server.key"),
    };
    let write = |path: &Path, text: &str, private: bool| -> Result<(), TlsError> {
        let error = |source| TlsError::Write {
            path: path.to_owned(),
            source,
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        if private {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        #[cfg(not(unix))]
        let _ = private;
        let mut file = options.open(path).map_err(error)?;
        io::Write::write_all(&mut file, text.as_bytes()).map_err(error)
    };
    std::fs::create_dir_all(dir).map_err(|source| TlsError::Write {
        path: dir.to_owned(),
        source,
    })?;
    write(&files.ca, &certs.ca_pem, false)?;
    write(&files.cert, &certs.cert_pem, false)?;
    write(&files.key, &certs.key_pem, true)?;
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_certificates_load_and_loose_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let files = write_local_certificates(dir.path(), &["localhost", "127.0.0.1"]).unwrap();
        let config = server_config(&files.cert, &files.key).unwrap();
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&files.key, std::fs::Permissions::from_mode(0o644)).unwrap();
            let err = server_config(&files.cert, &files.key).unwrap_err();
            assert!(matches!(err, TlsError::KeyPermissions { .. }), "{err}");
        }
        let missing = server_config(&dir.path().join("nope.crt"), &files.key).unwrap_err();
        assert!(
            missing.to_string().contains("citadel tls init"),
            "{missing}"
        );
    }
}
