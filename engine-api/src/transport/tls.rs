//! TLS client configuration from a `DOCKER_CERT_PATH`-style directory.
//!
//! The CA bundle, client certificate and key are read once, when the client is made. With
//! verification on (`DOCKER_TLS_VERIFY`, or a context without `SkipTLSVerify`) the server must
//! chain to `ca.pem`, or, when there is no `ca.pem`, to a CA in the system's trust store (as the
//! docker CLI does: a daemon behind a publicly trusted certificate needs no CA file; the store is
//! found as OpenSSL finds it, `SSL_CERT_FILE` and `SSL_CERT_DIR` included). Verification is
//! never dropped for want of a CA: an empty or unreadable store is an error. With `DOCKER_TLS`
//! alone the server's certificate is accepted as is, as the docker CLI does. The client
//! certificate is presented whenever `cert.pem` and `key.pem` exist.

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

use crate::endpoint::TlsSettings;
use crate::error::{Error, Result};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read_certs(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(|e| {
            Error::config(format!(
                "cannot read the {what} {}: {e} (set DOCKER_CERT_PATH to the directory holding ca.pem, cert.pem and key.pem)",
                path.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(Error::config(format!(
            "the {what} {} holds no PEM certificate",
            path.display()
        )));
    }
    Ok(certs)
}

/// Builds the rustls configuration for `settings`.
pub(crate) fn client_config(settings: &TlsSettings) -> Result<ClientConfig> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::config(format!("TLS setup failed: {e}")))?;

    let builder = if settings.verify {
        let roots = if settings.uses_system_roots() {
            system_roots(settings, rustls_native_certs::load_native_certs)?
        } else {
            let mut roots = RootCertStore::empty();
            for cert in read_certs(&settings.ca_file, "CA certificate")? {
                roots.add(cert).map_err(|e| {
                    Error::config(format!(
                        "the CA certificate {} is not usable: {e}",
                        settings.ca_file.display()
                    ))
                })?;
            }
            roots
        };
        builder.with_root_certificates(roots)
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyServer(provider())))
    };

    let has_client_cert = settings.cert_file.exists() || settings.key_file.exists();
    let config = if has_client_cert {
        let certs = read_certs(&settings.cert_file, "client certificate")?;
        let key = PrivateKeyDer::from_pem_file(&settings.key_file).map_err(|e| {
            Error::config(format!(
                "cannot read the client key {}: {e}",
                settings.key_file.display()
            ))
        })?;
        builder.with_client_auth_cert(certs, key).map_err(|e| {
            Error::config(format!(
                "the client certificate {} and key {} do not form a usable pair: {e}",
                settings.cert_file.display(),
                settings.key_file.display()
            ))
        })?
    } else {
        builder.with_no_client_auth()
    };
    Ok(config)
}

/// The system's trust store, for verifying without a `ca.pem` (`load` is
/// `rustls_native_certs::load_native_certs`, or a stand-in in tests). Certificates the store
/// holds but rustls cannot use are skipped, as OpenSSL skips them; a store with none usable is
/// an error naming the missing `ca.pem`, never an unverified connection.
fn system_roots(
    settings: &TlsSettings,
    load: impl FnOnce() -> rustls_native_certs::CertificateResult,
) -> Result<RootCertStore> {
    let found = load();
    let mut roots = RootCertStore::empty();
    let (_, _unusable) = roots.add_parsable_certificates(found.certs);
    if roots.is_empty() {
        let why = match found.errors.first() {
            Some(e) => format!("it could not be read: {e}"),
            None => "it holds no certificate".to_string(),
        };
        return Err(Error::config(format!(
            "TLS verification is on but {} does not exist, and the system trust store cannot stand in for it ({why}); set DOCKER_CERT_PATH to the directory holding ca.pem, cert.pem and key.pem, or SSL_CERT_FILE to a CA bundle",
            settings.ca_file.display()
        )));
    }
    Ok(roots)
}

/// `DOCKER_TLS` without `DOCKER_TLS_VERIFY`: encrypt, but accept any server certificate. This
/// is only ever used when the user asked for it; `DOCKER_TLS_VERIFY` always verifies.
#[derive(Debug)]
struct AcceptAnyServer(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed CA made for these tests (`openssl req -x509`, P-256, no key kept).
    fn generated_ca() -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(include_bytes!("testdata/ca.pem")).unwrap()
    }

    #[test]
    fn a_present_but_unreadable_ca_is_a_config_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), "not a certificate").unwrap();
        let settings = TlsSettings::from_dir(dir.path(), true);
        assert!(!settings.uses_system_roots());
        let msg = client_config(&settings).unwrap_err().to_string();
        assert!(msg.contains("ca.pem"), "{msg}");
        assert!(msg.contains("no PEM certificate"), "{msg}");
    }

    #[test]
    fn without_ca_pem_verification_uses_the_system_store() {
        let dir = tempfile::tempdir().unwrap();
        let settings = TlsSettings::from_dir(dir.path(), true);
        assert!(settings.uses_system_roots());
        // A store with one certificate rustls accepts as a trust anchor.
        let ca = generated_ca();
        let roots = system_roots(&settings, || {
            let mut r = rustls_native_certs::CertificateResult::default();
            r.certs.push(ca.clone());
            r
        })
        .unwrap();
        assert_eq!(roots.len(), 1);
    }

    #[test]
    fn an_empty_or_unreadable_system_store_is_an_error_not_a_downgrade() {
        let dir = tempfile::tempdir().unwrap();
        let settings = TlsSettings::from_dir(dir.path(), true);
        let msg = system_roots(&settings, rustls_native_certs::CertificateResult::default)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("ca.pem does not exist"), "{msg}");
        assert!(msg.contains("holds no certificate"), "{msg}");
        assert!(msg.contains("DOCKER_CERT_PATH"), "{msg}");
        // Certificates rustls cannot parse count as none.
        let msg = system_roots(&settings, || {
            let mut r = rustls_native_certs::CertificateResult::default();
            r.certs.push(CertificateDer::from(b"junk".to_vec()));
            r
        })
        .unwrap_err()
        .to_string();
        assert!(msg.contains("holds no certificate"), "{msg}");
    }

    #[test]
    fn no_verify_without_files_is_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let settings = TlsSettings::from_dir(dir.path(), false);
        assert!(client_config(&settings).is_ok());
    }
}
