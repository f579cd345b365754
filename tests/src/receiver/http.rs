//! OTLP/HTTP on HTTP/1.1: `POST /v1/{traces,metrics,logs}`, protobuf or JSON, gzip or not.

use std::convert::Infallible;
use std::io::Read as _;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Shared;
use crate::record::{Payload, Transport};

/// Largest body accepted, compressed or not.
const MAX_BODY: usize = 64 << 20;

/// Accepts connections until the runtime is shut down; each connection gets a task.
pub(super) async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Out of file descriptors and the like: report and keep serving.
                eprintln!("otlp receiver: HTTP accept failed: {error}");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let shared = Arc::clone(&shared);
                async move { Ok::<_, Infallible>(handle(&shared, request).await) }
            });
            // A client that hangs up mid-request is not the receiver's problem.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

#[derive(Clone, Copy)]
enum Format {
    Protobuf,
    Json,
}

async fn handle(shared: &Shared, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_owned();
    match handle_inner(shared, request).await {
        Ok(response) => response,
        Err((status, reason)) => {
            shared.reject(path, format!("{status}: {reason}"));
            plain(status, reason)
        }
    }
}

type Failure = (StatusCode, String);

async fn handle_inner(
    shared: &Shared,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Failure> {
    if request.method() != Method::POST {
        return Err((
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{} is not POST", request.method()),
        ));
    }
    let path = request.uri().path().to_owned();
    let format = match media_type(request.headers().get(CONTENT_TYPE)).as_deref() {
        Some("application/x-protobuf" | "application/protobuf") => Format::Protobuf,
        Some("application/json") => Format::Json,
        other => {
            return Err((
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("unsupported content type {other:?}"),
            ));
        }
    };
    let gzip = match request
        .headers()
        .get(CONTENT_ENCODING)
        .map(HeaderValue::to_str)
    {
        None => false,
        Some(Ok(e)) if e.eq_ignore_ascii_case("gzip") => true,
        Some(Ok(e)) if e.eq_ignore_ascii_case("identity") => false,
        Some(other) => {
            return Err((
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("unsupported content encoding {other:?}"),
            ));
        }
    };
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();

    let body = Limited::new(request.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| (StatusCode::BAD_REQUEST, format!("reading body: {e}")))?
        .to_bytes();
    let body = if gzip { gunzip(&body)? } else { body.to_vec() };
    shared.swallowed().await;
    if shared.too_large(body.len()) {
        return Err((
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("{} bytes is over the receiver's limit", body.len()),
        ));
    }
    if let Some(refusal) = shared.refusal() {
        let status =
            StatusCode::from_u16(refusal.http_status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        shared.reject(path, format!("{status}: refused on purpose"));
        let mut answer = plain(status, "refused on purpose".to_owned());
        if let Some(after) = refusal.retry_after_header()
            && let Ok(value) = HeaderValue::from_str(&after)
        {
            answer.headers_mut().insert(RETRY_AFTER, value);
        }
        return Ok(answer);
    }
    let partial = shared.partial();
    let (rejected, message) = partial.unwrap_or_default();

    let transport = match format {
        Format::Protobuf => Transport::HttpProtobuf,
        Format::Json => Transport::HttpJson,
    };
    let answer = match path.as_str() {
        "/v1/traces" => {
            let payload = decode::<ExportTraceServiceRequest>(format, &body)?;
            shared.record(transport, gzip, headers, Payload::Traces(payload));
            encode(
                format,
                &ExportTraceServiceResponse {
                    partial_success: (rejected > 0).then_some(ExportTracePartialSuccess {
                        rejected_spans: rejected,
                        error_message: message,
                    }),
                },
            )
        }
        "/v1/metrics" => {
            let payload = decode::<ExportMetricsServiceRequest>(format, &body)?;
            shared.record(transport, gzip, headers, Payload::Metrics(payload));
            encode(
                format,
                &ExportMetricsServiceResponse {
                    partial_success: (rejected > 0).then_some(ExportMetricsPartialSuccess {
                        rejected_data_points: rejected,
                        error_message: message,
                    }),
                },
            )
        }
        "/v1/logs" => {
            let payload = decode::<ExportLogsServiceRequest>(format, &body)?;
            shared.record(transport, gzip, headers, Payload::Logs(payload));
            encode(
                format,
                &ExportLogsServiceResponse {
                    partial_success: (rejected > 0).then_some(ExportLogsPartialSuccess {
                        rejected_log_records: rejected,
                        error_message: message,
                    }),
                },
            )
        }
        _ => return Err((StatusCode::NOT_FOUND, format!("no OTLP signal at {path}"))),
    };
    shared.released().await;
    Ok(answer)
}

/// The media type of a `Content-Type`, lower case, without parameters.
fn media_type(value: Option<&HeaderValue>) -> Option<String> {
    let value = value?.to_str().ok()?;
    let media = value.split(';').next()?.trim();
    Some(media.to_ascii_lowercase())
}

fn gunzip(body: &[u8]) -> Result<Vec<u8>, Failure> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(body)
        .take(MAX_BODY as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| (StatusCode::BAD_REQUEST, format!("gunzip: {e}")))?;
    if out.len() > MAX_BODY {
        return Err((
            StatusCode::PAYLOAD_TOO_LARGE,
            "body too large once decompressed".to_owned(),
        ));
    }
    Ok(out)
}

fn decode<T: Message + Default + DeserializeOwned>(
    format: Format,
    body: &[u8],
) -> Result<T, Failure> {
    match format {
        Format::Protobuf => {
            T::decode(body).map_err(|e| (StatusCode::BAD_REQUEST, format!("protobuf decode: {e}")))
        }
        Format::Json => serde_json::from_slice(body)
            .map_err(|e| (StatusCode::BAD_REQUEST, format!("OTLP/JSON decode: {e}"))),
    }
}

fn encode<T: Message + Serialize>(format: Format, response: &T) -> Response<Full<Bytes>> {
    let (content_type, body) = match format {
        Format::Protobuf => ("application/x-protobuf", response.encode_to_vec()),
        Format::Json => (
            "application/json",
            // Serializing a generated response struct cannot fail.
            serde_json::to_vec(response).unwrap_or_else(|_| b"{}".to_vec()),
        ),
    };
    let mut answer = Response::new(Full::new(Bytes::from(body)));
    answer
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    answer
}

fn plain(status: StatusCode, text: String) -> Response<Full<Bytes>> {
    let mut answer = Response::new(Full::new(Bytes::from(text)));
    *answer.status_mut() = status;
    answer
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    answer
}
