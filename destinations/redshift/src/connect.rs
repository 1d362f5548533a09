//! Opening connections to Redshift: plain, or TLS through rustls (without certificate
//! verification, as libpq's `sslmode=prefer` and `require`).

use crate::config::{RedshiftCredentials, SslMode};
use crate::error::connect_error;
use sluice_core::{Error, Result};
use std::sync::Arc;

/// Open a connection and spawn its driver task. Errors never contain the password.
pub(crate) async fn connect(creds: &RedshiftCredentials) -> Result<tokio_postgres::Client> {
    let config = creds.pg_config();
    let where_ = creds.display_url();
    if creds.sslmode == SslMode::Disable {
        let (client, conn) = config
            .connect(tokio_postgres::NoTls)
            .await
            .map_err(|e| connect_error(&where_, e))?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!("redshift connection closed: {e}");
            }
        });
        return Ok(client);
    }
    let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls_config()?);
    let (client, conn) = config
        .connect(tls)
        .await
        .map_err(|e| connect_error(&where_, e))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!("redshift connection closed: {e}");
        }
    });
    Ok(client)
}

/// A rustls client configuration that encrypts without verifying the server certificate, as
/// libpq does for `sslmode=prefer` and `require`. The crypto provider (ring) is named
/// explicitly, so no process-wide default is needed.
fn tls_config() -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::internal("cannot configure TLS").with_source(e))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider)))
        .with_no_client_auth();
    Ok(config)
}

/// Accepts any server certificate but still checks the handshake signatures.
#[derive(Debug)]
struct EncryptOnly(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
