//! Opening connections to Postgres: plain, or TLS through rustls (without certificate
//! verification, as libpq's `sslmode=prefer` and `require`).

use crate::error::connect_error;
use sluice_core::{Error, Result};
use std::sync::Arc;

/// Open a connection to a server that speaks the Postgres protocol (`server` names it in
/// messages: `postgres`, `redshift`), with TLS (encrypting, not verifying, as libpq's
/// `sslmode=prefer` and `require`) or without, and spawn its driver task. `where_` is the
/// server's URL without the password, for messages.
pub async fn connect_to(
    server: &'static str,
    config: &tokio_postgres::Config,
    tls: bool,
    where_: &str,
) -> Result<tokio_postgres::Client> {
    let failed = |e| connect_error(server, where_, e);
    let closed = move |e: tokio_postgres::Error| tracing::debug!("{server} connection closed: {e}");
    if !tls {
        let (client, conn) = config
            .connect(tokio_postgres::NoTls)
            .await
            .map_err(failed)?;
        tokio::spawn(async move { conn.await.map_err(closed) });
        return Ok(client);
    }
    let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls_config()?);
    let (client, conn) = config.connect(tls).await.map_err(failed)?;
    tokio::spawn(async move { conn.await.map_err(closed) });
    Ok(client)
}

/// A rustls client configuration that encrypts without verifying the server certificate,
/// as libpq does for `sslmode=prefer` and `require`. The crypto provider is named explicitly
/// (ring), so no process-wide default is needed.
fn tls_config() -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::internal("cannot configure TLS").with_source(e))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
        .with_no_client_auth();
    Ok(config)
}

#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
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
        cert: &rustls::pki_types::CertificateDer<'_>,
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
