//! TLS to the collector: `https://` endpoints with the CA from
//! `OTEL_EXPORTER_OTLP_[SIGNAL_]CERTIFICATE`, and mutual TLS with
//! `_CLIENT_CERTIFICATE` and `_CLIENT_KEY`, over gRPC and HTTP.
//!
//! A TLS-terminating proxy on loopback (rustls, certificates made here by
//! rcgen) forwards the decrypted bytes to the in-process receiver.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use semtel::Signal;
use semtel_tests::Receiver;

const WAIT: Duration = Duration::from_secs(20);

/// A CA, a server certificate for localhost and a client certificate, as PEM files.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("semtel-tls-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf = |names: Vec<String>, stem: &str| {
            let key = KeyPair::generate().unwrap();
            let cert = CertificateParams::new(names)
                .unwrap()
                .signed_by(&key, &issuer)
                .unwrap();
            std::fs::write(dir.join(format!("{stem}.pem")), cert.pem()).unwrap();
            std::fs::write(dir.join(format!("{stem}.key")), key.serialize_pem()).unwrap();
        };
        leaf(vec!["localhost".into(), "127.0.0.1".into()], "server");
        leaf(vec!["pipeline-client".into()], "client");
        std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
        Self { dir }
    }

    fn path(&self, file: &str) -> String {
        self.dir.join(file).to_str().unwrap().to_owned()
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn certs(path: &Path) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(path)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Terminates TLS on an ephemeral loopback port and forwards to `backend`.
/// With `require_client_cert`, only clients with a certificate signed by the
/// CA get through.
struct TlsProxy {
    addr: SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
}

impl TlsProxy {
    fn start(pki: &Pki, backend: SocketAddr, require_client_cert: bool) -> Self {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = if require_client_cert {
            let mut roots = rustls::RootCertStore::empty();
            for c in certs(&pki.dir.join("ca.pem")) {
                roots.add(c).unwrap();
            }
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    .build()
                    .unwrap();
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let key = PrivateKeyDer::from_pem_file(pki.dir.join("server.key")).unwrap();
        let mut config = builder
            .with_single_cert(certs(&pki.dir.join("server.pem")), key)
            .unwrap();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        runtime.spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return; // handshake refused, e.g. no client certificate
                    };
                    if let Ok(mut upstream) = tokio::net::TcpStream::connect(backend).await {
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut upstream).await;
                    }
                });
            }
        });
        Self {
            addr,
            runtime: Some(runtime),
        }
    }

    fn url(&self) -> String {
        format!("https://localhost:{}", self.addr.port())
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

fn run(vars: Vec<(&str, String)>) -> semtel::ShutdownReport {
    let vars: HashMap<String, String> = vars.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    let t = semtel::builder()
        .env(move |k| vars.get(k).cloned())
        .exporters(Signal::Metrics, &[])
        .shutdown_timeout(Duration::from_secs(10))
        .build()
        .expect("valid configuration");
    tracing::dispatcher::with_default(t.dispatch(), || {
        tracing::info_span!("secure stage").in_scope(|| tracing::info!("over tls"));
    });
    t.shutdown()
}

#[test]
fn grpc_over_tls_trusts_the_configured_ca() {
    let pki = Pki::new("grpc");
    let rx = Receiver::start();
    let proxy = TlsProxy::start(&pki, rx.grpc_addr(), false);
    let report = run(vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", proxy.url()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".into()),
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", pki.path("ca.pem")),
    ]);
    assert_eq!(report.lost(), 0, "{report}");
    let s = rx.expect(WAIT, "span and log over TLS", |s| {
        s.span("secure stage").is_some() && !s.logs().is_empty()
    });
    assert_eq!(s.logs()[0].body_text(), "over tls");
}

#[test]
fn http_with_mutual_tls_per_signal_files() {
    let pki = Pki::new("mtls");
    let rx = Receiver::start();
    let proxy = TlsProxy::start(&pki, rx.http_addr(), true);
    let report = run(vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", proxy.url()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf".into()),
        ("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", pki.path("ca.pem")),
        (
            "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
            pki.path("client.pem"),
        ),
        (
            "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
            pki.path("client.key"),
        ),
        ("OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE", pki.path("ca.pem")),
        (
            "OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE",
            pki.path("client.pem"),
        ),
        ("OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY", pki.path("client.key")),
    ]);
    assert_eq!(report.lost(), 0, "{report}");
    rx.expect(WAIT, "span and log over mutual TLS", |s| {
        s.span("secure stage").is_some() && !s.logs().is_empty()
    });
}

#[test]
fn a_collector_demanding_a_client_certificate_rejects_exports_without_one() {
    let pki = Pki::new("refused");
    let rx = Receiver::start();
    let proxy = TlsProxy::start(&pki, rx.grpc_addr(), true);
    let report = run(vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", proxy.url()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".into()),
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", pki.path("ca.pem")),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "2000".into()),
    ]);
    let traces: u64 = report.signal(Signal::Traces).map(|s| s.failed).sum();
    assert_eq!(traces, 1, "the span is counted as lost: {report}");
    assert!(rx.snapshot().spans().is_empty());
}

#[test]
fn an_unknown_certificate_authority_is_not_trusted() {
    let pki = Pki::new("untrusted");
    let rx = Receiver::start();
    let proxy = TlsProxy::start(&pki, rx.http_addr(), false);
    // No OTEL_EXPORTER_OTLP_CERTIFICATE: the test CA is not in the system store.
    let report = run(vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", proxy.url()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf".into()),
    ]);
    let traces = report.signal(Signal::Traces).next().unwrap();
    assert_eq!(traces.failed, 1, "{report}");
    assert!(rx.snapshot().spans().is_empty());
}

#[test]
fn a_certificate_file_that_is_not_pem_is_a_typed_error() {
    let pki = Pki::new("garbage");
    std::fs::write(pki.dir.join("garbage.pem"), "not a certificate").unwrap();
    let garbage = pki.path("garbage.pem");
    let err = semtel::builder()
        .env(move |k| match k {
            "OTEL_EXPORTER_OTLP_ENDPOINT" => Some("https://localhost:4318".into()),
            "OTEL_EXPORTER_OTLP_CERTIFICATE" => Some(garbage.clone()),
            _ => None,
        })
        .build()
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("garbage.pem"), "{text}");
    assert!(matches!(err, semtel::Error::Exporter { .. }), "{err:?}");
}
