//! A counting OTLP trace receiver on loopback for the export bench (issue
//! benchmark 2): OTLP/HTTP protobuf (`POST /v1/traces`) and OTLP/gRPC
//! (`TraceService/Export`), each on an ephemeral port of 127.0.0.1.
//!
//! A span has *arrived* when the request carrying it has been decoded whole
//! into `opentelemetry-proto`'s `ExportTraceServiceRequest` (prost) and
//! counted, before the request is answered: an exporter that sees its request
//! succeed is never ahead of the count. Requests that cannot be decoded are
//! answered with an error and counted as rejected.
//!
//! The receiver runs in the bench process, so its CPU is part of the
//! process's CPU; it measures its own share: the HTTP connection threads per
//! request (as [`crate::sink`] does), the gRPC server's one tokio worker
//! between each wake-up and the next park (the time the worker spends inside
//! `epoll_wait` to collect I/O events is not counted; it is small next to
//! HTTP/2 framing and decoding).

use std::cell::Cell;
use std::io::{self, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cpu_time::ThreadTime;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message as _;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

use crate::sink::{OK_EMPTY, RequestHead, Respond, serve_http};

/// Largest gRPC message accepted (tonic's default is 4 MiB).
const MAX_MESSAGE: usize = 64 << 20;

/// Totals since the receiver started. Take a [`Counts`] before and after a
/// run and subtract.
#[derive(Debug)]
pub struct ReceiverStats {
    spans: AtomicU64,
    requests: AtomicU64,
    bytes: AtomicU64,
    attributes: AtomicU64,
    rejected: AtomicU64,
    cpu_ns: AtomicU64,
    /// When the last span arrived, in nanoseconds since `epoch`.
    last_arrival_ns: AtomicU64,
    epoch: Instant,
}

/// A snapshot of [`ReceiverStats`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Spans decoded.
    pub spans: u64,
    /// Requests decoded.
    pub requests: u64,
    /// Encoded size of the decoded requests (protobuf, before HTTP or gRPC framing).
    pub bytes: u64,
    /// Span attributes decoded (not counting resource or scope attributes).
    pub attributes: u64,
    /// Requests answered with an error: wrong path, no length, undecodable.
    pub rejected: u64,
    /// CPU time of the receiver's threads, in nanoseconds.
    pub cpu_ns: u64,
}

impl Counts {
    /// What happened between `before` and `self`.
    #[must_use]
    pub fn since(self, before: Counts) -> Counts {
        Counts {
            spans: self.spans - before.spans,
            requests: self.requests - before.requests,
            bytes: self.bytes - before.bytes,
            attributes: self.attributes - before.attributes,
            rejected: self.rejected - before.rejected,
            cpu_ns: self.cpu_ns - before.cpu_ns,
        }
    }
}

impl ReceiverStats {
    fn new() -> Self {
        Self {
            spans: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            attributes: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            cpu_ns: AtomicU64::new(0),
            last_arrival_ns: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    /// The totals so far.
    pub fn counts(&self) -> Counts {
        Counts {
            spans: self.spans.load(Ordering::Acquire),
            requests: self.requests.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            attributes: self.attributes.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            cpu_ns: self.cpu_ns.load(Ordering::Relaxed),
        }
    }

    /// When the last span arrived, if any has.
    pub fn last_arrival(&self) -> Option<Instant> {
        match self.last_arrival_ns.load(Ordering::Acquire) {
            0 => None,
            ns => Some(self.epoch + Duration::from_nanos(ns)),
        }
    }

    /// Counts one decoded request of `bytes` encoded bytes.
    fn count(&self, request: &ExportTraceServiceRequest, bytes: usize) {
        let (spans, attributes) = request
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .fold((0u64, 0u64), |(n, a), span| {
                (n + 1, a + span.attributes.len() as u64)
            });
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        self.attributes.fetch_add(attributes, Ordering::Relaxed);
        if spans > 0 {
            let now = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
            // Never 0, which means "nothing yet".
            self.last_arrival_ns.fetch_max(now.max(1), Ordering::AcqRel);
        }
        self.spans.fetch_add(spans, Ordering::Release);
    }

    fn reject(&self) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }
}

/// A running receiver. Its gRPC runtime stops when it is dropped; its HTTP
/// threads end with their connections (the accept thread with the process).
#[derive(Debug)]
pub struct Receiver {
    http: SocketAddr,
    grpc: SocketAddr,
    stats: Arc<ReceiverStats>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Receiver {
    /// Starts both servers on ephemeral loopback ports.
    ///
    /// # Errors
    ///
    /// When a port cannot be bound or a thread cannot start.
    pub fn start() -> io::Result<Self> {
        let stats = Arc::new(ReceiverStats::new());

        let http_listener = TcpListener::bind(("127.0.0.1", 0))?;
        let http = http_listener.local_addr()?;
        serve_http(http_listener, "otlp-receiver-http", Arc::clone(&stats))?;

        let grpc_listener = TcpListener::bind(("127.0.0.1", 0))?;
        let grpc = grpc_listener.local_addr()?;
        grpc_listener.set_nonblocking(true)?;
        let runtime = grpc_runtime(&stats)?;
        let incoming = {
            let _entered = runtime.enter();
            TcpIncoming::from(tokio::net::TcpListener::from_std(grpc_listener)?)
                .with_nodelay(Some(true))
        };
        let service = TraceServiceServer::new(Traces(Arc::clone(&stats)))
            .max_decoding_message_size(MAX_MESSAGE);
        runtime.spawn(async move {
            let served = tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(incoming)
                .await;
            if let Err(error) = served {
                eprintln!("otlp receiver: gRPC server ended: {error}");
            }
        });

        Ok(Self {
            http,
            grpc,
            stats,
            runtime: Some(runtime),
        })
    }

    /// The full OTLP/HTTP traces URL, e.g. `http://127.0.0.1:40123/v1/traces`.
    pub fn http_traces_url(&self) -> String {
        format!("{}/v1/traces", self.http_base_url())
    }

    /// The OTLP/HTTP base URL (an exporter appends `/v1/traces`).
    pub fn http_base_url(&self) -> String {
        format!("http://{}", self.http)
    }

    /// The OTLP/gRPC endpoint, e.g. `http://127.0.0.1:40124`.
    pub fn grpc_url(&self) -> String {
        format!("http://{}", self.grpc)
    }

    /// What both servers have received so far.
    pub fn stats(&self) -> &ReceiverStats {
        &self.stats
    }

    /// Waits until at least `spans` spans have arrived in total, or until
    /// `deadline`; returns the total then.
    pub fn wait_for_spans(&self, spans: u64, deadline: Instant) -> u64 {
        loop {
            let now = self.stats.spans.load(Ordering::Acquire);
            if now >= spans || Instant::now() >= deadline {
                return now;
            }
            // Polling, not timing: the arrival time is taken by the receiver.
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

thread_local! {
    /// When this gRPC worker last woke up.
    static AWAKE_SINCE: Cell<Option<ThreadTime>> = const { Cell::new(None) };
}

/// One worker thread (semtel's export runtime has one, and the machine has
/// two cores), whose CPU time between waking and parking is added to `stats`.
fn grpc_runtime(stats: &Arc<ReceiverStats>) -> io::Result<tokio::runtime::Runtime> {
    fn woke() {
        AWAKE_SINCE.with(|t| t.set(Some(ThreadTime::now())));
    }
    let parked = Arc::clone(stats);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("otlp-receiver-grpc")
        .enable_all()
        .on_thread_start(woke)
        .on_thread_unpark(woke)
        .on_thread_park(move || {
            if let Some(since) = AWAKE_SINCE.with(Cell::take) {
                let ns = u64::try_from(since.elapsed().as_nanos()).unwrap_or(u64::MAX);
                parked.cpu_ns.fetch_add(ns, Ordering::Relaxed);
            }
        })
        .build()
}

#[derive(Debug, Clone)]
struct Traces(Arc<ReceiverStats>);

#[tonic::async_trait]
impl TraceService for Traces {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let request = request.into_inner();
        self.0.count(&request, request.encoded_len());
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

impl Respond for ReceiverStats {
    fn respond(&self, head: &RequestHead, body: &[u8], writer: &mut TcpStream) -> io::Result<()> {
        let mut parts = head.request_line.split_ascii_whitespace();
        let (method, path) = (parts.next(), parts.next());
        if method != Some("POST") || path != Some("/v1/traces") {
            self.reject();
            return writer.write_all(
                b"HTTP/1.1 404 Not Found\r\ncontent-type: text/plain\r\ncontent-length: 0\r\n\r\n",
            );
        }
        if !head.has_length {
            // The body (chunked) is still on the wire: answer, then hang up.
            self.reject();
            writer.write_all(
                b"HTTP/1.1 411 Length Required\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
            )?;
            return Err(io::ErrorKind::InvalidData.into());
        }
        match ExportTraceServiceRequest::decode(body) {
            Ok(request) => {
                self.count(&request, body.len());
                writer.write_all(OK_EMPTY)
            }
            Err(_) => {
                self.reject();
                writer.write_all(
                    b"HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\ncontent-length: 0\r\n\r\n",
                )
            }
        }
    }

    fn add_cpu_ns(&self, ns: u64) {
        self.cpu_ns.fetch_add(ns, Ordering::Relaxed);
    }
}
