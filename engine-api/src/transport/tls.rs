//! TLS client configuration from a `DOCKER_CERT_PATH`-style directory.
//!
//! The CA bundle, client certificate and key are read once, when the client is made. With
//! verification on (`DOCKER_TLS_VERIFY`) the server must chain to `ca.pem`; with `DOCKER_TLS`
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
        let mut roots = RootCertStore::empty();
        for cert in read_certs(&settings.ca_file, "CA certificate")? {
            roots.add(cert).map_err(|e| {
                Error::config(format!(
                    "the CA certificate {} is not usable: {e}",
                    settings.ca_file.display()
                ))
            })?;
        }
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

    #[test]
    fn missing_ca_is_a_config_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let settings = TlsSettings::from_dir(dir.path(), true);
        let err = client_config(&settings).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("ca.pem"), "{msg}");
        assert!(msg.contains("DOCKER_CERT_PATH"), "{msg}");
    }

    #[test]
    fn no_verify_without_files_is_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let settings = TlsSettings::from_dir(dir.path(), false);
        assert!(client_config(&settings).is_ok());
    }
}
