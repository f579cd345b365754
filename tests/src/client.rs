//! Small OTLP clients for tests that hand-build requests: a blocking HTTP/1.1
//! POST over `TcpStream`, and gRPC exports through the generated tonic clients.

use std::io::{self, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use tonic::codec::CompressionEncoding;
use tonic::metadata::{MetadataKey, MetadataValue};

/// How long a client call may take before it is given up.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// An HTTP response: status, headers (names lower case) and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// Body bytes (the receiver sends `Content-Length` bodies, never chunked).
    pub body: Vec<u8>,
}

/// Sends one HTTP/1.1 `POST` to `addr` with `Connection: close` and reads the
/// whole answer; `headers` are sent as given (e.g. `("content-type", "application/json")`).
///
/// # Errors
/// On connect, write or read failure (connection refused when nothing listens),
/// a timeout after [`CLIENT_TIMEOUT`], or an answer that is not HTTP.
pub fn http_post(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<HttpResponse> {
    let mut stream = TcpStream::connect_timeout(&addr, CLIENT_TIMEOUT)?;
    stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    stream.set_write_timeout(Some(CLIENT_TIMEOUT))?;
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(name);
        head.push_str(": ");
        head.push_str(value);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse_response(&raw)
}

/// Sends one HTTP/1.0 `GET` to `addr` (so the answer is never chunked) and
/// reads the whole answer; `path` includes the query string.
///
/// # Errors
/// As [`http_post`].
pub fn http_get(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> io::Result<HttpResponse> {
    let mut stream = TcpStream::connect_timeout(&addr, CLIENT_TIMEOUT)?;
    stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    stream.set_write_timeout(Some(CLIENT_TIMEOUT))?;
    let mut head = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.flush()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> io::Result<HttpResponse> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of HTTP head"))?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| bad("HTTP head is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no HTTP status line"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Ok(HttpResponse {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    })
}

/// Gzip-compresses `data`, for `Content-Encoding: gzip` requests.
#[must_use]
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing into a Vec cannot fail.
    encoder.write_all(data).expect("gzip into memory");
    encoder.finish().expect("gzip into memory")
}

/// Options for the gRPC export helpers.
#[derive(Debug, Clone, Default)]
pub struct GrpcOptions {
    /// Send gzip-compressed.
    pub gzip: bool,
    /// Metadata entries to send (ASCII keys and values).
    pub metadata: Vec<(String, String)>,
}

/// A gRPC failure or a failure to connect, as text.
pub type GrpcError = String;

fn runtime() -> Result<tokio::runtime::Runtime, GrpcError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))
}

fn request<T>(message: T, options: &GrpcOptions) -> Result<tonic::Request<T>, GrpcError> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(CLIENT_TIMEOUT);
    for (key, value) in &options.metadata {
        let key = MetadataKey::from_bytes(key.as_bytes()).map_err(|e| format!("{key}: {e}"))?;
        let value = MetadataValue::try_from(value.as_str()).map_err(|e| format!("{value}: {e}"))?;
        request.metadata_mut().insert(key, value);
    }
    Ok(request)
}

async fn channel(endpoint: &str) -> Result<tonic::transport::Channel, GrpcError> {
    tonic::transport::Endpoint::from_shared(endpoint.to_owned())
        .map_err(|e| format!("endpoint {endpoint}: {e}"))?
        .connect_timeout(CLIENT_TIMEOUT)
        .timeout(CLIENT_TIMEOUT)
        .connect()
        .await
        .map_err(|e| format!("connect {endpoint}: {e}"))
}

/// Sends `traces` to the OTLP/gRPC `endpoint` (`http://127.0.0.1:PORT`), blocking.
///
/// # Errors
/// If the connection fails or the server answers with a gRPC error.
pub fn export_traces_grpc(
    endpoint: &str,
    traces: ExportTraceServiceRequest,
    options: &GrpcOptions,
) -> Result<(), GrpcError> {
    runtime()?.block_on(async {
        let mut client = TraceServiceClient::new(channel(endpoint).await?);
        if options.gzip {
            client = client.send_compressed(CompressionEncoding::Gzip);
        }
        client
            .export(request(traces, options)?)
            .await
            .map(drop)
            .map_err(|status| format!("export: {status}"))
    })
}

/// Sends `metrics` to the OTLP/gRPC `endpoint`, blocking.
///
/// # Errors
/// If the connection fails or the server answers with a gRPC error.
pub fn export_metrics_grpc(
    endpoint: &str,
    metrics: ExportMetricsServiceRequest,
    options: &GrpcOptions,
) -> Result<(), GrpcError> {
    runtime()?.block_on(async {
        let mut client = MetricsServiceClient::new(channel(endpoint).await?);
        if options.gzip {
            client = client.send_compressed(CompressionEncoding::Gzip);
        }
        client
            .export(request(metrics, options)?)
            .await
            .map(drop)
            .map_err(|status| format!("export: {status}"))
    })
}

/// Sends `logs` to the OTLP/gRPC `endpoint`, blocking.
///
/// # Errors
/// If the connection fails or the server answers with a gRPC error.
pub fn export_logs_grpc(
    endpoint: &str,
    logs: ExportLogsServiceRequest,
    options: &GrpcOptions,
) -> Result<(), GrpcError> {
    runtime()?.block_on(async {
        let mut client = LogsServiceClient::new(channel(endpoint).await?);
        if options.gzip {
            client = client.send_compressed(CompressionEncoding::Gzip);
        }
        client
            .export(request(logs, options)?)
            .await
            .map(drop)
            .map_err(|status| format!("export: {status}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_response() {
        let raw =
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\ncontent-length: 2\r\n\r\n{}";
        let response = parse_response(raw).unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(
            response.headers[0],
            ("content-type".to_owned(), "application/json".to_owned())
        );
        assert_eq!(response.body, b"{}");
    }
}
