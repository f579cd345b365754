//! opentelemetry-otlp's exporters, built from an [`OtlpConfig`]: logs and
//! metrics, and traces where semtel has no export runtime of its own
//! (semtel encodes and sends traces itself, [`super::encode`],
//! [`super::send`]).

use std::collections::HashMap;

use opentelemetry_otlp::{WithExportConfig, WithHttpConfig, WithTonicConfig};

use crate::Error;
use crate::config::{Compression, OtlpConfig, Protocol, Signal};

pub(crate) fn destination(otlp: &OtlpConfig) -> String {
    format!("otlp {} {}", otlp.protocol.as_str(), otlp.endpoint)
}

#[cfg(not(feature = "tls"))]
pub(crate) fn no_tls(signal: Signal, otlp: &OtlpConfig) -> Result<(), Error> {
    if otlp.certificate.is_some()
        || otlp.client_key.is_some()
        || otlp.endpoint.starts_with("https://")
    {
        return Err(Error::Exporter {
            signal,
            message: "https endpoints and certificate settings need semtel's `tls` feature".into(),
        });
    }
    Ok(())
}

pub(crate) fn header_map(signal: Signal, otlp: &OtlpConfig) -> Result<http::HeaderMap, Error> {
    let mut map = http::HeaderMap::new();
    for (k, v) in &otlp.headers {
        let name = http::HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes());
        let value = http::HeaderValue::from_str(v);
        match (name, value) {
            (Ok(name), Ok(mut value)) => {
                // Never shown by a `Debug` of the map, nor indexed by HPACK.
                value.set_sensitive(true);
                map.insert(name, value);
            }
            _ => {
                return Err(Error::Exporter {
                    signal,
                    message: format!(
                        "header `{k}` from OTEL_EXPORTER_OTLP_HEADERS is not a valid HTTP header"
                    ),
                });
            }
        }
    }
    Ok(map)
}

/// Builds an OTLP exporter of one signal from `OtlpConfig`; the three
/// signals' builders share this shape but not a trait.
macro_rules! otlp_exporter {
    ($signal:expr, $builder:expr, $otlp:expr) => {{
        let otlp: &OtlpConfig = $otlp;
        #[cfg(not(feature = "tls"))]
        no_tls($signal, otlp)?;
        let headers = header_map($signal, otlp)?;
        let built = match otlp.protocol {
            Protocol::Grpc => {
                let mut b = $builder
                    .with_tonic()
                    .with_endpoint(otlp.endpoint.clone())
                    .with_timeout(otlp.timeout)
                    .with_metadata(tonic::metadata::MetadataMap::from_headers(headers));
                if otlp.compression == Compression::Gzip {
                    b = b.with_compression(opentelemetry_otlp::Compression::Gzip);
                }
                #[cfg(feature = "tls")]
                if let Some(tls) = super::tls::grpc_config($signal, otlp)? {
                    b = b.with_tls_config(tls);
                }
                b.build()
            }
            Protocol::HttpProtobuf | Protocol::HttpJson => {
                let protocol = if otlp.protocol == Protocol::HttpJson {
                    opentelemetry_otlp::Protocol::HttpJson
                } else {
                    opentelemetry_otlp::Protocol::HttpBinary
                };
                let headers: HashMap<String, String> = otlp.headers.iter().cloned().collect();
                let mut b = $builder
                    .with_http()
                    .with_endpoint(otlp.endpoint.clone())
                    .with_protocol(protocol)
                    .with_timeout(otlp.timeout)
                    .with_headers(headers);
                if otlp.compression == Compression::Gzip {
                    b = b.with_compression(opentelemetry_otlp::Compression::Gzip);
                }
                #[cfg(feature = "tls")]
                {
                    b = b.with_http_client(super::tls::http_client($signal, otlp)?);
                }
                b.build()
            }
        };
        built.map_err(|e| Error::Exporter {
            signal: $signal,
            message: e.to_string(),
        })
    }};
}

pub(crate) fn otlp_spans(otlp: &OtlpConfig) -> Result<opentelemetry_otlp::SpanExporter, Error> {
    otlp_exporter!(
        Signal::Traces,
        opentelemetry_otlp::SpanExporter::builder(),
        otlp
    )
}

/// opentelemetry-otlp's log exporter. It reads a partial success
/// (`rejected_log_records`) but only warns through its internal logs
/// (`otel_warn!`, with its `internal-logs` feature, which semtel does not
/// enable) and returns `Ok`, so
/// semtel's log queue cannot count those records as lost. Counting them
/// takes sending logs on semtel's transport, as spans and metrics are
/// (`answer::partial_success` already reads a logs answer).
pub(crate) fn otlp_logs(otlp: &OtlpConfig) -> Result<opentelemetry_otlp::LogExporter, Error> {
    otlp_exporter!(
        Signal::Logs,
        opentelemetry_otlp::LogExporter::builder(),
        otlp
    )
}
