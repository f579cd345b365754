//! A discarding OTLP/HTTP collector on loopback: reads each request whole and
//! answers `200 OK` with an empty body, over keep-alive connections.
//!
//! semtel exports only over OTLP (or to the console), so this is how its
//! exporters are made to discard: the protobuf encoding and the HTTP round
//! trip are real, the collector's work is not. The sink runs in the bench
//! process, so its CPU is part of the process's CPU; it measures its own
//! threads' CPU so that share can be reported and subtracted.
//!
//! The HTTP/1.1 loop here (a thread per connection, CPU counted per request)
//! is shared with the counting receiver of the export bench
//! ([`crate::receiver`]), which decodes what this sink discards.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;

use cpu_time::ThreadTime;

/// Connections a server accepts before its accept loop ends.
const MAX_CONNECTIONS: usize = 256;
/// Requests one connection may carry before the server closes it.
const MAX_REQUESTS_PER_CONNECTION: u64 = 100_000_000;

/// The empty `200 OK` both servers answer a good request with. An empty
/// protobuf body is a valid, default `Export*ServiceResponse`.
pub(crate) const OK_EMPTY: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";

/// What the sink has received.
#[derive(Debug, Default)]
pub struct SinkStats {
    /// Requests answered.
    pub requests: AtomicU64,
    /// Body bytes received.
    pub body_bytes: AtomicU64,
    /// CPU time of the sink's connection threads, in nanoseconds.
    pub cpu_ns: AtomicU64,
}

/// A running sink.
#[derive(Debug)]
pub struct Sink {
    addr: SocketAddr,
    stats: Arc<SinkStats>,
}

impl Sink {
    /// Starts a sink on an ephemeral loopback port.
    ///
    /// # Errors
    ///
    /// When the port cannot be bound or the accept thread cannot start.
    pub fn start() -> io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let addr = listener.local_addr()?;
        let stats = Arc::new(SinkStats::default());
        serve_http(listener, "otlp-sink", Arc::clone(&stats))?;
        Ok(Self { addr, stats })
    }

    /// The base URL, e.g. `http://127.0.0.1:40123`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What it has received so far.
    pub fn stats(&self) -> &SinkStats {
        &self.stats
    }
}

impl Respond for SinkStats {
    fn respond(&self, _head: &RequestHead, body: &[u8], writer: &mut TcpStream) -> io::Result<()> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.body_bytes
            .fetch_add(body.len() as u64, Ordering::Relaxed);
        writer.write_all(OK_EMPTY)
    }

    fn add_cpu_ns(&self, ns: u64) {
        self.cpu_ns.fetch_add(ns, Ordering::Relaxed);
    }
}

/// What an HTTP/1.1 server on [`serve_http`] does with each request.
pub(crate) trait Respond: Send + Sync + 'static {
    /// Answers one request whose body has been read whole.
    fn respond(&self, head: &RequestHead, body: &[u8], writer: &mut TcpStream) -> io::Result<()>;
    /// Adds CPU time spent by a connection thread.
    fn add_cpu_ns(&self, ns: u64);
}

/// Serves HTTP/1.1 on `listener`: an accept thread named `name`, then a
/// thread per keep-alive connection that reads each request whole, passes it
/// to `server` and adds the thread's CPU time to it after every request.
pub(crate) fn serve_http<R: Respond>(
    listener: TcpListener,
    name: &str,
    server: Arc<R>,
) -> io::Result<()> {
    let conn_name = format!("{name}-conn");
    thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            for stream in listener.incoming().take(MAX_CONNECTIONS).flatten() {
                let server = Arc::clone(&server);
                let _ = thread::Builder::new()
                    .name(conn_name.clone())
                    .spawn(move || serve(stream, &*server));
            }
        })?;
    Ok(())
}

fn serve(stream: TcpStream, server: &impl Respond) {
    let _ = stream.set_nodelay(true);
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut head = RequestHead::default();
    let mut body = Vec::new();
    let mut line = String::new();
    let mut last = ThreadTime::now();
    for _ in 0..MAX_REQUESTS_PER_CONNECTION {
        let done = read_request(&mut reader, &mut line, &mut head, &mut body)
            .and_then(|()| server.respond(&head, &body, &mut writer));
        let now = ThreadTime::now();
        let spent = now.duration_since(last);
        last = now;
        server.add_cpu_ns(u64::try_from(spent.as_nanos()).unwrap_or(u64::MAX));
        if done.is_err() {
            return;
        }
    }
}

/// The parts of an HTTP/1.1 request head that the loopback servers use.
#[derive(Debug, Default)]
pub(crate) struct RequestHead {
    /// The request line, e.g. `POST /v1/traces HTTP/1.1`.
    pub request_line: String,
    /// Whether the request had a `Content-Length`; without one (a chunked
    /// body) the body is read as empty.
    pub has_length: bool,
}

/// Reads one request's head into `head` (`line` is scratch) and its body into
/// `body`; `Err` when the connection is over.
fn read_request(
    reader: &mut BufReader<TcpStream>,
    line: &mut String,
    head: &mut RequestHead,
    body: &mut Vec<u8>,
) -> io::Result<()> {
    let mut content_length = 0u64;
    let mut first = true;
    head.request_line.clear();
    head.has_length = false;
    // Request line and headers: bounded by the header count a client sends.
    for _ in 0..256 {
        line.clear();
        if reader.read_line(line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let header = line.trim_end();
        if header.is_empty() {
            if first {
                continue; // tolerate a stray CRLF between requests
            }
            break;
        }
        if first {
            head.request_line.push_str(header);
            first = false;
        } else if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            content_length = value.trim().parse().unwrap_or(0);
            head.has_length = true;
        }
    }
    body.clear();
    reader.by_ref().take(content_length).read_to_end(body)?;
    Ok(())
}
