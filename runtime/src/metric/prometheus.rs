//! The Prometheus pull exporter (`OTEL_METRICS_EXPORTER=prometheus`): a
//! reader of the meter provider that collects on each scrape, and a small
//! HTTP/1.1 server on its own thread that answers `GET /metrics`.
//!
//! A std `TcpListener` thread rather than hyper: one scraper, a request
//! every few seconds, answered in order, needs no async runtime (and a
//! pipeline that exports nothing over OTLP starts none).

use std::io::{self, Read as _, Write as _};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::metrics::{InstrumentKind, ManualReader, Pipeline, Temporality};

use super::text::{Format, render};
use super::{exemplar, overflow};

/// How long a scraper may take to send its request or read the answer.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// A request head larger than this is refused.
const MAX_HEAD: usize = 16 * 1024;

/// The reader the meter provider holds; its shutdown ends the server.
#[derive(Debug, Clone)]
pub(crate) struct PrometheusReader {
    reader: Arc<ManualReader>,
    server: Arc<Server>,
}

#[derive(Debug)]
struct Server {
    addr: SocketAddr,
    stop: AtomicBool,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl PrometheusReader {
    /// Listens on `host:port` and serves collections of this reader.
    pub(crate) fn start(host: &str, port: u16) -> io::Result<Self> {
        let listener = TcpListener::bind((host, port))?;
        let addr = listener.local_addr()?;
        let reader = Arc::new(ManualReader::builder().build());
        let server = Arc::new(Server {
            addr,
            stop: AtomicBool::new(false),
            thread: Mutex::new(None),
        });
        let weak_reader = Arc::downgrade(&reader);
        let weak_server = Arc::downgrade(&server);
        let thread = std::thread::Builder::new()
            .name("semtel-prometheus".into())
            .spawn(move || serve(&listener, &weak_reader, &weak_server))?;
        *lock(&server.thread) = Some(thread);
        Ok(Self { reader, server })
    }

    /// The address it listens on.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// Stops serving (the session's shutdown begins: the meter provider's
    /// may come late or not at all when its deadline passes first).
    pub(crate) fn stop(&self) {
        self.server.shut_down();
    }
}

impl Server {
    fn shut_down(&self) {
        if self.stop.swap(true, Ordering::AcqRel) {
            return;
        }
        // Wakes `accept`; the thread then sees `stop`.
        let ip = match self.addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        let woke = TcpStream::connect_timeout(&SocketAddr::new(ip, self.addr.port()), IO_TIMEOUT);
        let thread = lock(&self.thread).take();
        if let (Ok(_), Some(thread)) = (woke, thread)
            && thread.thread().id() != std::thread::current().id()
        {
            let _ = thread.join();
        }
    }
}

fn serve(listener: &TcpListener, reader: &Weak<ManualReader>, server: &Weak<Server>) {
    // What the SDK might log while collecting is not exported again.
    let _suppressed = opentelemetry::Context::enter_telemetry_suppressed_scope();
    for stream in listener.incoming() {
        let stopped = server
            .upgrade()
            .is_none_or(|s| s.stop.load(Ordering::Acquire));
        if stopped {
            return;
        }
        let Ok(stream) = stream else { continue };
        let Some(reader) = reader.upgrade() else {
            return;
        };
        let _ = answer(stream, &reader);
    }
}

/// Reads one request and answers it; the connection then closes.
fn answer(mut stream: TcpStream, reader: &ManualReader) -> io::Result<()> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf)?;
        if n == 0 || head.len() + n > MAX_HEAD {
            return respond(
                &mut stream,
                "400 Bad Request",
                "text/plain",
                "bad request\n",
            );
        }
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head);
    let mut lines = head.split("\r\n");
    let request = lines.next().unwrap_or_default();
    let mut parts = request.split(' ');
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("");
    if method != "GET" && method != "HEAD" {
        return respond(
            &mut stream,
            "405 Method Not Allowed",
            "text/plain",
            "GET /metrics\n",
        );
    }
    if path != "/metrics" && path != "/" {
        return respond(&mut stream, "404 Not Found", "text/plain", "GET /metrics\n");
    }
    let accept = lines.find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("accept")
            .then(|| value.trim())
    });
    let format = Format::from_accept(accept);
    let mut rm = ResourceMetrics::default();
    if let Err(e) = reader.collect(&mut rm) {
        let message = format!("cannot collect the metrics: {e}\n");
        return respond(
            &mut stream,
            "503 Service Unavailable",
            "text/plain",
            &message,
        );
    }
    overflow::warn(&rm);
    let body = render(&rm, &exemplar::snapshot(), format);
    let body = if method == "HEAD" { "" } else { body.as_str() };
    respond(&mut stream, "200 OK", format.content_type(), body)
}

fn respond(stream: &mut TcpStream, status: &str, content_type: &str, body: &str) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    stream.flush()
}

impl MetricReader for PrometheusReader {
    fn register_pipeline(&self, pipeline: Weak<Pipeline>) {
        self.reader.register_pipeline(pipeline);
    }

    fn collect(&self, rm: &mut ResourceMetrics) -> OTelSdkResult {
        self.reader.collect(rm)
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.server.shut_down();
        self.reader.shutdown_with_timeout(timeout)
    }

    /// Cumulative: Prometheus computes rates from running totals.
    fn temporality(&self, _kind: InstrumentKind) -> Temporality {
        Temporality::Cumulative
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
