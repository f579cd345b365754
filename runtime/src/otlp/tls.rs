//! TLS to the collector: the system's root certificates, plus the files of
//! `OTEL_EXPORTER_OTLP_[SIGNAL_]CERTIFICATE`, `_CLIENT_KEY` and
//! `_CLIENT_CERTIFICATE`.
//!
//! semtel builds its rustls configuration with an explicit crypto provider
//! (ring) rather than installing a process-wide default, so applications that
//! choose their own provider are not affected.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::Error;
use crate::config::{OtlpConfig, Signal};

fn fail(signal: Signal, message: String) -> Error {
    Error::Exporter { signal, message }
}

fn read(signal: Signal, path: &std::path::Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| fail(signal, format!("cannot read {}: {e}", path.display())))
}

fn certificates(
    signal: Signal,
    path: &std::path::Path,
) -> Result<Vec<CertificateDer<'static>>, Error> {
    let pem = read(signal, path)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| {
            fail(
                signal,
                format!("{} is not a PEM certificate file: {e}", path.display()),
            )
        })?;
    if certs.is_empty() {
        return Err(fail(
            signal,
            format!("{} holds no PEM certificate", path.display()),
        ));
    }
    Ok(certs)
}

/// The rustls client configuration for HTTP exports.
fn client_config(signal: Signal, otlp: &OtlpConfig) -> Result<rustls::ClientConfig, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    // The system store may hold certificates rustls cannot use; the rest still count.
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(ca) = &otlp.certificate {
        for cert in certificates(signal, ca)? {
            roots
                .add(cert)
                .map_err(|e| fail(signal, format!("{}: {e}", ca.display())))?;
        }
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| fail(signal, e.to_string()))?
        .with_root_certificates(roots);
    let mut config = match (&otlp.client_certificate, &otlp.client_key) {
        (Some(cert), Some(key)) => {
            let chain = certificates(signal, cert)?;
            let key = PrivateKeyDer::from_pem_slice(&read(signal, key)?).map_err(|e| {
                fail(
                    signal,
                    format!("{} is not a PEM private key: {e}", key.display()),
                )
            })?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| fail(signal, format!("client certificate and key: {e}")))?
        }
        _ => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The HTTP client for one signal's OTLP/HTTP exporter.
pub(crate) fn http_client(signal: Signal, otlp: &OtlpConfig) -> Result<reqwest::Client, Error> {
    reqwest::Client::builder()
        .timeout(otlp.timeout)
        .tls_backend_preconfigured(client_config(signal, otlp)?)
        .build()
        .map_err(|e| fail(signal, format!("cannot build the HTTP client: {e}")))
}

/// The gRPC TLS settings for one signal, when its endpoint is `https://` or
/// certificates are configured.
pub(crate) fn grpc_config(
    signal: Signal,
    otlp: &OtlpConfig,
) -> Result<Option<tonic::transport::ClientTlsConfig>, Error> {
    let configured = otlp.certificate.is_some() || otlp.client_certificate.is_some();
    if !configured && !otlp.endpoint.starts_with("https://") {
        return Ok(None);
    }
    let mut tls = tonic::transport::ClientTlsConfig::new().with_native_roots();
    if let Some(ca) = &otlp.certificate {
        tls = tls.ca_certificate(tonic::transport::Certificate::from_pem(read(signal, ca)?));
    }
    if let (Some(cert), Some(key)) = (&otlp.client_certificate, &otlp.client_key) {
        tls = tls.identity(tonic::transport::Identity::from_pem(
            read(signal, cert)?,
            read(signal, key)?,
        ));
    }
    Ok(Some(tls))
}
